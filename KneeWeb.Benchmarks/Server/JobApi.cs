using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;

namespace KneeWeb.Benchmarks.Server;

/// <summary>The job API calls the benchmark verbs share: upload, read a job, wait for its end.</summary>
internal static class JobApi
{
    /// <summary>Uploads <paramref name="path"/> with the options JSON; a refusal throws with the server's answer.</summary>
    public static async Task<Guid> UploadAsync(HttpClient api, string path, string optionsJson)
    {
        using var content = new MultipartFormDataContent();
        var file = new StreamContent(File.OpenRead(path));
        file.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        content.Add(file, "file", Path.GetFileName(path));
        content.Add(new StringContent(optionsJson, Encoding.UTF8, "application/json"), "options");
        using HttpResponseMessage response = await api.PostAsync("/v1/jobs", content);
        return await CreatedIdAsync(response, "Upload");
    }

    /// <summary>The id of the job a 201 created; any other answer throws with its body.</summary>
    public static async Task<Guid> CreatedIdAsync(HttpResponseMessage response, string what)
    {
        ArgumentNullException.ThrowIfNull(response);
        string body = await response.Content.ReadAsStringAsync();
        if (!response.IsSuccessStatusCode)
        {
            throw new InvalidOperationException($"{what} refused: {(int)response.StatusCode} {body}");
        }

        using JsonDocument doc = JsonDocument.Parse(body);
        return doc.RootElement.GetProperty("id").GetGuid();
    }

    public static async Task<JsonElement> GetAsync(HttpClient api, Guid id) =>
        await api.GetFromJsonAsync<JsonElement>($"/v1/jobs/{id}");

    public static async Task<string> StatusAsync(HttpClient api, Guid id) =>
        (await GetAsync(api, id)).GetProperty("status").GetString()!;

    /// <summary>Polls every <paramref name="poll"/> until the job has ended; returns the job as the API last showed it.</summary>
    public static async Task<JsonElement> WaitForEndAsync(HttpClient api, Guid id, TimeSpan poll)
    {
        while (true)
        {
            JsonElement job = await GetAsync(api, id);
            if (job.GetProperty("status").GetString() is not ("Queued" or "Running"))
            {
                return job;
            }

            await Task.Delay(poll);
        }
    }
}
