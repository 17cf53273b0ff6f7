using System.Diagnostics;
using System.Globalization;
using System.Text;
using KneeWeb.Setup;
using Microsoft.Extensions.Options;

namespace KneeWeb.Jobs.Slurm;

/// <summary>What KneeWeb asks of Slurm. One implementation: the Slurm command-line tools.</summary>
public interface ISlurmClient
{
    /// <summary>sbatch --parsable; returns the Slurm job id.</summary>
    Task<long> SubmitAsync(SlurmSubmission submission, CancellationToken ct);

    /// <summary>squeue -t all for these ids; a job Slurm no longer knows is absent from the answer.</summary>
    Task<IReadOnlyDictionary<long, SlurmJobStatus>> QueryAsync(IReadOnlyCollection<long> jobIds, CancellationToken ct);

    /// <summary>scontrol show job: the exit code, or null once Slurm has forgotten the job.</summary>
    Task<SlurmExitCode?> ExitCodeAsync(long jobId, CancellationToken ct);

    /// <summary>scancel.</summary>
    Task CancelAsync(long jobId, CancellationToken ct);

    /// <summary>sinfo: one line per partition state; throws when the controller does not answer.</summary>
    Task<string> DescribeClusterAsync(CancellationToken ct);
}

/// <summary>One sbatch call: the script in the job's folder and the resources it asks for.</summary>
public sealed record SlurmSubmission(
    string Name,
    string Folder,
    string Script,
    string OutputFile,
    int TimeLimitMinutes,
    int MemoryMb,
    int Cpus,
    string? Partition,
    string? Account,
    string? Gres);

/// <summary>A Slurm command that failed or did not answer in time; the message carries its stderr.</summary>
public sealed class SlurmCommandException : Exception
{
    public SlurmCommandException()
    {
    }

    public SlurmCommandException(string message)
        : base(message)
    {
    }

    public SlurmCommandException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}

/// <summary>The Slurm command-line tools, run as real processes with argument lists (no shell).</summary>
public sealed class SlurmCli(IOptions<KneeWebOptions> options) : ISlurmClient
{
    private readonly SlurmOptions settings = options.Value.Jobs.Slurm;

    public async Task<long> SubmitAsync(SlurmSubmission submission, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(submission);
        var args = new List<string>
        {
            "--parsable", "--job-name", submission.Name, "--chdir", submission.Folder, "--output", submission.OutputFile,
            "--time", submission.TimeLimitMinutes.ToString(CultureInfo.InvariantCulture),
            "--mem", submission.MemoryMb.ToString(CultureInfo.InvariantCulture) + "M",
            "--cpus-per-task", submission.Cpus.ToString(CultureInfo.InvariantCulture),
            // A node failure puts the job back in line, where the site follows it as waiting again.
            "--requeue",
        };
        AddIf(args, "--partition", submission.Partition);
        AddIf(args, "--account", submission.Account);
        AddIf(args, "--gres", submission.Gres);
        args.Add(submission.Script);
        CommandResult result = await RunAsync("sbatch", args, ct);
        result.ThrowIfFailed("sbatch");
        // --parsable prints "id" or "id;cluster".
        string first = result.StdOut.Trim().Split(';')[0];
        return long.TryParse(first, NumberStyles.None, CultureInfo.InvariantCulture, out long id)
            ? id
            : throw new SlurmCommandException($"sbatch answered '{result.StdOut.Trim()}', not a job id.");
    }

    public async Task<IReadOnlyDictionary<long, SlurmJobStatus>> QueryAsync(IReadOnlyCollection<long> jobIds, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(jobIds);
        var states = new Dictionary<long, SlurmJobStatus>();
        if (jobIds.Count == 0)
        {
            return states;
        }

        string ids = string.Join(',', jobIds.Select(i => i.ToString(CultureInfo.InvariantCulture)));
        CommandResult result = await RunAsync("squeue", ["--jobs", ids, "--states", "all", "--noheader", "--format", "%i|%T|%r"], ct);
        if (result.ExitCode != 0 && result.StdErr.Contains("Invalid job id", StringComparison.OrdinalIgnoreCase))
        {
            return states; // None of them is known any more.
        }

        result.ThrowIfFailed("squeue");
        foreach (string line in result.StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            string[] parts = line.Split('|');
            // Array jobs print "id_index"; KneeWeb submits none, so whole ids only.
            if (parts.Length >= 2 && long.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out long id))
            {
                states[id] = new SlurmJobStatus(id, SlurmStates.Parse(parts[1]), parts.Length > 2 ? parts[2] : "");
            }
        }

        return states;
    }

    public async Task<SlurmExitCode?> ExitCodeAsync(long jobId, CancellationToken ct)
    {
        CommandResult result = await RunAsync("scontrol", ["show", "job", jobId.ToString(CultureInfo.InvariantCulture)], ct);
        if (result.ExitCode != 0)
        {
            return null;
        }

        foreach (string token in result.StdOut.Split((char[])[' ', '\n', '\t'], StringSplitOptions.RemoveEmptyEntries))
        {
            if (token.StartsWith("ExitCode=", StringComparison.Ordinal))
            {
                string[] parts = token["ExitCode=".Length..].Split(':');
                if (parts.Length == 2
                    && int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out int code)
                    && int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out int signal))
                {
                    return new SlurmExitCode(code, signal);
                }
            }
        }

        return null;
    }

    public async Task CancelAsync(long jobId, CancellationToken ct)
    {
        CommandResult result = await RunAsync("scancel", [jobId.ToString(CultureInfo.InvariantCulture)], ct);
        result.ThrowIfFailed("scancel");
    }

    public async Task<string> DescribeClusterAsync(CancellationToken ct)
    {
        CommandResult result = await RunAsync("sinfo", ["--noheader", "--format", "%P %a %D %T"], ct);
        result.ThrowIfFailed("sinfo");
        return string.Join("; ", result.StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
    }

    private static void AddIf(List<string> args, string name, string? value)
    {
        if (!string.IsNullOrWhiteSpace(value))
        {
            args.Add(name);
            args.Add(value);
        }
    }

    private async Task<CommandResult> RunAsync(string tool, IReadOnlyList<string> args, CancellationToken ct)
    {
        var start = new ProcessStartInfo(tool)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string a in args)
        {
            start.ArgumentList.Add(a);
        }

        if (!string.IsNullOrWhiteSpace(settings.SlurmConf))
        {
            start.Environment["SLURM_CONF"] = settings.SlurmConf;
        }

        Process process;
        try
        {
            process = Process.Start(start) ?? throw new SlurmCommandException($"{tool} could not be started.");
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            throw new SlurmCommandException($"{tool} could not be started (is Slurm's client installed on this server?): {ex.Message}", ex);
        }

        using (process)
        {
            Task<string> stdout = process.StandardOutput.ReadToEndAsync(CancellationToken.None);
            Task<string> stderr = process.StandardError.ReadToEndAsync(CancellationToken.None);
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(settings.CommandTimeout);
            try
            {
                await process.WaitForExitAsync(timeout.Token);
            }
            catch (OperationCanceledException)
            {
                process.Kill(entireProcessTree: true);
                await process.WaitForExitAsync(CancellationToken.None);
                ct.ThrowIfCancellationRequested();
                throw new SlurmCommandException($"{tool} did not answer within {settings.CommandTimeout.TotalSeconds:0} s (is slurmctld reachable?).");
            }

            return new CommandResult(process.ExitCode, await stdout, await stderr);
        }
    }

    private sealed record CommandResult(int ExitCode, string StdOut, string StdErr)
    {
        public void ThrowIfFailed(string tool)
        {
            if (ExitCode != 0)
            {
                var message = new StringBuilder($"{tool} failed with exit code {ExitCode}");
                string err = StdErr.Trim();
                if (err.Length > 0)
                {
                    message.Append(": ").Append(err.Length > 500 ? err[..500] : err);
                }

                throw new SlurmCommandException(message.ToString());
            }
        }
    }
}
