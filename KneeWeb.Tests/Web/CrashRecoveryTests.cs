using System.Text.Json;
using KneeWeb.Tests.TestData;
using Microsoft.Data.Sqlite;
using Xunit;

namespace KneeWeb.Tests.Web;

/// <summary>A real server process killed with -9 or stopped with SIGTERM in the middle of a job.</summary>
[Trait("Category", "process")]
public sealed class CrashRecoveryTests : IDisposable
{
    private static readonly Dictionary<string, string> Slow = new()
    {
        // Long enough that a job cannot finish between "Running" being seen and the planned kill, however
        // busy the machine (the kill follows within milliseconds of the status read).
        ["KneeWeb__Jobs__DiagnosticStepDelay"] = "00:00:05",
        ["KneeWeb__Jobs__MaxAttempts"] = "2",
    };

    private static readonly Dictionary<string, string> Quick = new()
    {
        ["KneeWeb__Jobs__DiagnosticStepDelay"] = "00:00:00.050",
        ["KneeWeb__Jobs__MaxAttempts"] = "2",
    };

    private readonly TempFolder data = new("kneeweb-crash");
    private readonly TempFolder inputs = new("kneeweb-inputs");

    public void Dispose()
    {
        data.Dispose();
        inputs.Dispose();
    }

    [Fact]
    public async Task Kill_9_during_a_job_then_restart_retries_it_to_completion_with_the_database_intact()
    {
        Guid id = await SubmitAndInterruptAsync(server => server.KillHardAsync());

        Assert.Equal("ok", IntegrityCheck());
        await using ServerProcess second = await ServerProcess.StartAsync(data.Path, Quick);
        using HttpClient client2 = second.CreateClient();
        JsonElement job = await ApiClient.WaitForEndAsync(client2, id);
        Assert.Equal("Completed", job.GetProperty("status").GetString());
        Assert.Equal(2, job.GetProperty("attempt").GetInt32());
        string events = await client2.GetStringAsync($"/v1/jobs/{id}/events");
        Assert.Contains("interrupted by a restart", events, StringComparison.Ordinal);
        AssertNoHalfWrittenFolders();
        Assert.True(File.Exists(Path.Combine(data.Path, "jobs", id.ToString(), "stats.json")));
        Assert.Equal("ok", IntegrityCheck());
    }

    [Fact]
    public async Task A_job_interrupted_on_its_last_attempt_fails_with_the_reason()
    {
        Guid id = await SubmitAndInterruptAsync(server => server.KillHardAsync());

        await using (ServerProcess second = await ServerProcess.StartAsync(data.Path, Slow))
        {
            using HttpClient client = second.CreateClient();
            JsonElement running = await ApiClient.WaitForStatusAsync(client, id, "Running");
            Assert.Equal(2, running.GetProperty("attempt").GetInt32());
            await second.KillHardAsync();
        }

        await using ServerProcess third = await ServerProcess.StartAsync(data.Path, Quick);
        using HttpClient client3 = third.CreateClient();
        JsonElement job = await ApiClient.WaitForEndAsync(client3, id);
        Assert.Equal("Failed", job.GetProperty("status").GetString());
        Assert.Equal("PIPELINE_ERROR", job.GetProperty("error").GetProperty("code").GetString());
        Assert.Contains("interrupted by a restart", job.GetProperty("error").GetProperty("message").GetString(), StringComparison.Ordinal);
        AssertNoHalfWrittenFolders();
        Assert.Equal("ok", IntegrityCheck());
    }

    [Fact]
    public async Task Sigterm_during_a_job_stops_gracefully_and_the_job_resumes_at_the_next_start()
    {
        Guid id = await SubmitAndInterruptAsync(server => server.TerminateAsync(TimeSpan.FromMinutes(5)));

        Assert.Equal("ok", IntegrityCheck());
        Assert.Equal("Queued", ReadStatus(id));
        await using ServerProcess second = await ServerProcess.StartAsync(data.Path, Quick);
        using HttpClient client2 = second.CreateClient();
        JsonElement job = await ApiClient.WaitForEndAsync(client2, id);
        Assert.Equal("Completed", job.GetProperty("status").GetString());
        AssertNoHalfWrittenFolders();
    }

    /// <summary>Starts a slow server, submits a job, and stops the server the given way while the job runs.</summary>
    private async Task<Guid> SubmitAndInterruptAsync(Func<ServerProcess, Task> stop)
    {
        await using ServerProcess server = await ServerProcess.StartAsync(data.Path, Slow);
        using HttpClient client = server.CreateClient();
        Guid id = await ApiClient.SubmitAsync(client, TestVolumes.WriteRamp(inputs.Path));
        await ApiClient.WaitForStatusAsync(client, id, "Running");
        await stop(server);
        return id;
    }

    private void AssertNoHalfWrittenFolders()
    {
        string jobs = Path.Combine(data.Path, "jobs");
        Assert.Empty(Directory.GetDirectories(jobs, "*.tmp-*"));
        foreach (string folder in Directory.GetDirectories(jobs))
        {
            Assert.True(File.Exists(Path.Combine(folder, "stats.json")) && File.Exists(Path.Combine(folder, "results.zip")), $"Incomplete job folder {folder}.");
        }
    }

    private string IntegrityCheck()
    {
        using var connection = new SqliteConnection($"Data Source={Path.Combine(data.Path, "kneeweb.db")};Pooling=False");
        connection.Open();
        using SqliteCommand command = connection.CreateCommand();
        command.CommandText = "PRAGMA integrity_check;";
        return (string)command.ExecuteScalar()!;
    }

    private string ReadStatus(Guid id)
    {
        using var connection = new SqliteConnection($"Data Source={Path.Combine(data.Path, "kneeweb.db")};Pooling=False");
        connection.Open();
        using SqliteCommand command = connection.CreateCommand();
        command.CommandText = "SELECT Status FROM Jobs WHERE Id = $id;";
        command.Parameters.AddWithValue("$id", id.ToString().ToUpperInvariant());
        return command.ExecuteScalar() as string ?? "(missing)";
    }
}
