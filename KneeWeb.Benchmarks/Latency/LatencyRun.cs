using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using KneeWeb.Benchmarks.Server;
using KneeWeb.Imaging;
using KneeWeb.Imaging.Io;
using Microsoft.AspNetCore.Http.Connections;
using Microsoft.AspNetCore.SignalR.Client;

namespace KneeWeb.Benchmarks.Latency;

/// <summary>
/// `latency`: the speed figures the tests used to print or bound, measured on a real server process
/// (the tests now check only that the same things happen, waiting on events):
/// the hub's step-change lag (was a 0.5 s bound in JobControlTests), how long a cancel of a running job
/// takes (JobControlTests), how long a queue of jobs takes end to end (ApiTests' 20 jobs in order), and
/// the /jobs page's latency while hub watchers follow simultaneous uploads (LoadTests), with the
/// server's peak RSS from /proc. Figures only: it fails only when something did not happen at all.
///
///     dotnet run -c Release --project KneeWeb.Benchmarks -- latency [--jobs 20] [--watchers 50] [--uploads 10]
/// </summary>
public static class LatencyRun
{
    private const string Options = "{\"model\":\"demo-knee\",\"thickness\":false}";

    public static async Task<int> RunAsync(string[] args)
    {
        int queued = Figures.Option(args, "--jobs", 20), watchers = Figures.Option(args, "--watchers", 50), uploads = Figures.Option(args, "--uploads", 10);
        string work = Path.Combine(Path.GetTempPath(), "kneeweb-latency-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(work);
        try
        {
            Console.WriteLine($"latency: load average before: {BenchServer.LoadAverage()} ({Environment.ProcessorCount} cores)");
            string small = Path.Combine(work, "small.nii.gz");
            VolumeIo.Write(Ramp(24, 20, 12), small);
            string load = Path.Combine(work, "load.nii");
            VolumeIo.Write(Ramp(192, 192, 64), load);
            var limitsOff = new Dictionary<string, string>
            {
                ["KneeWeb__Limits__MaxQueuedJobsPerUser"] = "0",
                ["KneeWeb__Limits__UploadsPerHour"] = "0",
                ["KneeWeb__Limits__UploadBytesPerHour"] = "0",
            };

            // Steps that pause 200 ms each: long enough to see every step change and to cancel mid-run.
            await using (BenchServer slow = await BenchServer.StartAsync(Path.Combine(work, "slow"), new Dictionary<string, string>(limitsOff) { ["KneeWeb__Jobs__DiagnosticStepDelay"] = "00:00:00.200" }))
            {
                await HubLagAsync(slow, small);
                await CancelAsync(slow, small);
            }

            await using (BenchServer server = await BenchServer.StartAsync(Path.Combine(work, "plain"), new Dictionary<string, string>(limitsOff) { ["KneeWeb__Samples__PhantomCoarsening"] = "2" }))
            {
                await SampleJobAsync(server);
                await QueueAsync(server, small, queued);
                await PageUnderLoadAsync(server, load, watchers, uploads);
            }

            Console.WriteLine($"latency: load average after: {BenchServer.LoadAverage()}");
            return 0;
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
    }

    /// <summary>Time from a step's start (the server's timestamp) to its arrival at a hub client, per step change.</summary>
    private static async Task HubLagAsync(BenchServer server, string input)
    {
        using HttpClient api = server.CreateClient();
        await using HubConnection hub = await ConnectAsync(server, HttpTransportType.WebSockets);
        var lags = new ConcurrentQueue<double>();
        var finished = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        int lastStep = -1;
        Guid id = Guid.Empty;
        void OnEvent(string target, JsonElement update)
        {
            if (!update.TryGetProperty("job_id", out JsonElement job) || job.GetGuid() != id)
            {
                return;
            }

            int step = update.GetProperty("step_index").GetInt32();
            if (step != lastStep)
            {
                lastStep = step;
                lags.Enqueue((DateTime.UtcNow - update.GetProperty("timestamp_utc").GetDateTime().ToUniversalTime()).TotalMilliseconds);
            }

            if (target == "completed")
            {
                finished.TrySetResult();
            }
        }

        hub.On<JsonElement>("progress", u => OnEvent("progress", u));
        hub.On<JsonElement>("completed", u => OnEvent("completed", u));
        await hub.InvokeAsync("JoinAll");
        id = await JobApi.UploadAsync(api, input, Options);
        await finished.Task.WaitAsync(TimeSpan.FromMinutes(10));
        Console.WriteLine(Figures.Line("hub step-change lag (WebSockets, server timestamp to client)", lags, "step changes"));
    }

    /// <summary>From DELETE of a running job to its status reading Cancelled.</summary>
    private static async Task CancelAsync(BenchServer server, string input)
    {
        using HttpClient api = server.CreateClient();
        var times = new List<double>();
        for (int n = 0; n < 5; n++)
        {
            Guid id = await JobApi.UploadAsync(api, input, Options);
            while (await JobApi.StatusAsync(api, id) != "Running")
            {
                await Task.Delay(20);
            }

            var clock = Stopwatch.StartNew();
            using (HttpResponseMessage cancel = await api.DeleteAsync($"/v1/jobs/{id}"))
            {
                cancel.EnsureSuccessStatusCode();
            }

            string status;
            while ((status = await JobApi.StatusAsync(api, id)) is "Queued" or "Running")
            {
                await Task.Delay(10);
            }

            times.Add(clock.Elapsed.TotalMilliseconds);
            if (status != "Cancelled")
            {
                Console.WriteLine($"  cancel {n}: the job ended {status}, not Cancelled");
            }
        }

        Console.WriteLine(Figures.Line("cancel of a running job (DELETE to status Cancelled)", times, "cancels"));
    }

    /// <summary>The half-size phantom sample with phantom-knee-small: the job's own step timings from stats.json.</summary>
    private static async Task SampleJobAsync(BenchServer server)
    {
        using HttpClient api = server.CreateClient();
        using var body = new StringContent("{\"model\":\"phantom-knee-small\",\"thickness\":true,\"nsm\":\"bone\"}", System.Text.Encoding.UTF8, "application/json");
        using HttpResponseMessage response = await api.PostAsync("/v1/samples/phantom/jobs", body);
        string text = await response.Content.ReadAsStringAsync();
        if (!response.IsSuccessStatusCode)
        {
            throw new InvalidOperationException($"Sample job refused: {(int)response.StatusCode} {text}");
        }

        Guid id;
        using (JsonDocument created = JsonDocument.Parse(text))
        {
            id = created.RootElement.GetProperty("id").GetGuid();
        }

        var clock = Stopwatch.StartNew();
        string status = await EndStatusAsync(api, id);
        double wall = clock.Elapsed.TotalSeconds;
        if (status != "Completed")
        {
            Console.WriteLine($"sample job: ended {status}");
            return;
        }

        using JsonDocument stats = JsonDocument.Parse(await api.GetStringAsync($"/v1/jobs/{id}/artifacts/stats.json"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"sample job (phantom at half size, phantom-knee-small, thickness, bone shape model): {wall:0.0} s from submit to Completed"));
        if (stats.RootElement.TryGetProperty("timings_s", out JsonElement steps))
        {
            Console.WriteLine("  steps: " + Seconds(steps));
        }

        if (stats.RootElement.TryGetProperty("segmentation", out JsonElement segmentation) && segmentation.TryGetProperty("timings_s", out JsonElement inside))
        {
            Console.WriteLine("  segmentation: " + Seconds(inside));
        }
    }

    /// <summary>A timings_s object of stats.json on one line: "name 1.23 s, ...".</summary>
    private static string Seconds(JsonElement timings) =>
        string.Join(", ", timings.EnumerateObject()
            .Where(p => p.Value.ValueKind == JsonValueKind.Number)
            .Select(p => string.Create(CultureInfo.InvariantCulture, $"{p.Name} {p.Value.GetDouble():0.00} s")));

    /// <summary>N small jobs submitted at once, run one at a time, all completed.</summary>
    private static async Task QueueAsync(BenchServer server, string input, int count)
    {
        using HttpClient api = server.CreateClient();
        var clock = Stopwatch.StartNew();
        var ids = new List<Guid>();
        for (int n = 0; n < count; n++)
        {
            ids.Add(await JobApi.UploadAsync(api, input, Options));
        }

        int completed = 0;
        foreach (Guid id in ids)
        {
            completed += await EndStatusAsync(api, id) == "Completed" ? 1 : 0;
        }

        double seconds = clock.Elapsed.TotalSeconds;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"queue: {count} jobs (24x20x12, demo-knee) submitted and run: {completed} completed in {seconds:0.0} s, {seconds / count * 1000:0} ms a job"));
    }

    /// <summary>/jobs page latency while hub watchers (half WebSockets, half long polling) follow simultaneous uploads.</summary>
    private static async Task PageUnderLoadAsync(BenchServer server, string input, int watcherCount, int uploadCount)
    {
        var hubs = new List<HubConnection>();
        var completedSeen = new ConcurrentDictionary<(int Watcher, Guid Job), bool>();
        for (int n = 0; n < watcherCount; n++)
        {
            HubConnection hub = await ConnectAsync(server, n % 2 == 0 ? HttpTransportType.WebSockets : HttpTransportType.LongPolling);
            int watcher = n;
            hub.On<JsonElement>("completed", u => completedSeen[(watcher, u.GetProperty("job_id").GetGuid())] = true);
            await hub.InvokeAsync("JoinAll");
            hubs.Add(hub);
        }

        using HttpClient api = server.CreateClient();
        var latencies = new ConcurrentQueue<double>();
        using var probing = new CancellationTokenSource();
        Task probe = Task.Run(async () =>
        {
            using HttpClient page = server.CreateClient();
            while (!probing.IsCancellationRequested)
            {
                var watch = Stopwatch.StartNew();
                using HttpResponseMessage r = await page.GetAsync("/jobs", CancellationToken.None);
                _ = await r.Content.ReadAsByteArrayAsync(CancellationToken.None);
                latencies.Enqueue(watch.Elapsed.TotalMilliseconds);
                await Task.Delay(100, CancellationToken.None);
            }
        });
        long peak = 0;
        Task sampler = Task.Run(async () =>
        {
            while (!probing.IsCancellationRequested)
            {
                peak = Math.Max(peak, server.StatusBytes("VmRSS:"));
                await Task.Delay(100, CancellationToken.None);
            }
        });

        var clock = Stopwatch.StartNew();
        Guid[] ids = await Task.WhenAll(Enumerable.Range(0, uploadCount).Select(_ => JobApi.UploadAsync(api, input, Options)));
        int completed = 0;
        foreach (Guid id in ids)
        {
            completed += await EndStatusAsync(api, id) == "Completed" ? 1 : 0;
        }

        double allDone = clock.Elapsed.TotalSeconds;
        await probing.CancelAsync();
        await Task.WhenAll(probe, sampler);
        // The last completed event may still be on its way to a long-polling watcher.
        await Task.Delay(2000);
        foreach (HubConnection hub in hubs)
        {
            await hub.DisposeAsync();
        }

        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"load: {watcherCount} hub watchers, {uploadCount} simultaneous uploads of {new FileInfo(input).Length / 1e6:0.0} MB: {completed} completed in {allDone:0.0} s; watchers saw {completedSeen.Count} of {watcherCount * uploadCount} completions; server peak RSS {Math.Max(peak, server.StatusBytes("VmHWM:")) / 1e6:0} MB"));
        Console.WriteLine(Figures.Line("/jobs page during that load", latencies));
    }

    private static async Task<HubConnection> ConnectAsync(BenchServer server, HttpTransportType transport)
    {
        HubConnection hub = new HubConnectionBuilder()
            .WithUrl(new Uri(server.BaseAddress, "hubs/jobs"), transport, options => options.AccessTokenProvider = () => Task.FromResult<string?>(BenchServer.Token))
            .Build();
        await hub.StartAsync();
        return hub;
    }

    /// <summary>How the job ended; polled often, since some figures here are times to a job's end.</summary>
    private static async Task<string> EndStatusAsync(HttpClient api, Guid id) =>
        (await JobApi.WaitForEndAsync(api, id, TimeSpan.FromMilliseconds(50))).GetProperty("status").GetString()!;

    private static Volume Ramp(int ni, int nj, int nk)
    {
        var dims = new Dims3(ni, nj, nk);
        var voxels = new short[dims.VoxelCount];
        for (int k = 0; k < nk; k++)
        {
            for (int j = 0; j < nj; j++)
            {
                for (int i = 0; i < ni; i++)
                {
                    voxels[dims.Index(i, j, k)] = (short)((i * 7) + (j * 3) + k);
                }
            }
        }

        return new Volume(new VolumeGeometry(dims, AffineRas.FromSpacing(new Vec3d(0.5, 0.5, 1.0), default)), VoxelType.Int16, voxels);
    }
}
