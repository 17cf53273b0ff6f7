using System.Text.Json;
using System.Text.Json.Nodes;
using KneeWeb.Imaging;
using KneeWeb.Imaging.Io;
using KneeWeb.Jobs;
using KneeWeb.Jobs.Slurm;
using KneeWeb.Setup;
using KneeWeb.Tests.Inference;
using KneeWeb.Tests.TestData;
using KneeWeb.Tests.Web;
using Microsoft.Data.Sqlite;
using Xunit;

namespace KneeWeb.Tests.Jobs.Slurm;

/// <summary>
/// The Slurm executor against a real single-node cluster and the real KneeWeb binary: sites are
/// separate processes (so one can be killed with -9), jobs run `KneeWeb process` under slurmd.
/// </summary>
[Trait("Category", "process")]
public sealed class SlurmExecutorTests : IClassFixture<SlurmTestCluster>, IDisposable
{
    private readonly SlurmTestCluster cluster;
    private readonly TempFolder work = new("kneeweb-slurm-site");

    public SlurmExecutorTests(SlurmTestCluster cluster)
    {
        this.cluster = cluster;
    }

    public void Dispose() => work.Dispose();

    [Fact]
    public async Task Ten_jobs_through_Slurm_give_the_same_results_as_in_process_runs()
    {
        string[] inputs = [WriteKnee("a.nii.gz", new Vec3d(0.5, 0.5, 1.0), seed: 3), WriteKnee("b.nii.gz", new Vec3d(0.6, 0.55, 1.2), seed: 11)];

        string inProcessData = DataRoot("inprocess");
        var inProcess = new Dictionary<string, Guid>();
        await using (ServerProcess site = await ServerProcess.StartAsync(inProcessData, new Dictionary<string, string> { ["KneeWeb__DefaultModel"] = "demo-knee" }))
        {
            using HttpClient client = site.CreateClient();
            foreach (string input in inputs)
            {
                inProcess[input] = await ApiClient.SubmitAsync(client, input, new { subject_id = "S-1", device = "cpu" });
            }

            foreach (Guid id in inProcess.Values)
            {
                Assert.Equal("Completed", (await ApiClient.WaitForEndAsync(client, id, TimeSpan.FromMinutes(3))).GetProperty("status").GetString());
            }
        }

        string slurmData = DataRoot("slurm");
        await using ServerProcess slurmSite = await ServerProcess.StartAsync(slurmData, cluster.SiteSettings(slurmData));
        using HttpClient slurmClient = slurmSite.CreateClient();
        var submitted = new List<(Guid Id, string Input)>();
        for (int i = 0; i < 10; i++)
        {
            string input = inputs[i % inputs.Length];
            submitted.Add((await ApiClient.SubmitAsync(slurmClient, input, new { subject_id = "S-1", device = "cpu" }), input));
        }

        foreach ((Guid id, string input) in submitted)
        {
            JsonElement job = await ApiClient.WaitForEndAsync(slurmClient, id, TimeSpan.FromMinutes(5));
            Assert.True(job.GetProperty("status").GetString() == "Completed", $"Job {id}: {job}\n{slurmSite.Log}");
            Assert.Equal(1, job.GetProperty("attempt").GetInt32());

            long slurmId = ReadSlurmJobId(slurmData, id);
            Assert.Equal([(slurmId, "COMPLETED")], cluster.JobsNamed($"kneeweb-{id:D}"));
            string events = await slurmClient.GetStringAsync($"/v1/jobs/{id}/events");
            Assert.Contains($"Submitted to Slurm as job {slurmId}", events, StringComparison.Ordinal);
            // The progress the job wrote reached the site's timeline, step by step.
            Assert.Contains("Running segmentation finished", events, StringComparison.Ordinal);

            string expected = JobFolder(inProcessData, inProcess[input]);
            string actual = JobFolder(slurmData, id);
            Assert.Equal(NormalizedStats(expected), NormalizedStats(actual));
            Assert.Equal(Labels(expected), Labels(actual));
            Assert.Equal(
                Directory.GetFiles(expected, "*", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(expected, f)).Order(StringComparer.Ordinal),
                Directory.GetFiles(actual, "*", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(actual, f)).Order(StringComparer.Ordinal));
        }

        // Registering a job writes its cohort metrics row with its completion: the cohort lists all ten, each with a verdict.
        using (JsonDocument cohort = JsonDocument.Parse(await slurmClient.GetStringAsync("/v1/cohort?subject=S-1")))
        {
            Assert.Equal(submitted.Select(s => s.Id.ToString("D")).Order(StringComparer.Ordinal), cohort.RootElement.EnumerateArray().Select(r => r.GetProperty("job_id").GetString()!).Order(StringComparer.Ordinal));
            Assert.All(cohort.RootElement.EnumerateArray(), r => Assert.False(string.IsNullOrEmpty(r.GetProperty("qc_verdict").GetString())));
        }

        // Registered and tidied: no job folder is left on the shared root.
        Assert.Empty(Directory.GetDirectories(Path.Combine(slurmData, "shared")));
    }

    [Fact]
    public async Task A_job_that_fails_on_the_cluster_ends_with_its_own_catalog_error()
    {
        string data = DataRoot("fail");
        await using ServerProcess site = await ServerProcess.StartAsync(data, cluster.SiteSettings(data));
        using HttpClient client = site.CreateClient();
        // A 3-D image, and the options ask for its sixth frame: the run fails in preprocessing.
        Guid id = await ApiClient.SubmitAsync(client, WriteKnee("knee.nii.gz", new Vec3d(0.5, 0.5, 1.0), seed: 5), new { frame = 5, device = "cpu" });

        JsonElement job = await ApiClient.WaitForEndAsync(client, id, TimeSpan.FromMinutes(3));
        Assert.Equal("Failed", job.GetProperty("status").GetString());
        JsonElement error = job.GetProperty("error");
        Assert.Equal("CONFIG_ERROR", error.GetProperty("code").GetString());
        Assert.Contains("Frame 5 was asked for", error.GetProperty("message").GetString(), StringComparison.Ordinal);
        Assert.Equal([(ReadSlurmJobId(data, id), "FAILED")], cluster.JobsNamed($"kneeweb-{id:D}"));
        Assert.Contains("exit code 1:0", ReadErrorDetails(data, id), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Cancel_while_waiting_for_the_cluster_and_while_running_ends_cancelled_in_Slurm_too()
    {
        string data = DataRoot("cancel");
        Dictionary<string, string> settings = cluster.SiteSettings(data);
        // Each job takes every CPU of the node, so the second waits for the first; each step pauses 2 s.
        settings["KneeWeb__Jobs__Slurm__Cpus"] = Environment.ProcessorCount.ToString(System.Globalization.CultureInfo.InvariantCulture);
        settings["KneeWeb__Jobs__DiagnosticStepDelay"] = "00:00:02";
        await using ServerProcess site = await ServerProcess.StartAsync(data, settings);
        using HttpClient client = site.CreateClient();
        string input = WriteKnee("knee.nii.gz", new Vec3d(0.5, 0.5, 1.0), seed: 5);
        Guid running = await ApiClient.SubmitAsync(client, input, new { device = "cpu" });
        await ApiClient.WaitForStatusAsync(client, running, "Running", TimeSpan.FromMinutes(2));
        Guid waiting = await ApiClient.SubmitAsync(client, input, new { device = "cpu" });
        await WaitForEventAsync(client, waiting, "Waiting for the cluster (");

        using (HttpResponseMessage response = await client.DeleteAsync($"/v1/jobs/{waiting}"))
        {
            Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());
        }

        JsonElement cancelledWaiting = await ApiClient.WaitForEndAsync(client, waiting, TimeSpan.FromMinutes(1));
        Assert.Equal("Cancelled", cancelledWaiting.GetProperty("status").GetString());
        await WaitForSlurmStateAsync($"kneeweb-{waiting:D}", "CANCELLED");

        using (HttpResponseMessage response = await client.DeleteAsync($"/v1/jobs/{running}"))
        {
            Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());
        }

        JsonElement cancelledRunning = await ApiClient.WaitForEndAsync(client, running, TimeSpan.FromMinutes(1));
        Assert.Equal("Cancelled", cancelledRunning.GetProperty("status").GetString());
        Assert.Equal("CANCELLED", cancelledRunning.GetProperty("error").GetProperty("code").GetString());
        await WaitForSlurmStateAsync($"kneeweb-{running:D}", "CANCELLED");
        Assert.False(Directory.Exists(Path.Combine(data, "jobs", running.ToString("D"))));
    }

    [Fact]
    public async Task Kill_9_the_site_while_a_Slurm_job_runs_then_restart_re_attaches_without_resubmitting()
    {
        string data = DataRoot("crash");
        Dictionary<string, string> settings = cluster.SiteSettings(data);
        settings["KneeWeb__Jobs__DiagnosticStepDelay"] = "00:00:01.500";
        Guid id;
        long slurmId;
        await using (ServerProcess first = await ServerProcess.StartAsync(data, settings))
        {
            using HttpClient client = first.CreateClient();
            id = await ApiClient.SubmitAsync(client, WriteKnee("knee.nii.gz", new Vec3d(0.5, 0.5, 1.0), seed: 5), new { device = "cpu" });
            await ApiClient.WaitForStatusAsync(client, id, "Running", TimeSpan.FromMinutes(2));
            slurmId = ReadSlurmJobId(data, id);
            await first.KillHardAsync();
        }

        Assert.Equal([(slurmId, "RUNNING")], cluster.JobsNamed($"kneeweb-{id:D}"));
        await using ServerProcess second = await ServerProcess.StartAsync(data, settings);
        using HttpClient client2 = second.CreateClient();
        JsonElement job = await ApiClient.WaitForEndAsync(client2, id, TimeSpan.FromMinutes(3));
        Assert.True(job.GetProperty("status").GetString() == "Completed", $"{job}\n{second.Log}");
        Assert.Equal(1, job.GetProperty("attempt").GetInt32());
        Assert.Equal(slurmId, ReadSlurmJobId(data, id));
        Assert.Equal([(slurmId, "COMPLETED")], cluster.JobsNamed($"kneeweb-{id:D}"));
        Assert.True(File.Exists(Path.Combine(JobFolder(data, id), "stats.json")));
    }

    [Fact]
    public async Task Stopping_slurmd_mid_job_requeues_it_with_the_reason_never_stuck_running_and_it_completes_when_the_node_returns()
    {
        string data = DataRoot("node");
        Dictionary<string, string> settings = cluster.SiteSettings(data);
        settings["KneeWeb__Jobs__DiagnosticStepDelay"] = "00:00:01.500";
        await using ServerProcess site = await ServerProcess.StartAsync(data, settings);
        using HttpClient client = site.CreateClient();
        Guid id = await ApiClient.SubmitAsync(client, WriteKnee("knee.nii.gz", new Vec3d(0.5, 0.5, 1.0), seed: 5), new { device = "cpu" });
        await ApiClient.WaitForStatusAsync(client, id, "Running", TimeSpan.FromMinutes(2));
        await WaitForEventAsync(client, id, "Preprocessing image");
        long slurmId = ReadSlurmJobId(data, id);

        cluster.CrashNode(slurmId, id);
        try
        {
            JsonElement requeued = await ApiClient.WaitForStatusAsync(client, id, "Queued", TimeSpan.FromMinutes(1));
            Assert.Equal(1, requeued.GetProperty("attempt").GetInt32());
            await WaitForEventAsync(client, id, "Requeued by Slurm: the run stopped on its node");
        }
        finally
        {
            await cluster.RestoreNodeAsync();
        }

        // Slurm holds the requeued job (BeginTime) for the credential lifetime (slurm-cluster.sh:
        // cred_expire) while the controller ends the lost run on the returning node. The test must not
        // release it early (scontrol update StartTime=now): the new run has the same job id, so the
        // controller's late terminate for the lost run then kills it (CANCELLED, or "exit code 0"
        // within a second in slurmd's log: "Purging vestigial job script"). Slurm's own hold is the fix.
        JsonElement job = await ApiClient.WaitForEndAsync(client, id, TimeSpan.FromMinutes(5));
        Assert.True(job.GetProperty("status").GetString() == "Completed", $"{job}\n{site.Log}");
        Assert.Equal(2, job.GetProperty("attempt").GetInt32());
        Assert.Equal([(slurmId, "COMPLETED")], cluster.JobsNamed($"kneeweb-{id:D}"));
        Assert.True(File.Exists(Path.Combine(JobFolder(data, id), "stats.json")));
        string events = await client.GetStringAsync($"/v1/jobs/{id}/events");
        Assert.Contains("Waiting for the cluster (BeginTime)", events, StringComparison.Ordinal);
        Assert.Contains($"Running on the cluster (Slurm job {slurmId}, attempt 2)", events, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_managed_out_of_memory_inside_a_Slurm_job_ends_with_the_memory_error_naming_the_job_s_memory()
    {
        string folder = work.File("oom");
        Directory.CreateDirectory(folder);
        string input = await OutOfMemoryProcessTests.HalfSizePhantomAsync(Path.Combine(folder, "phantom"));
        string errorFile = Path.Combine(folder, "error.json");
        string name = $"kneeweb-oom-{Guid.NewGuid():N}";
        // The job gets 2000 MB from Slurm, but .NET's heap is capped at 64 MB: .NET throws its own
        // OutOfMemoryException long before the cgroup would end the job.
        string command = "exec " + string.Join(' ', new[] { ServerProcess.LocateBinary() }.Concat(OutOfMemoryProcessTests.ProcessArguments(input, Path.Combine(folder, "out"), errorFile)).Select(SlurmJobFolder.Quote));
        cluster.Run("sbatch", "--wait", "--job-name", name, "--mem=2000", "--cpus-per-task=1", "--time=10", "--chdir", folder,
            "--output", Path.Combine(folder, "slurm-%j.log"), $"--export=ALL,DOTNET_GCHeapHardLimit={OutOfMemoryProcessTests.HeapLimit}", "--wrap", command);

        IReadOnlyList<(long Id, string State)> jobs = cluster.JobsNamed(name);
        Assert.True(jobs.Count == 1 && jobs[0].State == "FAILED", string.Join(", ", jobs) + "\n" + string.Join("\n", Directory.GetFiles(folder, "slurm-*.log").Select(File.ReadAllText)));
        JobError error = JobErrorFile.TryRead(errorFile) ?? throw new Xunit.Sdk.XunitException("The job wrote no error file.");
        JobError slurmOom = SlurmStates.ErrorFor(new SlurmJobStatus(jobs[0].Id, SlurmState.OutOfMemory, "OutOfMemory"), null, null, new SlurmModelResources { MemoryMb = 2000 });
        Assert.Equal("The job ran out of memory on the cluster: it used more than its 2000 MB.", error.Message);
        Assert.Equal(slurmOom.Hint, error.Hint);
        Assert.Contains("OutOfMemoryException", error.Details, StringComparison.Ordinal);
        // The executor takes the job's own error for a FAILED job: the site shows these words.
        Assert.Equal(error.Message, SlurmStates.ErrorFor(new SlurmJobStatus(jobs[0].Id, SlurmState.Failed, "NonZeroExitCode"), error, new SlurmExitCode(1, 0), new SlurmModelResources()).Message);
    }

    [Fact]
    public async Task A_job_past_its_Slurm_time_limit_ends_with_TIMEOUT()
    {
        string data = DataRoot("timeout");
        Dictionary<string, string> settings = cluster.SiteSettings(data);
        // One minute is Slurm's smallest limit; ten steps of 20 s take well past it.
        settings["KneeWeb__Jobs__Slurm__TimeLimit"] = "00:01:00";
        settings["KneeWeb__Jobs__DiagnosticStepDelay"] = "00:00:20";
        await using ServerProcess site = await ServerProcess.StartAsync(data, settings);
        using HttpClient client = site.CreateClient();
        Guid id = await ApiClient.SubmitAsync(client, WriteKnee("knee.nii.gz", new Vec3d(0.5, 0.5, 1.0), seed: 5), new { device = "cpu" });

        JsonElement job = await ApiClient.WaitForEndAsync(client, id, TimeSpan.FromMinutes(4));
        Assert.Equal("Failed", job.GetProperty("status").GetString());
        Assert.Equal("TIMEOUT", job.GetProperty("error").GetProperty("code").GetString());
        Assert.Contains("Slurm time limit of 1 minutes", job.GetProperty("error").GetProperty("message").GetString(), StringComparison.Ordinal);
        Assert.Equal([(ReadSlurmJobId(data, id), "TIMEOUT")], cluster.JobsNamed($"kneeweb-{id:D}"));
    }

    [Fact]
    public async Task A_job_over_its_Slurm_memory_ends_with_the_memory_error_and_its_hint()
    {
        string data = DataRoot("memory");
        Dictionary<string, string> settings = cluster.SiteSettings(data);
        // A limit below what the runtime itself needs to start, so the cgroup, not .NET, ends the job
        // (the framework-dependent .NET 10 runtime starts within 32 MB).
        settings["KneeWeb__Jobs__Slurm__MemoryMb"] = "12";
        await using ServerProcess site = await ServerProcess.StartAsync(data, settings);
        using HttpClient client = site.CreateClient();
        Guid id = await ApiClient.SubmitAsync(client, WriteKnee("knee.nii.gz", new Vec3d(0.5, 0.5, 1.0), seed: 5), new { device = "cpu" });

        JsonElement job = await ApiClient.WaitForEndAsync(client, id, TimeSpan.FromMinutes(3));
        Assert.True(job.GetProperty("status").GetString() == "Failed", job.ToString());
        JsonElement error = job.GetProperty("error");
        Assert.Contains("ran out of memory on the cluster", error.GetProperty("message").GetString(), StringComparison.Ordinal);
        Assert.Contains("12 MB", error.GetProperty("message").GetString(), StringComparison.Ordinal);
        Assert.Contains("raise the job's memory", error.GetProperty("hint").GetString(), StringComparison.Ordinal);
        Assert.Equal([(ReadSlurmJobId(data, id), "OUT_OF_MEMORY")], cluster.JobsNamed($"kneeweb-{id:D}"));
    }

    [Fact]
    public async Task Server_info_reports_the_Slurm_executor_and_the_cluster()
    {
        string data = DataRoot("info");
        await using ServerProcess site = await ServerProcess.StartAsync(data, cluster.SiteSettings(data));
        using HttpClient client = site.CreateClient();
        using JsonDocument info = JsonDocument.Parse(await client.GetStringAsync("/v1/server/info"));
        JsonElement executor = info.RootElement.GetProperty("executor");
        Assert.Equal("slurm", executor.GetProperty("executor").GetString());
        Assert.True(executor.GetProperty("cluster_reachable").GetBoolean(), executor.ToString());
        Assert.Contains("debug", executor.GetProperty("cluster").GetString(), StringComparison.Ordinal);
        Assert.Equal(0, executor.GetProperty("queue_length").GetInt32());
    }

    private string DataRoot(string name)
    {
        string root = work.File(name);
        string models = Path.Combine(root, "models");
        Directory.CreateDirectory(models);
        foreach (string file in Directory.GetFiles(Path.Combine(SlurmTestCluster.RepoRoot(), "models"), "demo-knee.*"))
        {
            File.Copy(file, Path.Combine(models, Path.GetFileName(file)));
        }

        return root;
    }

    private string WriteKnee(string name, Vec3d spacingMm, int seed)
    {
        string path = work.File(name);
        if (!File.Exists(path))
        {
            (Volume image, _) = SyntheticKnee.Create(spacingMm, sizeMm: 40, seed: seed);
            VolumeIo.Write(image, path);
        }

        return path;
    }

    private async Task WaitForSlurmStateAsync(string name, string state)
    {
        DateTime until = DateTime.UtcNow + TimeSpan.FromMinutes(1);
        while (true)
        {
            IReadOnlyList<(long Id, string State)> jobs = cluster.JobsNamed(name);
            if (jobs.Count == 1 && jobs[0].State == state)
            {
                return;
            }

            Assert.True(DateTime.UtcNow < until, $"Slurm job {name} is {string.Join(", ", jobs)}, not {state}.");
            await Task.Delay(200);
        }
    }

    private static async Task WaitForEventAsync(HttpClient client, Guid id, string text)
    {
        DateTime until = DateTime.UtcNow + TimeSpan.FromMinutes(1);
        while (true)
        {
            string events = await client.GetStringAsync($"/v1/jobs/{id}/events");
            if (events.Contains(text, StringComparison.Ordinal))
            {
                return;
            }

            Assert.True(DateTime.UtcNow < until, $"Job {id} never had an event with '{text}': {events}");
            await Task.Delay(200);
        }
    }

    private static string JobFolder(string dataRoot, Guid id) => Path.Combine(dataRoot, "jobs", id.ToString("D"));

    /// <summary>stats.json without what differs between any two runs: ids, clock times, durations.</summary>
    private static string NormalizedStats(string folder)
    {
        JsonNode stats = JsonNode.Parse(File.ReadAllText(Path.Combine(folder, "stats.json")))!;
        Strip(stats);
        return stats.ToJsonString();

        static void Strip(JsonNode? node)
        {
            if (node is JsonObject obj)
            {
                foreach (string key in obj.Select(p => p.Key).ToList())
                {
                    if (key is "job_id" or "timings_s" or "duration_s" || key.EndsWith("_utc", StringComparison.Ordinal))
                    {
                        obj.Remove(key);
                    }
                    else
                    {
                        Strip(obj[key]);
                    }
                }
            }
            else if (node is JsonArray array)
            {
                foreach (JsonNode? item in array)
                {
                    Strip(item);
                }
            }
        }
    }

    private static byte[] Labels(string folder) => VolumeIo.Read(Path.Combine(folder, "segmentation.nii.gz")).Span<byte>().ToArray();

    private static long ReadSlurmJobId(string dataRoot, Guid id) =>
        (long)(Scalar(dataRoot, "SELECT SlurmJobId FROM Jobs WHERE Id = $id;", id) ?? throw new InvalidOperationException($"Job {id} has no Slurm job id."));

    private static string ReadErrorDetails(string dataRoot, Guid id) => Scalar(dataRoot, "SELECT ErrorDetails FROM Jobs WHERE Id = $id;", id) as string ?? "";

    private static object? Scalar(string dataRoot, string sql, Guid id)
    {
        using var connection = new SqliteConnection($"Data Source={Path.Combine(dataRoot, "kneeweb.db")};Pooling=False");
        connection.Open();
        using SqliteCommand command = connection.CreateCommand();
        command.CommandText = sql;
        command.Parameters.AddWithValue("$id", id.ToString().ToUpperInvariant());
        object? value = command.ExecuteScalar();
        return value is DBNull ? null : value;
    }
}
