using System.Globalization;

namespace KneeWeb.Jobs.Slurm;

/// <summary>
/// What Slurm tells a process it started (SLURM_JOB_ID, SLURM_MEM_PER_NODE): whether this process is
/// a cluster job, and the memory the job was given, so its errors can name the limit it ran into.
/// </summary>
public sealed record SlurmJobEnvironment(long? JobId, long? MemoryMb)
{
    public bool InSlurmJob => JobId is not null;

    public static SlurmJobEnvironment Current() => From(Environment.GetEnvironmentVariable);

    public static SlurmJobEnvironment From(Func<string, string?> variable)
    {
        ArgumentNullException.ThrowIfNull(variable);
        return new SlurmJobEnvironment(Number(variable("SLURM_JOB_ID")), Number(variable("SLURM_MEM_PER_NODE")));
    }

    private static long? Number(string? text) =>
        long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out long value) ? value : null;
}
