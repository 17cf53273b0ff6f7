using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.IO.Compression;
using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using KneeWeb.Benchmarks.Server;
using KneeWeb.Imaging;
using KneeWeb.Imaging.Io;
using KneeWeb.Jobs;

namespace KneeWeb.Benchmarks.Soak;

/// <summary>
/// `soak`: a real KneeWeb server on loopback under API clients, uploaders and a memory-bomb upload
/// every few seconds. Reports latency percentiles, request counts, every answer that was not the
/// expected one grouped by kind (the bombs must be refused IMAGE_TOO_LARGE, nothing else may fail),
/// and the server's peak RSS (sampled from /proc of the server process) against its memory budget.
/// Exits 1 when the server died, went over its budget or gave any unexpected answer.
///
///     dotnet run -c Release --project KneeWeb.Benchmarks -- soak [--seconds 60] [--clients 30] [--uploaders 5] [--bomb-every 10]
/// </summary>
public static class SoakRun
{
    /// <summary>The job budget the soak's server runs with, so the server's own budget is known: one job plus the reserve.</summary>
    private const long JobBudgetBytes = 2L << 30;

    public static async Task<int> RunAsync(string[] args)
    {
        ArgumentNullException.ThrowIfNull(args);
        int seconds = Figures.Option(args, "--seconds", 60), clients = Figures.Option(args, "--clients", 30), uploaders = Figures.Option(args, "--uploaders", 5), bombEvery = Figures.Option(args, "--bomb-every", 10);
        string work = Path.Combine(Path.GetTempPath(), "kneeweb-soak-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(work);
        try
        {
            string scan = Path.Combine(work, "scan.nii.gz");
            VolumeIo.Write(Scan(), scan);
            string bomb = WriteBomb(Path.Combine(work, "bomb.nii.gz"));
            Console.WriteLine($"soak: {seconds} s, {clients} API clients, {uploaders} uploaders, a bomb ({new FileInfo(bomb).Length / 1e6:0.0} MB declaring 1024 x 1024 x 960 uint8) every {bombEvery} s");
            Console.WriteLine($"load average before: {BenchServer.LoadAverage()} ({Environment.ProcessorCount} cores)");

            // One worker, a 2 GiB job budget: the server may hold one job's budget plus its own reserve.
            // The per-user limits are off: the soak's one account uploads far more than a person would.
            await using BenchServer server = await BenchServer.StartAsync(Path.Combine(work, "data"), new Dictionary<string, string>
            {
                ["KneeWeb__DefaultModel"] = "phantom-knee",
                ["KneeWeb__Jobs__Concurrency"] = "1",
                ["KneeWeb__Jobs__MaxJobMemoryBytes"] = JobBudgetBytes.ToString(CultureInfo.InvariantCulture),
                ["KneeWeb__Limits__MaxQueuedJobsPerUser"] = "0",
                ["KneeWeb__Limits__UploadsPerHour"] = "0",
                ["KneeWeb__Limits__UploadBytesPerHour"] = "0",
            });
            long serverBudget = JobBudgetBytes + JobMemoryBudget.MinServerReserveBytes;
            using HttpClient http = server.CreateClient();
            long baselineRss = server.StatusBytes("VmRSS:");
            var tally = new Tally();
            using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(seconds));
            var peakRss = new Peak();
            var tasks = new List<Task> { SampleRssAsync(server, peakRss, stop.Token) };
            for (int i = 0; i < clients; i++)
            {
                tasks.Add(ApiClientAsync(http, tally, stop.Token));
            }

            for (int i = 0; i < uploaders; i++)
            {
                tasks.Add(UploaderAsync(http, scan, tally, stop.Token));
            }

            tasks.Add(BomberAsync(http, bomb, TimeSpan.FromSeconds(bombEvery), tally, stop.Token));
            await Task.WhenAll(tasks);
            string loadAfter = BenchServer.LoadAverage();
            bool alive = !server.HasExited;
            long peak = Math.Max(alive ? server.StatusBytes("VmHWM:") : -1, peakRss.Value);
            if (alive)
            {
                await CountJobsAsync(http, tally);
            }

            int serverErrors = server.Log.Split('\n').Count(l => l.StartsWith("fail:", StringComparison.Ordinal) || l.StartsWith("crit:", StringComparison.Ordinal));
            Report(tally, baselineRss, peak, serverBudget, alive, serverErrors);
            Console.WriteLine($"load average after: {loadAfter}");
            bool ok = alive && tally.Errors.IsEmpty && serverErrors == 0 && tally.BombsRefused == tally.BombMs.Count && tally.BombsRefused > 0 && peak <= serverBudget;
            Console.WriteLine(ok ? "soak: PASS" : "soak: FAIL");
            if (serverErrors > 0)
            {
                Console.WriteLine("server log (errors):");
                foreach (string line in server.Log.Split('\n').Where(l => l.StartsWith("fail:", StringComparison.Ordinal) || l.StartsWith("crit:", StringComparison.Ordinal)).Take(5))
                {
                    Console.WriteLine("  " + line);
                }
            }

            return ok ? 0 : 1;
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
    }

    private sealed class Tally
    {
        public ConcurrentBag<double> ApiMs { get; } = [];

        public ConcurrentBag<double> UploadMs { get; } = [];

        public ConcurrentBag<double> BombMs { get; } = [];

        /// <summary>Unexpected answers by kind ("upload: 429 RATE_LIMITED"), each with one example.</summary>
        public ConcurrentDictionary<string, (int Count, string Example)> ErrorKinds { get; } = new();

        public ConcurrentBag<string> Errors { get; } = [];

        public int BombsRefused;

        public void Error(string kind, string example)
        {
            Errors.Add(kind);
            ErrorKinds.AddOrUpdate(kind, _ => (1, example), (_, seen) => (seen.Count + 1, seen.Example));
        }
    }

    private sealed class Peak
    {
        public long Value;
    }

    private static async Task ApiClientAsync(HttpClient http, Tally tally, CancellationToken stop)
    {
        string[] paths = ["/v1/jobs?limit=20", "/v1/server/info", "/v1/healthz"];
        int n = 0;
        while (!stop.IsCancellationRequested)
        {
            string path = paths[n++ % paths.Length];
            var clock = Stopwatch.StartNew();
            try
            {
                using HttpResponseMessage response = await http.GetAsync(path, CancellationToken.None);
                string body = await response.Content.ReadAsStringAsync(CancellationToken.None);
                tally.ApiMs.Add(clock.Elapsed.TotalMilliseconds);
                if (!response.IsSuccessStatusCode)
                {
                    tally.Error($"GET {path.Split('?')[0]}: {(int)response.StatusCode} {Code(body)}", body);
                }
            }
            catch (HttpRequestException e)
            {
                tally.Error($"GET {path.Split('?')[0]}: {e.GetType().Name}", e.Message);
            }
            catch (TaskCanceledException e)
            {
                tally.Error($"GET {path.Split('?')[0]}: client timeout", e.Message);
            }
        }
    }

    private static async Task UploaderAsync(HttpClient http, string scan, Tally tally, CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            var clock = Stopwatch.StartNew();
            (HttpStatusCode status, string body) = await PostAsync(http, scan, "{\"model\":\"demo-knee\",\"thickness\":false}");
            tally.UploadMs.Add(clock.Elapsed.TotalMilliseconds);
            if (status != HttpStatusCode.Accepted)
            {
                tally.Error($"upload: {(int)status} {Code(body)}", body);
            }
        }
    }

    private static async Task BomberAsync(HttpClient http, string bomb, TimeSpan every, Tally tally, CancellationToken stop)
    {
        using var timer = new PeriodicTimer(every);
        do
        {
            var clock = Stopwatch.StartNew();
            (HttpStatusCode status, string body) = await PostAsync(http, bomb, "{\"model\":\"phantom-knee\"}");
            tally.BombMs.Add(clock.Elapsed.TotalMilliseconds);
            if (status == HttpStatusCode.RequestEntityTooLarge && Code(body) == "IMAGE_TOO_LARGE")
            {
                Interlocked.Increment(ref tally.BombsRefused);
            }
            else
            {
                tally.Error($"bomb: {(int)status} {Code(body)}", body);
            }
        }
        while (await WaitTickAsync(timer, stop));
    }

    /// <summary>
    /// The accepted jobs, by status (the single worker is still busy with most of them at the end); a
    /// failed one is an unexpected error, by its catalog code.
    /// </summary>
    private static async Task CountJobsAsync(HttpClient http, Tally tally)
    {
        using JsonDocument jobs = JsonDocument.Parse(await http.GetStringAsync("/v1/jobs?limit=100000"));
        var byStatus = new SortedDictionary<string, int>(StringComparer.Ordinal);
        foreach (JsonElement job in jobs.RootElement.EnumerateArray())
        {
            string status = job.GetProperty("status").GetString() ?? "?";
            byStatus[status] = byStatus.GetValueOrDefault(status) + 1;
            if (status is "Failed" or "Cancelled")
            {
                string code = job.TryGetProperty("error", out JsonElement error) && error.ValueKind == JsonValueKind.Object ? error.GetProperty("code").GetString() ?? "?" : "?";
                tally.Error($"job {status}: {code}", job.GetRawText());
            }
        }

        Console.WriteLine($"accepted jobs at the end: {string.Join(", ", byStatus.Select(s => $"{s.Value} {s.Key}"))}");
    }

    /// <summary>The catalog code of a problem document, or "(no code)".</summary>
    private static string Code(string body)
    {
        try
        {
            using JsonDocument doc = JsonDocument.Parse(body);
            return doc.RootElement.TryGetProperty("code", out JsonElement code) ? code.GetString() ?? "(no code)" : "(no code)";
        }
        catch (JsonException)
        {
            return "(not JSON)";
        }
    }

    private static async Task<bool> WaitTickAsync(PeriodicTimer timer, CancellationToken stop)
    {
        try
        {
            return await timer.WaitForNextTickAsync(stop);
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    private static async Task<(HttpStatusCode Status, string Body)> PostAsync(HttpClient http, string path, string options)
    {
        using var content = new MultipartFormDataContent();
        var file = new StreamContent(File.OpenRead(path));
        file.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        content.Add(file, "file", Path.GetFileName(path));
        content.Add(new StringContent(options, System.Text.Encoding.UTF8, "application/json"), "options");
        try
        {
            using HttpResponseMessage response = await http.PostAsync("/v1/jobs", content);
            return (response.StatusCode, await response.Content.ReadAsStringAsync());
        }
        catch (HttpRequestException e)
        {
            return (0, e.GetType().Name + ": " + e.Message);
        }
        catch (TaskCanceledException e)
        {
            return (0, "client timeout: " + e.Message);
        }
    }

    private static async Task SampleRssAsync(BenchServer server, Peak peak, CancellationToken stop)
    {
        while (!stop.IsCancellationRequested && !server.HasExited)
        {
            peak.Value = Math.Max(peak.Value, server.StatusBytes("VmRSS:"));
            try
            {
                await Task.Delay(100, stop);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private static void Report(Tally tally, long baselineRss, long peakRss, long budget, bool alive, int serverErrors)
    {
        Console.WriteLine($"server alive at the end: {alive}");
        Console.WriteLine(Figures.Line("API GETs", tally.ApiMs));
        Console.WriteLine(Figures.Line("uploads", tally.UploadMs));
        Console.WriteLine(Figures.Line("bomb uploads", tally.BombMs));
        Console.WriteLine($"bombs refused IMAGE_TOO_LARGE: {tally.BombsRefused} of {tally.BombMs.Count}");
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"server RSS (/proc of the server): {baselineRss / 1e6:0} MB after start, peak {peakRss / 1e6:0} MB; budget {budget / 1e6:0} MB (job budget {JobBudgetBytes / 1e6:0} MB + server reserve {JobMemoryBudget.MinServerReserveBytes / 1e6:0} MB): {(peakRss <= budget ? "within" : "OVER")}"));
        Console.WriteLine($"server log errors (fail:/crit:): {serverErrors}");
        Console.WriteLine($"unexpected answers: {tally.Errors.Count}");
        foreach ((string kind, (int count, string example)) in tally.ErrorKinds.OrderByDescending(e => e.Value.Count))
        {
            Console.WriteLine($"  {count} x {kind}   e.g. {(example.Length > 200 ? example[..200] : example)}");
        }
    }

    /// <summary>A small knee-sized test volume (int16 ramp with noise-free structure) the demo model segments quickly.</summary>
    private static Volume Scan()
    {
        var dims = new Dims3(48, 48, 24);
        var voxels = new short[dims.VoxelCount];
        for (int k = 0; k < dims.K; k++)
        {
            for (int j = 0; j < dims.J; j++)
            {
                for (int i = 0; i < dims.I; i++)
                {
                    voxels[dims.Index(i, j, k)] = (short)((i * 7) + (j * 3) + k);
                }
            }
        }

        return new Volume(new VolumeGeometry(dims, AffineRas.FromSpacing(new Vec3d(0.5, 0.5, 1.0), default)), VoxelType.Int16, voxels);
    }

    /// <summary>The issue's bomb: a complete .nii.gz of 1024 x 1024 x 960 zero uint8 voxels.</summary>
    private static string WriteBomb(string path)
    {
        byte[] header = new byte[352];
        Span<byte> h = header;
        System.Buffers.Binary.BinaryPrimitives.WriteInt32LittleEndian(h, 348);
        short[] dim = [3, 1024, 1024, 960, 1, 1, 1, 1];
        for (int d = 0; d < 8; d++)
        {
            System.Buffers.Binary.BinaryPrimitives.WriteInt16LittleEndian(h[(40 + (2 * d))..], dim[d]);
        }

        System.Buffers.Binary.BinaryPrimitives.WriteInt16LittleEndian(h[70..], 2);
        System.Buffers.Binary.BinaryPrimitives.WriteInt16LittleEndian(h[72..], 8);
        for (int d = 0; d < 8; d++)
        {
            System.Buffers.Binary.BinaryPrimitives.WriteSingleLittleEndian(h[(76 + (4 * d))..], 1f);
        }

        System.Buffers.Binary.BinaryPrimitives.WriteSingleLittleEndian(h[108..], 352);
        h[123] = 2;
        "n+1\0"u8.CopyTo(h[344..]);
        using var file = new FileStream(path, FileMode.Create);
        using var gzip = new GZipStream(file, CompressionLevel.SmallestSize);
        gzip.Write(header);
        byte[] zeros = new byte[1 << 20];
        for (int n = 0; n < 960; n++)
        {
            gzip.Write(zeros);
        }

        return path;
    }
}
