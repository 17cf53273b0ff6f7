using Xunit;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

namespace KneeWeb.Tests.Web;

/// <summary>Small helpers over HttpClient for the /v1 API, as a script would use it.</summary>
public static class ApiClient
{
    /// <summary>How long a wait may last before it counts as a hang (not a speed bound).</summary>
    public static readonly TimeSpan HangLimit = TimeSpan.FromMinutes(10);

    public static async Task<HttpResponseMessage> PostJobAsync(HttpClient client, string path, object? options = null, string? fileName = null, string? group = null)
    {
        ArgumentNullException.ThrowIfNull(client);
        using var content = new MultipartFormDataContent();
        var file = new StreamContent(File.OpenRead(path));
        file.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        content.Add(file, "file", fileName ?? Path.GetFileName(path));
        if (options is not null)
        {
            content.Add(new StringContent(options as string ?? JsonSerializer.Serialize(options), Encoding.UTF8, "application/json"), "options");
        }

        return await client.PostAsync(group is null ? "/v1/jobs" : "/v1/jobs?group=" + Uri.EscapeDataString(group), content);
    }

    public static async Task<Guid> SubmitAsync(HttpClient client, string path, object? options = null)
    {
        using HttpResponseMessage response = await PostJobAsync(client, path, options);
        string body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.Accepted, $"POST /v1/jobs answered {(int)response.StatusCode}: {body}");
        using JsonDocument doc = JsonDocument.Parse(body);
        return doc.RootElement.GetProperty("id").GetGuid();
    }

    public static async Task<JsonElement> GetJobAsync(HttpClient client, Guid id)
    {
        ArgumentNullException.ThrowIfNull(client);
        string body = await client.GetStringAsync($"/v1/jobs/{id}");
        return JsonDocument.Parse(body).RootElement.Clone();
    }

    /// <summary>
    /// Polls until the job leaves Queued/Running; fails the test past the limit. The limits only catch a
    /// hang (10 minutes unless given): on a loaded machine a job may take many times its quiet duration.
    /// </summary>
    public static async Task<JsonElement> WaitForEndAsync(HttpClient client, Guid id, TimeSpan? limit = null)
    {
        DateTime until = DateTime.UtcNow + (limit ?? HangLimit);
        while (true)
        {
            JsonElement job = await GetJobAsync(client, id);
            string status = job.GetProperty("status").GetString()!;
            if (status is not ("Queued" or "Running"))
            {
                return job;
            }

            Assert.True(DateTime.UtcNow < until, $"Job {id} still {status} after {limit ?? HangLimit}.");
            await Task.Delay(50);
        }
    }

    public static async Task<JsonElement> WaitForStatusAsync(HttpClient client, Guid id, string wanted, TimeSpan? limit = null)
    {
        DateTime until = DateTime.UtcNow + (limit ?? HangLimit);
        while (true)
        {
            JsonElement job = await GetJobAsync(client, id);
            if (job.GetProperty("status").GetString() == wanted)
            {
                return job;
            }

            Assert.True(DateTime.UtcNow < until, $"Job {id} never reached {wanted}; it is {job.GetProperty("status").GetString()}.");
            await Task.Delay(20);
        }
    }
}
