using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using Xunit;

namespace KneeWeb.Tests.Web;

/// <summary>
/// The KneeWeb binary as its own process on a loopback port: a real Kestrel server that tests can
/// kill -9 or stop with SIGTERM, and that a real browser can load.
/// </summary>
public sealed partial class ServerProcess : IAsyncDisposable
{
    private readonly Process process;
    private readonly System.Text.StringBuilder log = new();

    private ServerProcess(Process process, Uri baseAddress)
    {
        this.process = process;
        BaseAddress = baseAddress;
    }

    public Uri BaseAddress { get; }

    public int Pid => process.Id;

    public bool HasExited => process.HasExited;

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

    public static async Task<ServerProcess> StartAsync(string dataRoot, IDictionary<string, string>? settings = null)
    {
        string binary = LocateBinary();
        // Every request needs sign-in: the data folder gets the test Admin and its token first.
        await TestAccounts.SeedAsync(dataRoot);
        int port = FreePort();
        var start = new ProcessStartInfo(binary)
        {
            WorkingDirectory = Path.GetDirectoryName(binary)!,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add("--urls");
        start.ArgumentList.Add($"http://127.0.0.1:{port}");
        start.Environment["KneeWeb__DataRoot"] = dataRoot;
        start.Environment["KneeWeb__ModelsPath"] = Path.Combine(dataRoot, "models");
        start.Environment["ASPNETCORE_ENVIRONMENT"] = "Production";
        start.Environment["Logging__LogLevel__Default"] = "Warning";
        // Browser tests sign in often from one address as one user; settings below may set other limits.
        start.Environment["KneeWeb__Security__SignInThrottle__PerAddress"] = "100000";
        start.Environment["KneeWeb__Security__SignInThrottle__PerName"] = "100000";
        if (settings is not null)
        {
            foreach ((string key, string value) in settings)
            {
                start.Environment[key] = value;
            }
        }

        Process process = Process.Start(start) ?? throw new InvalidOperationException($"Could not start {binary}.");
        var server = new ServerProcess(process, new Uri($"http://127.0.0.1:{port}/"));
        process.OutputDataReceived += (_, e) => server.Append(e.Data);
        process.ErrorDataReceived += (_, e) => server.Append(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        // A hang guard: a loaded machine may take minutes to start the process.
        await server.WaitUntilHealthyAsync(TimeSpan.FromMinutes(5));
        return server;
    }

    /// <summary>A client signed in as the test Admin (its API token).</summary>
    public HttpClient CreateClient() => CreateAnonymousClient().WithToken(TestAccounts.AdminToken);

    /// <summary>A client with no credentials that does not follow redirects.</summary>
    public HttpClient CreateAnonymousClient() =>
        new(new HttpClientHandler { AllowAutoRedirect = false }) { BaseAddress = BaseAddress, Timeout = TimeSpan.FromMinutes(5) };

    /// <summary>kill -9: the process gets no chance to clean up.</summary>
    public async Task KillHardAsync()
    {
        process.Kill(entireProcessTree: true);
        await process.WaitForExitAsync();
    }

    /// <summary>SIGTERM: the host shuts down gracefully, as under systemd or Ctrl+C.</summary>
    public async Task TerminateAsync(TimeSpan timeout)
    {
        Assert.Equal(0, SendSignal(process.Id, 15));
        using var cts = new CancellationTokenSource(timeout);
        await process.WaitForExitAsync(cts.Token);
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

    /// <summary>
    /// The KneeWeb apphost built with the test assembly's configuration and target framework
    /// (KneeWeb/bin/&lt;Debug|Release&gt;/&lt;tfm&gt;/KneeWeb, framework-dependent).
    /// </summary>
    public static string LocateBinary()
    {
        // The tests run from KneeWeb.Tests/bin/<configuration>/<tfm>/: the site is built beside them.
        var testDir = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        string framework = testDir.Name;
        string configuration = testDir.Parent!.Name;
        string binDir = Path.Combine(RepositoryRoot(), "KneeWeb", "bin", configuration, framework);
        string binary = Path.Combine(binDir, "KneeWeb");
        Assert.True(File.Exists(binary), $"The KneeWeb binary is not built at {binary}; build the solution first (dotnet build KneeWeb.sln).");
        return binary;
    }

    /// <summary>The folder holding KneeWeb.sln, above the test assembly.</summary>
    public static string RepositoryRoot()
    {
        DirectoryInfo? dir = new(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "KneeWeb.sln")))
        {
            dir = dir.Parent;
        }

        Assert.True(dir is not null, $"KneeWeb.sln not found above {AppContext.BaseDirectory}.");
        return dir!.FullName;
    }

    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
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

    private async Task WaitUntilHealthyAsync(TimeSpan timeout)
    {
        using HttpClient client = CreateClient();
        DateTime until = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < until)
        {
            Assert.False(process.HasExited, $"KneeWeb exited at start-up with code {(process.HasExited ? process.ExitCode : 0)}:\n{Log}");
            try
            {
                using HttpResponseMessage response = await client.GetAsync("/v1/healthz");
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

        Assert.Fail($"KneeWeb did not answer /v1/healthz within {timeout}:\n{Log}");
    }

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int SendSignal(int pid, int signal);
}
