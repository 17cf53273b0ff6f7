using System.Diagnostics;
using Xunit;

namespace KneeWeb.Tests.Jobs.Slurm;

/// <summary>
/// The real single-node Slurm cluster of scripts/slurm-cluster.sh. scripts/test.sh starts it before
/// the suite; run alone, the fixture starts one itself (and stops it afterwards). There is no
/// skipping: without a cluster these tests fail.
/// </summary>
public sealed class SlurmTestCluster : IDisposable
{
    private readonly string? ownStateFile;

    public SlurmTestCluster()
    {
        string shared = Environment.GetEnvironmentVariable("KNEEWEB_SLURM_STATE") ?? "/tmp/kneeweb-slurm.current";
        if (File.Exists(shared) && File.Exists(Path.Combine(File.ReadAllText(shared).Trim(), "slurm.conf")))
        {
            Folder = File.ReadAllText(shared).Trim();
        }
        else
        {
            Assert.True(Environment.GetEnvironmentVariable("KNEEWEB_SLURM_REQUIRED") != "1",
                $"scripts/test.sh started a Slurm cluster, but {shared} does not name it.");
            ownStateFile = Path.Combine(Path.GetTempPath(), $"kneeweb-slurm-tests-{Environment.ProcessId}.current");
            (int code, string output) = Script("start", ownStateFile);
            Assert.True(code == 0, $"scripts/slurm-cluster.sh start failed ({code}):\n{output}");
            Folder = File.ReadAllText(ownStateFile).Trim();
        }

        ConfigFile = Path.Combine(Folder, "slurm.conf");
    }

    public string Folder { get; }

    public string ConfigFile { get; }

    public void Dispose()
    {
        if (ownStateFile is not null)
        {
            Script("stop", ownStateFile);
        }
    }

    /// <summary>Runs a Slurm tool against this cluster and returns its stdout.</summary>
    public string Run(string tool, params string[] args)
    {
        var start = new ProcessStartInfo(tool) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string a in args)
        {
            start.ArgumentList.Add(a);
        }

        start.Environment["SLURM_CONF"] = ConfigFile;
        using Process process = Process.Start(start)!;
        string stdout = process.StandardOutput.ReadToEnd();
        process.StandardError.ReadToEnd();
        process.WaitForExit();
        return stdout;
    }

    /// <summary>Every Slurm job ever submitted under this name (squeue -t all keeps finished ones for MinJobAge).</summary>
    public IReadOnlyList<(long Id, string State)> JobsNamed(string name) =>
        Run("squeue", "--name", name, "--states", "all", "--noheader", "--format", "%i|%T")
            .Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(l => l.Split('|'))
            .Select(p => (long.Parse(p[0], System.Globalization.CultureInfo.InvariantCulture), p[1]))
            .ToList();

    /// <summary>
    /// A node crash: slurmd, and the Slurm step and KneeWeb process of one job, end with SIGKILL
    /// (each found by its own id), and the node is marked down, as the controller would after
    /// SlurmdTimeout (skipping the wait).
    /// </summary>
    public void CrashNode(long slurmJobId, Guid jobId)
    {
        KillPid(int.Parse(File.ReadAllText(Path.Combine(Folder, "run", "slurmd.pid")).Trim(), System.Globalization.CultureInfo.InvariantCulture));
        string step = $"slurmstepd: [{slurmJobId.ToString(System.Globalization.CultureInfo.InvariantCulture)}.batch]";
        // Arguments are NUL-separated in /proc/<pid>/cmdline.
        string job = $"--job-id\0{jobId:D}";
        foreach (string dir in Directory.GetDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int pid))
            {
                continue;
            }

            string cmdline;
            try
            {
                cmdline = File.ReadAllText(Path.Combine(dir, "cmdline"));
            }
            catch (IOException)
            {
                continue;
            }

            if (cmdline.StartsWith(step, StringComparison.Ordinal) || cmdline.Contains(job, StringComparison.Ordinal))
            {
                KillPid(pid);
            }
        }

        Run("scontrol", "update", "NodeName=localhost", "State=DOWN", "Reason=slurmd stopped by a test");
    }

    /// <summary>slurmd again, the node back in service, and idle or busy (not down) before returning.</summary>
    public async Task RestoreNodeAsync()
    {
        var start = new ProcessStartInfo("slurmd") { UseShellExecute = false };
        start.ArgumentList.Add("-N");
        start.ArgumentList.Add("localhost");
        start.Environment["SLURM_CONF"] = ConfigFile;
        using (Process slurmd = Process.Start(start)!)
        {
            await slurmd.WaitForExitAsync(); // It daemonizes.
        }

        Run("scontrol", "update", "NodeName=localhost", "State=RESUME");
        DateTime until = DateTime.UtcNow + TimeSpan.FromMinutes(1);
        while (Run("sinfo", "--noheader", "--format", "%T").Trim() is var state && (state.Contains("down", StringComparison.Ordinal) || state.Contains('*', StringComparison.Ordinal) || state.Length == 0))
        {
            Assert.True(DateTime.UtcNow < until, $"The node did not come back: {state}");
            await Task.Delay(250);
        }
    }

    private static void KillPid(int pid)
    {
        try
        {
            using Process process = Process.GetProcessById(pid);
            process.Kill();
            process.WaitForExit(5000);
        }
        catch (ArgumentException)
        {
            // Already gone.
        }
        catch (InvalidOperationException)
        {
        }
    }

    /// <summary>Settings that point a site at this cluster, with quick polling and small jobs that run side by side.</summary>
    public Dictionary<string, string> SiteSettings(string dataRoot) => new()
    {
        ["KneeWeb__Jobs__Executor"] = "slurm",
        ["KneeWeb__Jobs__Slurm__SlurmConf"] = ConfigFile,
        ["KneeWeb__Jobs__Slurm__SharedRoot"] = Path.Combine(dataRoot, "shared"),
        ["KneeWeb__Jobs__Slurm__PollInterval"] = "00:00:00.500",
        ["KneeWeb__Jobs__Slurm__Cpus"] = "1",
        ["KneeWeb__Jobs__Slurm__MemoryMb"] = "2000",
        ["KneeWeb__Jobs__Slurm__TimeLimit"] = "00:10:00",
        ["KneeWeb__DefaultModel"] = "demo-knee",
    };

    private static (int Code, string Output) Script(string verb, string stateFile)
    {
        string script = Path.Combine(RepoRoot(), "scripts", "slurm-cluster.sh");
        var start = new ProcessStartInfo(script) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(verb);
        start.Environment["KNEEWEB_SLURM_STATE"] = stateFile;
        using Process process = Process.Start(start)!;
        Task<string> stderr = process.StandardError.ReadToEndAsync();
        string stdout = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        return (process.ExitCode, stdout + stderr.Result);
    }

    public static string RepoRoot()
    {
        DirectoryInfo? dir = new(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "KneeWeb.sln")))
        {
            dir = dir.Parent;
        }

        return dir?.FullName ?? throw new InvalidOperationException("KneeWeb.sln not found.");
    }
}
