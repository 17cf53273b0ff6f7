using Xunit;
using System.Net;
using System.Security.Cryptography;
using System.Text.Json;
using KneeWeb.Tests.TestData;

namespace KneeWeb.Tests.Web;

/// <summary>The /v1 API against the real host (TestServer) with a real SQLite file and job folders.</summary>
[Trait("Category", "host")]
public sealed class ApiTests : IDisposable
{
    private readonly KneeWebFactory factory = new();
    private readonly TempFolder inputs = new("kneeweb-inputs");

    public void Dispose()
    {
        factory.Dispose();
        inputs.Dispose();
    }

    [Fact]
    public async Task Health_and_server_info_answer()
    {
        HttpClient client = factory.CreateClient();
        Assert.Equal("{\"status\":\"ok\"}", await client.GetStringAsync("/v1/healthz"));
        using JsonDocument info = JsonDocument.Parse(await client.GetStringAsync("/v1/server/info"));
        Assert.Equal("KneeWeb", info.RootElement.GetProperty("name").GetString());
        Assert.Equal(0, info.RootElement.GetProperty("queue_length").GetInt32());
        Assert.True(info.RootElement.GetProperty("free_disk_bytes").GetInt64() > 0);
        Assert.Equal(JsonValueKind.Array, info.RootElement.GetProperty("models").ValueKind);
    }

    [Fact]
    public async Task A_nifti_job_completes_and_its_stats_json_holds_geometry_statistics_and_timings()
    {
        HttpClient client = factory.CreateClient();
        string path = TestVolumes.WriteRamp(inputs.Path);
        Guid id = await ApiClient.SubmitAsync(client, path, new { subject_id = "S-001", knee_side = "left", nsm = "bone" });

        JsonElement job = await ApiClient.WaitForEndAsync(client, id);
        Assert.Equal("Completed", job.GetProperty("status").GetString());
        Assert.Equal(100, job.GetProperty("percent").GetDouble());
        Assert.Equal("S-001", job.GetProperty("subject_id").GetString());
        Assert.Equal("left", job.GetProperty("knee_side").GetString());
        Assert.Equal("Nifti1", job.GetProperty("detected_format").GetString());
        Assert.Equal(JsonValueKind.Null, job.GetProperty("error").ValueKind);

        using JsonDocument artifacts = JsonDocument.Parse(await client.GetStringAsync($"/v1/jobs/{id}/artifacts"));
        var names = artifacts.RootElement.EnumerateArray().Select(a => a.GetProperty("name").GetString()).ToList();
        Assert.Contains("stats.json", names);
        Assert.Contains("results.zip", names);

        JsonElement statsArtifact = artifacts.RootElement.EnumerateArray().First(a => a.GetProperty("name").GetString() == "stats.json");
        byte[] statsBytes = await client.GetByteArrayAsync($"/v1/jobs/{id}/artifacts/stats.json");
        Assert.Equal(statsArtifact.GetProperty("sha256").GetString(), Convert.ToHexStringLower(SHA256.HashData(statsBytes)));
        Assert.Equal(statsArtifact.GetProperty("size_bytes").GetInt64(), statsBytes.Length);

        using JsonDocument stats = JsonDocument.Parse(statsBytes);
        JsonElement input = stats.RootElement.GetProperty("input");
        Assert.Equal([24, 20, 12], input.GetProperty("dims").EnumerateArray().Select(e => e.GetInt32()));
        Assert.Equal([0.5, 0.5, 1.5], input.GetProperty("spacing_mm").EnumerateArray().Select(e => e.GetDouble()));
        double[][] affine = [.. input.GetProperty("affine_ras").EnumerateArray().Select(r => r.EnumerateArray().Select(e => e.GetDouble()).ToArray())];
        Assert.Equal([0.5, 0, 0, -10], affine[0]);
        Assert.Equal([0, 0.5, 0, 20], affine[1]);
        Assert.Equal([0, 0, 1.5, -30], affine[2]);
        Assert.Equal([0, 0, 0, 1], affine[3]);

        (double min, double max, double mean) = TestVolumes.RampStats();
        JsonElement imageStats = stats.RootElement.GetProperty("image_stats");
        Assert.Equal(min, imageStats.GetProperty("min").GetDouble());
        Assert.Equal(max, imageStats.GetProperty("max").GetDouble());
        Assert.Equal(mean, imageStats.GetProperty("mean").GetDouble(), 6);

        JsonElement timings = stats.RootElement.GetProperty("timings_s");
        Assert.True(timings.GetProperty("Preprocessing image").GetDouble() > 0);
        JsonElement[] steps = [.. stats.RootElement.GetProperty("steps").EnumerateArray()];
        JsonElement segmentation = steps.First(s => s.GetProperty("name").GetString() == "Running segmentation");
        Assert.Equal("skipped", segmentation.GetProperty("state").GetString());
        Assert.False(string.IsNullOrWhiteSpace(segmentation.GetProperty("reason").GetString()));
        Assert.Equal("bone", stats.RootElement.GetProperty("options").GetProperty("nsm").GetString());

        using JsonDocument events = JsonDocument.Parse(await client.GetStringAsync($"/v1/jobs/{id}/events"));
        var kinds = events.RootElement.EnumerateArray().Select(e => e.GetProperty("kind").GetString()).ToList();
        Assert.Contains("step-finished", kinds);
        Assert.Contains("step-skipped", kinds);
        Assert.All(events.RootElement.EnumerateArray(), e => Assert.EndsWith("Z", e.GetProperty("timestamp_utc").GetString(), StringComparison.Ordinal));

        // The job folder is complete and no temporary folder is left beside it.
        string jobsRoot = Path.Combine(factory.DataRoot, "jobs");
        Assert.True(File.Exists(Path.Combine(jobsRoot, id.ToString(), "stats.json")));
        Assert.Empty(Directory.GetDirectories(jobsRoot, "*.tmp-*"));
    }

    [Fact]
    public async Task A_text_file_named_nii_gz_is_refused_as_INVALID_FORMAT_and_leaves_nothing_behind()
    {
        HttpClient client = factory.CreateClient();
        string path = inputs.File("notes.nii.gz");
        await File.WriteAllTextAsync(path, "This is a text file, not an image.\n");
        using HttpResponseMessage response = await ApiClient.PostJobAsync(client, path);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        using JsonDocument problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal("INVALID_FORMAT", problem.RootElement.GetProperty("code").GetString());
        Assert.Contains("notes.nii.gz", problem.RootElement.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.False(string.IsNullOrWhiteSpace(problem.RootElement.GetProperty("hint").GetString()));
        Assert.Empty(Directory.GetFileSystemEntries(Path.Combine(factory.DataRoot, "uploads")));
        Assert.Equal("[]", await client.GetStringAsync("/v1/jobs"));
    }

    [Fact]
    public async Task A_corrupt_nifti_fails_the_job_with_INVALID_FORMAT_message_and_hint()
    {
        HttpClient client = factory.CreateClient();
        string path = TestVolumes.WriteRamp(inputs.Path);
        byte[] bytes = await File.ReadAllBytesAsync(path);
        await File.WriteAllBytesAsync(path, bytes[..(bytes.Length / 3)]);
        Guid id = await ApiClient.SubmitAsync(client, path);
        JsonElement job = await ApiClient.WaitForEndAsync(client, id);
        Assert.Equal("Failed", job.GetProperty("status").GetString());
        JsonElement error = job.GetProperty("error");
        Assert.Equal("INVALID_FORMAT", error.GetProperty("code").GetString());
        Assert.False(string.IsNullOrWhiteSpace(error.GetProperty("message").GetString()));
        Assert.False(string.IsNullOrWhiteSpace(error.GetProperty("hint").GetString()));
        Assert.Empty(Directory.GetDirectories(Path.Combine(factory.DataRoot, "jobs")));
    }

    [Fact]
    public async Task Bad_options_and_missing_file_are_refused_with_catalog_codes()
    {
        HttpClient client = factory.CreateClient();
        string path = TestVolumes.WriteRamp(inputs.Path);

        using HttpResponseMessage badJson = await ApiClient.PostJobAsync(client, path, "{not json");
        Assert.Equal(HttpStatusCode.BadRequest, badJson.StatusCode);
        Assert.Contains("\"code\":\"CONFIG_ERROR\"", await badJson.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        using HttpResponseMessage badValue = await ApiClient.PostJobAsync(client, path, new { nsm = "everything", device = "tpu" });
        string body = await badValue.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.BadRequest, badValue.StatusCode);
        Assert.Contains("CONFIG_ERROR", body, StringComparison.Ordinal);
        Assert.Contains("nsm must be one of", body, StringComparison.Ordinal);
        Assert.Contains("device must be one of", body, StringComparison.Ordinal);

        using var noFile = new MultipartFormDataContent { { new StringContent("{}"), "options" } };
        using HttpResponseMessage missing = await client.PostAsync("/v1/jobs", noFile);
        Assert.Equal(HttpStatusCode.BadRequest, missing.StatusCode);
        Assert.Contains("FILE_NOT_FOUND", await missing.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        using HttpResponseMessage notMultipart = await client.PostAsync("/v1/jobs", new StringContent("x"));
        Assert.Equal(HttpStatusCode.BadRequest, notMultipart.StatusCode);
        Assert.Equal("[]", await client.GetStringAsync("/v1/jobs"));
    }

    [Fact]
    public async Task A_truncated_multipart_body_is_refused_and_leaves_nothing_behind()
    {
        HttpClient client = factory.CreateClient();
        const string Boundary = "kneeweb-boundary";
        string body = $"--{Boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"cut.nii.gz\"\r\nContent-Type: application/octet-stream\r\n\r\n" + new string('x', 5000);
        using var content = new StringContent(body);
        content.Headers.ContentType = System.Net.Http.Headers.MediaTypeHeaderValue.Parse($"multipart/form-data; boundary={Boundary}");
        using HttpResponseMessage response = await client.PostAsync("/v1/jobs", content);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        string problem = await response.Content.ReadAsStringAsync();
        Assert.Contains("\"code\":\"INVALID_FORMAT\"", problem, StringComparison.Ordinal);
        Assert.Contains("ended before it was complete", problem, StringComparison.Ordinal);
        Assert.Empty(Directory.GetFileSystemEntries(Path.Combine(factory.DataRoot, "uploads")));
    }

    [Fact]
    public async Task An_upload_over_the_limit_is_refused_while_streaming()
    {
        using var small = new KneeWebFactory(new Dictionary<string, string?> { ["KneeWeb:MaxUploadBytes"] = "4096" });
        HttpClient client = small.CreateClient();
        string path = inputs.File("big.nii");
        VolumeIoWriteRaw(path, 20_000);
        using HttpResponseMessage response = await ApiClient.PostJobAsync(client, path);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        string body = await response.Content.ReadAsStringAsync();
        Assert.Contains("INVALID_FORMAT", body, StringComparison.Ordinal);
        Assert.Contains("upload limit", body, StringComparison.Ordinal);
        Assert.Empty(Directory.GetFileSystemEntries(Path.Combine(small.DataRoot, "uploads")));
    }

    [Fact]
    public async Task Unknown_jobs_and_escaping_artifact_names_are_not_found()
    {
        HttpClient client = factory.CreateClient();
        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync($"/v1/jobs/{Guid.NewGuid()}")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await client.DeleteAsync($"/v1/jobs/{Guid.NewGuid()}")).StatusCode);

        Guid id = await ApiClient.SubmitAsync(client, TestVolumes.WriteRamp(inputs.Path));
        await ApiClient.WaitForEndAsync(client, id);
        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync($"/v1/jobs/{id}/artifacts/..%2F..%2Fkneeweb.db")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync($"/v1/jobs/{id}/artifacts/nothing.txt")).StatusCode);
    }

    [Fact]
    public async Task Deleting_a_finished_job_removes_its_row_upload_and_files()
    {
        HttpClient client = factory.CreateClient();
        Guid id = await ApiClient.SubmitAsync(client, TestVolumes.WriteRamp(inputs.Path));
        await ApiClient.WaitForEndAsync(client, id);
        Assert.True(Directory.Exists(Path.Combine(factory.DataRoot, "jobs", id.ToString())));

        Assert.Equal(HttpStatusCode.NoContent, (await client.DeleteAsync($"/v1/jobs/{id}")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync($"/v1/jobs/{id}")).StatusCode);
        Assert.False(Directory.Exists(Path.Combine(factory.DataRoot, "jobs", id.ToString())));
        Assert.False(Directory.Exists(Path.Combine(factory.DataRoot, "uploads", id.ToString())));
    }

    [Fact]
    public async Task Twenty_jobs_finish_in_submission_order_with_concurrency_one()
    {
        HttpClient client = factory.CreateClient();
        string path = TestVolumes.WriteRamp(inputs.Path);
        var ids = new List<Guid>();
        for (int n = 0; n < 20; n++)
        {
            ids.Add(await ApiClient.SubmitAsync(client, path, new { subject_id = $"S{n:00}" }));
        }

        var ends = new List<(DateTime Started, DateTime Finished)>();
        foreach (Guid id in ids)
        {
            JsonElement job = await ApiClient.WaitForEndAsync(client, id);
            Assert.Equal("Completed", job.GetProperty("status").GetString());
            ends.Add((job.GetProperty("started_utc").GetDateTime(), job.GetProperty("finished_utc").GetDateTime()));
        }

        // How long the queue takes is a figure for `KneeWeb.Benchmarks -- latency`, not a test.
        for (int n = 1; n < ends.Count; n++)
        {
            // Concurrency 1: each job starts after the one before it finished.
            Assert.True(ends[n].Started >= ends[n - 1].Finished, $"Job {n} started at {ends[n].Started:O}, before job {n - 1} finished at {ends[n - 1].Finished:O}.");
        }
    }

    [Fact]
    public async Task OpenApi_document_describes_the_job_endpoints()
    {
        HttpClient client = factory.CreateClient();
        string doc = await client.GetStringAsync("/openapi/v1.json");
        Assert.Contains("/v1/jobs/{id}", doc, StringComparison.Ordinal);
        Assert.Contains("/v1/server/info", doc, StringComparison.Ordinal);
    }

    private static void VolumeIoWriteRaw(string path, int bytes)
    {
        byte[] data = new byte[bytes];
        // A NIfTI-1 magic so only the size, not the content, decides.
        BitConverter.GetBytes(348).CopyTo(data, 0);
        "n+1\0"u8.ToArray().CopyTo(data, 344);
        File.WriteAllBytes(path, data);
    }
}
