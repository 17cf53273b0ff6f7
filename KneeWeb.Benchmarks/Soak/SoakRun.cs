using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.IO.Compression;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text.Json;
using KneeWeb.Imaging;
using KneeWeb.Imaging.Io;
using KneeWeb.Security;

namespace KneeWeb.Benchmarks.Soak;

/// <summary>
/// `soak`: a real KneeWeb server on loopback under API clients, uploaders and a memory-bomb upload
/// every few seconds. Reports latency percentiles, the server's peak RSS against its job memory
/// budget, and every answer that was not the expected one (the bombs must be refused IMAGE_TOO_LARGE).
///
///     dotnet run -c Release --project KneeWeb.Benchmarks -- soak [--seconds 60] [--clients 30] [--uploaders 5] [--bomb-every 10]
/// </summary>
public static class SoakRun
{
    private const string Token = "kw_soak_admin_token_0123456789abcdefghijklmn";

    public static async Task<int> RunAsync(string[] args)
    {
        ArgumentNullException.ThrowIfNull(args);
        int seconds = Option(args, "--seconds", 60), clients = Option(args, "--clients", 30), uploaders = Option(args, "--uploaders", 5), bombEvery = Option(args, "--bomb-every", 10);
        string root = FindRoot();
        string work = Path.Combine(Path.GetTempPath(), "kneeweb-soak-" + Guid.NewGuid().ToString("N")[..8]);
        string data = Path.Combine(work, "data");
        Directory.CreateDirectory(data);
        try
        {
            await SeedAsync(data);
            string scan = Path.Combine(work, "scan.nii.gz");
            VolumeIo.Write(Scan(), scan);
            string bomb = WriteBomb(Path.Combine(work, "bomb.nii.gz"));
            Console.WriteLine($"soak: {seconds} s, {clients} API clients, {uploaders} uploaders, a bomb ({new FileInfo(bomb).Length / 1e6:0.0} MB declaring 1024 x 1024 x 960 uint8) every {bombEvery} s");

            using Process server = StartServer(root, data, out Uri baseAddress);
            try
            {
                using var http = new HttpClient { BaseAddress = baseAddress, Timeout = TimeSpan.FromSeconds(120) };
                http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Token);
                await WaitHealthyAsync(http, server);
                long baselineRss = StatusBytes(server.Id, "VmHWM:");
                var tally = new Tally();
                using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(seconds));
                var peakRss = new Peak();
                var tasks = new List<Task> { SampleRssAsync(server.Id, peakRss, stop.Token) };
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
                bool alive = !server.HasExited;
                long hwm = alive ? StatusBytes(server.Id, "VmHWM:") : -1;
                string info = alive ? await http.GetStringAsync("/v1/server/info") : "(server gone)";
                Report(tally, baselineRss, Math.Max(hwm, peakRss.Value), alive, info);
                return alive && tally.Errors.IsEmpty && tally.BombsRefused > 0 ? 0 : 1;
            }
            finally
            {
                if (!server.HasExited)
                {
                    server.Kill(entireProcessTree: true);
                    await server.WaitForExitAsync();
                }
            }
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

        public ConcurrentBag<string> Errors { get; } = [];

        public int BombsRefused;
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
                _ = await response.Content.ReadAsByteArrayAsync(CancellationToken.None);
                tally.ApiMs.Add(clock.Elapsed.TotalMilliseconds);
                if (!response.IsSuccessStatusCode)
                {
                    tally.Errors.Add($"GET {path}: {(int)response.StatusCode}");
                }
            }
            catch (HttpRequestException e)
            {
                tally.Errors.Add($"GET {path}: {e.Message}");
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
                tally.Errors.Add($"upload: {(int)status} {body}");
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
            if (status == HttpStatusCode.RequestEntityTooLarge && body.Contains("IMAGE_TOO_LARGE", StringComparison.Ordinal))
            {
                Interlocked.Increment(ref tally.BombsRefused);
            }
            else
            {
                tally.Errors.Add($"bomb: {(int)status} {body}");
            }
        }
        while (await WaitTickAsync(timer, stop));
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
            return (0, e.Message);
        }
    }

    private static async Task SampleRssAsync(int pid, Peak peak, CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            try
            {
                peak.Value = Math.Max(peak.Value, StatusBytes(pid, "VmRSS:"));
                await Task.Delay(200, stop);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            catch (IOException)
            {
                return; // the server is gone: reported at the end
            }
        }
    }

    private static void Report(Tally tally, long baselineRss, long peakRss, bool alive, string info)
    {
        Console.WriteLine($"server alive at the end: {alive}");
        Console.WriteLine(Line("API GETs", tally.ApiMs));
        Console.WriteLine(Line("uploads (accepted)", tally.UploadMs));
        Console.WriteLine(Line("bomb uploads", tally.BombMs));
        Console.WriteLine($"bombs refused IMAGE_TOO_LARGE: {tally.BombsRefused} of {tally.BombMs.Count}");
        Console.WriteLine($"server RSS: {baselineRss / 1e6:0} MB after start, peak {peakRss / 1e6:0} MB");
        try
        {
            using JsonDocument doc = JsonDocument.Parse(info);
            Console.WriteLine($"server info: {doc.RootElement.GetRawText()[..Math.Min(400, doc.RootElement.GetRawText().Length)]}");
        }
        catch (JsonException)
        {
            Console.WriteLine($"server info: {info}");
        }

        Console.WriteLine($"errors other than the bombs' refusals: {tally.Errors.Count}");
        foreach (string error in tally.Errors.Take(10))
        {
            Console.WriteLine("  " + (error.Length > 300 ? error[..300] : error));
        }
    }

    private static string Line(string what, ConcurrentBag<double> ms)
    {
        double[] sorted = [.. ms.Order()];
        if (sorted.Length == 0)
        {
            return $"{what}: none";
        }

        double P(double q) => sorted[Math.Min(sorted.Length - 1, (int)Math.Floor(q * sorted.Length))];
        return string.Create(CultureInfo.InvariantCulture, $"{what}: {sorted.Length} requests, p50 {P(0.50):0.0} ms, p95 {P(0.95):0.0} ms, max {sorted[^1]:0.0} ms");
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

    /// <summary>The bomb: a complete .nii.gz of 1024 x 1024 x 960 zero uint8 voxels.</summary>
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

    private static async Task SeedAsync(string data)
    {
        await using AccountsHost host = await AccountsHost.OpenAsync(data);
        Microsoft.AspNetCore.Identity.IdentityUser admin = await host.Accounts.EnsureUserAsync("soak", Roles.Admin, "soak-password-2026-x", [Data.Group.DefaultName]);
        await host.Tokens.ImportAsync(admin.Id, "soak", Token);
    }

    private static readonly string[] BuildConfigurations = ["Release", "Debug"];

    private static Process StartServer(string root, string data, out Uri baseAddress)
    {
        string binary = BuildConfigurations
            .Select(c => Path.Combine(root, "KneeWeb", "bin", c, "net10.0", "KneeWeb"))
            .FirstOrDefault(File.Exists) ?? throw new FileNotFoundException("Build KneeWeb first (dotnet build -c Release KneeWeb).");
        int port;
        using (var listener = new TcpListener(IPAddress.Loopback, 0))
        {
            listener.Start();
            port = ((IPEndPoint)listener.LocalEndpoint).Port;
        }

        var start = new ProcessStartInfo(binary) { WorkingDirectory = Path.GetDirectoryName(binary)!, UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add("--urls");
        start.ArgumentList.Add($"http://127.0.0.1:{port}");
        start.Environment["KneeWeb__DataRoot"] = data;
        start.Environment["KneeWeb__ModelsPath"] = Path.Combine(root, "models");
        start.Environment["KneeWeb__DefaultModel"] = "phantom-knee";
        start.Environment["ASPNETCORE_ENVIRONMENT"] = "Production";
        start.Environment["Logging__LogLevel__Default"] = "Warning";
        Process process = Process.Start(start)!;
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        baseAddress = new Uri($"http://127.0.0.1:{port}/");
        return process;
    }

    private static async Task WaitHealthyAsync(HttpClient http, Process server)
    {
        for (int i = 0; i < 600; i++)
        {
            if (server.HasExited)
            {
                throw new InvalidOperationException($"KneeWeb exited at start-up with code {server.ExitCode}.");
            }

            try
            {
                using HttpResponseMessage response = await http.GetAsync("/v1/healthz");
                if (response.IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
            }

            await Task.Delay(100);
        }

        throw new TimeoutException("KneeWeb did not answer /v1/healthz.");
    }

    private static long StatusBytes(int pid, string field)
    {
        foreach (string line in File.ReadLines($"/proc/{pid}/status"))
        {
            if (line.StartsWith(field, StringComparison.Ordinal))
            {
                return long.Parse(line[field.Length..].Trim().Split(' ')[0], CultureInfo.InvariantCulture) * 1024;
            }
        }

        return -1;
    }

    private static string FindRoot()
    {
        for (DirectoryInfo? dir = new(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "KneeWeb.sln")))
            {
                return dir.FullName;
            }
        }

        throw new DirectoryNotFoundException("KneeWeb.sln not found above the benchmark.");
    }

    private static int Option(string[] args, string name, int fallback)
    {
        int at = Array.IndexOf(args, name);
        return at >= 0 && at + 1 < args.Length ? int.Parse(args[at + 1], CultureInfo.InvariantCulture) : fallback;
    }
}
