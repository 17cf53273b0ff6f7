using System.Net;
using System.Text.Json;
using KneeWeb.Tests.Resources;
using KneeWeb.Tests.TestData;
using Xunit;

namespace KneeWeb.Tests.Web;

/// <summary>A real server process facing memory bombs, and the folders a crash leaves behind.</summary>
[Trait("Category", "process")]
public sealed class ResourceLimitServerTests : IDisposable
{
    private readonly TempFolder data = new("kneeweb-limits");
    private readonly TempFolder inputs = new("kneeweb-inputs");

    public void Dispose()
    {
        data.Dispose();
        inputs.Dispose();
    }

    private static Dictionary<string, string> RepoModels()
    {
        string? models = KneeWeb.Inference.ModelRegistry.FindDefaultFolder();
        Assert.True(models is not null, "models/ not found above the test folder");
        return new Dictionary<string, string> { ["KneeWeb__ModelsPath"] = models, ["KneeWeb__DefaultModel"] = "phantom-knee" };
    }

    [Fact]
    public async Task A_gzip_bomb_upload_is_refused_with_IMAGE_TOO_LARGE_and_the_server_memory_stays_bounded()
    {
        // 1024 x 1024 x 960 uint8 in a megabyte or so: under the voxel cap, a complete and valid file.
        string bomb = HostileFiles.WriteNiftiGz(inputs.File("bomb.nii.gz"), 1024, 1024, 960);
        await using ServerProcess server = await ServerProcess.StartAsync(data.Path, RepoModels());
        using HttpClient client = server.CreateClient();
        using (HttpResponseMessage warm = await ApiClient.PostJobAsync(client, TestVolumes.WriteRamp(inputs.Path), new { model = "phantom-knee" }))
        {
            Assert.Equal(HttpStatusCode.Accepted, warm.StatusCode);
        }

        long baseline = HostileFiles.PeakRssBytes(server.Pid);
        for (int attempt = 0; attempt < 3; attempt++)
        {
            using HttpResponseMessage response = await ApiClient.PostJobAsync(client, bomb, new { model = "phantom-knee" });
            string body = await response.Content.ReadAsStringAsync();
            Assert.True(response.StatusCode == HttpStatusCode.RequestEntityTooLarge, $"{(int)response.StatusCode}: {body}");
            using JsonDocument problem = JsonDocument.Parse(body);
            Assert.Equal("IMAGE_TOO_LARGE", problem.RootElement.GetProperty("code").GetString());
            Assert.Contains("GB", problem.RootElement.GetProperty("detail").GetString(), StringComparison.Ordinal);
            Assert.False(string.IsNullOrWhiteSpace(problem.RootElement.GetProperty("hint").GetString()));
            Assert.DoesNotContain(data.Path, body, StringComparison.Ordinal);
        }

        long peak = HostileFiles.PeakRssBytes(server.Pid);
        Assert.False(server.HasExited);
        Assert.True(peak - baseline < 1_500_000_000, $"Peak RSS grew from {baseline / 1e6:0} MB to {peak / 1e6:0} MB.");
        using JsonDocument jobs = JsonDocument.Parse(await client.GetStringAsync("/v1/jobs"));
        Assert.Equal(1, CountJobs(jobs.RootElement));
        Assert.Single(Directory.GetDirectories(Path.Combine(data.Path, "uploads")));
    }

    [Fact]
    public async Task A_job_running_each_time_the_server_was_killed_is_failed_with_its_reason_and_never_retried()
    {
        // Each step of the job waits ten minutes: once it is seen Running it is still running when the kill
        // lands, however loaded the machine is (the kill, not the clock, ends each run).
        var slow = new Dictionary<string, string> { ["KneeWeb__Jobs__DiagnosticStepDelay"] = "00:10:00", ["KneeWeb__Jobs__MaxAttempts"] = "2" };
        Guid id;
        await using (ServerProcess first = await ServerProcess.StartAsync(data.Path, slow))
        {
            using HttpClient client = first.CreateClient();
            id = await ApiClient.SubmitAsync(client, TestVolumes.WriteRamp(inputs.Path));
            await ApiClient.WaitForStatusAsync(client, id, "Running");
            await first.KillHardAsync();
        }

        await using (ServerProcess second = await ServerProcess.StartAsync(data.Path, slow))
        {
            using HttpClient client = second.CreateClient();
            JsonElement running = await ApiClient.WaitForStatusAsync(client, id, "Running");
            Assert.Equal(2, running.GetProperty("attempt").GetInt32());
            await second.KillHardAsync();
        }

        await using ServerProcess third = await ServerProcess.StartAsync(data.Path);
        using HttpClient client3 = third.CreateClient();
        JsonElement job = await ApiClient.GetJobAsync(client3, id);
        Assert.True(job.GetProperty("status").GetString() == "Failed", $"{job}\n{await client3.GetStringAsync($"/v1/jobs/{id}/events")}");
        Assert.Equal(2, job.GetProperty("attempt").GetInt32());
        Assert.Contains("the server stopped twice while running this job", job.GetProperty("error").GetProperty("message").GetString(), StringComparison.Ordinal);
        string events = await client3.GetStringAsync($"/v1/jobs/{id}/events");
        Assert.Contains("not retried again", events, StringComparison.Ordinal);

        // A later job runs to its end, and the failed one is still failed after it: it was never queued again.
        Guid next = await ApiClient.SubmitAsync(client3, TestVolumes.WriteRamp(inputs.Path, "second.nii.gz"));
        Assert.Equal("Completed", (await ApiClient.WaitForEndAsync(client3, next, TimeSpan.FromSeconds(120))).GetProperty("status").GetString());
        JsonElement after = await ApiClient.GetJobAsync(client3, id);
        Assert.Equal("Failed", after.GetProperty("status").GetString());
        Assert.Equal(2, after.GetProperty("attempt").GetInt32());
    }

    [Fact]
    public async Task Upload_folders_a_killed_upload_left_behind_are_swept_at_start_up_and_real_ones_kept()
    {
        Guid kept;
        await using (ServerProcess first = await ServerProcess.StartAsync(data.Path))
        {
            using HttpClient client = first.CreateClient();
            kept = await ApiClient.SubmitAsync(client, TestVolumes.WriteRamp(inputs.Path));
            await ApiClient.WaitForEndAsync(client, kept);
            await first.KillHardAsync();
        }

        string uploads = Path.Combine(data.Path, "uploads");
        string orphan = Path.Combine(uploads, Guid.NewGuid().ToString("D"));
        Directory.CreateDirectory(orphan);
        await File.WriteAllBytesAsync(Path.Combine(orphan, "input.nii.gz"), new byte[123_456]);
        string stray = Path.Combine(uploads, "not-a-job");
        Directory.CreateDirectory(stray);

        await using ServerProcess second = await ServerProcess.StartAsync(data.Path);
        Assert.False(Directory.Exists(orphan));
        Assert.False(Directory.Exists(stray));
        Assert.True(Directory.Exists(Path.Combine(uploads, kept.ToString("D"))));
        using HttpClient client2 = second.CreateClient();
        Assert.Equal("Completed", (await ApiClient.GetJobAsync(client2, kept)).GetProperty("status").GetString());
    }

    private static int CountJobs(JsonElement root) => root.ValueKind == JsonValueKind.Array
        ? root.GetArrayLength()
        : root.GetProperty(root.TryGetProperty("items", out _) ? "items" : "jobs").GetArrayLength();
}
