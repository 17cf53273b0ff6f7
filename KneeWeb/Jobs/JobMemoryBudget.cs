using KneeWeb.Setup;

namespace KneeWeb.Jobs;

/// <summary>How much memory one job may use: the setting, or a share of the machine.</summary>
public static class JobMemoryBudget
{
    /// <summary>Kept for the server itself (runtime, loaded models, pages and hubs), at least this much.</summary>
    public const long MinServerReserveBytes = 1L << 30;

    public static long Resolve(JobOptions jobs)
    {
        ArgumentNullException.ThrowIfNull(jobs);
        return jobs.MaxJobMemoryBytes is long set && set > 0 ? set : Automatic(jobs.Concurrency);
    }

    /// <summary>
    /// (memory available to this process - reserve) / concurrency, where the memory is the GC's view
    /// (the machine's RAM, or a container's limit) and the reserve the larger of 1 GiB and an eighth.
    /// </summary>
    public static long Automatic(int concurrency)
    {
        long total = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
        if (total <= 0)
        {
            total = 4L << 30;
        }

        long reserve = Math.Max(MinServerReserveBytes, total / 8);
        return Math.Max(256L << 20, (total - reserve) / Math.Max(1, concurrency));
    }
}
