using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using KneeWeb.Security;

namespace KneeWeb.Benchmarks.Server;

/// <summary>
/// The built KneeWeb binary as its own process on a loopback port, on a data folder seeded with one
/// Admin (password and API token known here): what the soak, sign-in, latency and screenshot verbs
/// measure. Its memory is read from /proc of that process, never from this one.
/// </summary>
public sealed class BenchServer : IAsyncDisposable
{
    public const string AdminName = "bench";
    public const string AdminPassword = "bench-password-2026-x";
    public const string Token = "kw_bench_admin_token_0123456789abcdefghijklmn";

    private static readonly string[] BuildConfigurations = ["Release", "Debug"];
    private readonly Process process;
    private readonly System.Text.StringBuilder log = new();

    private BenchServer(Process process, Uri baseAddress, string dataRoot)
    {
        this.process = process;
        BaseAddress = baseAddress;
        DataRoot = dataRoot;
    }

    public Uri BaseAddress { get; }

    public string DataRoot { get; }

    public int Pid => process.Id;

    public bool HasExited => process.HasExited;

    public int ExitCode => process.ExitCode;

    /// <summary>What the server wrote to stdout and stderr (warnings and errors at the default level).</summary>
    public string Log
    {
        get
        {
            lock (log)
            {
                return log.ToString();
            }
        }
    }

    /// <summary>The repository root (the folder holding KneeWeb.sln).</summary>
    public static string Root { get; } = FindRoot();

    /// <summary>Seeds <paramref name="dataRoot"/> with the Admin and starts the server; returns once /v1/healthz answers.</summary>
    public static async Task<BenchServer> StartAsync(string dataRoot, IReadOnlyDictionary<string, string> settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        Directory.CreateDirectory(dataRoot);
        await SeedAsync(dataRoot);
        string binary = BuildConfigurations
            .Select(c => Path.Combine(Root, "KneeWeb", "bin", c, "net10.0", "KneeWeb"))
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
        start.Environment["KneeWeb__DataRoot"] = dataRoot;
        start.Environment["KneeWeb__ModelsPath"] = Path.Combine(Root, "models");
        start.Environment["ASPNETCORE_ENVIRONMENT"] = "Production";
        start.Environment["Logging__LogLevel__Default"] = "Warning";
        foreach ((string key, string value) in settings)
        {
            start.Environment[key] = value;
        }

        Process process = Process.Start(start)!;
        var server = new BenchServer(process, new Uri($"http://127.0.0.1:{port}/"), dataRoot);
        // Ctrl+C or a kill of the benchmark must not leave the server running.
        AppDomain.CurrentDomain.ProcessExit += (_, _) => server.KillQuietly();
        process.OutputDataReceived += (_, e) => server.Append(e.Data);
        process.ErrorDataReceived += (_, e) => server.Append(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            await server.WaitHealthyAsync();
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }

        return server;
    }

    /// <summary>A client of this server; with the Admin's API token unless <paramref name="withToken"/> is false.</summary>
    public HttpClient CreateClient(bool withToken = true, bool cookies = false)
    {
        var handler = new HttpClientHandler { AllowAutoRedirect = false, UseCookies = cookies };
        var http = new HttpClient(handler) { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(120) };
        if (withToken)
        {
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Token);
        }

        return http;
    }

    /// <summary>A field of /proc/PID/status in bytes (VmRSS, VmHWM), or -1 once the process is gone.</summary>
    public long StatusBytes(string field)
    {
        try
        {
            foreach (string line in File.ReadLines($"/proc/{Pid}/status"))
            {
                if (line.StartsWith(field, StringComparison.Ordinal))
                {
                    return long.Parse(line[field.Length..].Trim().Split(' ')[0], CultureInfo.InvariantCulture) * 1024;
                }
            }
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }

        return -1;
    }

    /// <summary>The 1-minute load average, as /proc/loadavg says it.</summary>
    public static string LoadAverage()
    {
        try
        {
            return string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3));
        }
        catch (IOException)
        {
            return "unknown";
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (!process.HasExited)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }

        process.Dispose();
    }

    private void KillQuietly()
    {
        try
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }
        }
        catch (InvalidOperationException)
        {
            // Already disposed: nothing left to end.
        }
    }

    private void Append(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (log)
        {
            log.AppendLine(line);
        }
    }

    private async Task WaitHealthyAsync()
    {
        using HttpClient http = CreateClient(withToken: false);
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromMinutes(5))
        {
            if (process.HasExited)
            {
                throw new InvalidOperationException($"KneeWeb exited at start-up with code {process.ExitCode}:\n{Log}");
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

        throw new TimeoutException("KneeWeb did not answer /v1/healthz within 5 minutes.");
    }

    private static async Task SeedAsync(string dataRoot)
    {
        await using AccountsHost host = await AccountsHost.OpenAsync(dataRoot);
        Microsoft.AspNetCore.Identity.IdentityUser admin = await host.Accounts.EnsureUserAsync(AdminName, Roles.Admin, AdminPassword, [Data.Group.DefaultName]);
        await host.Tokens.ImportAsync(admin.Id, "bench", Token);
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
}
