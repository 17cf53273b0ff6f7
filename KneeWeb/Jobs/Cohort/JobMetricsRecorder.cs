using System.Text.Json;
using KneeWeb.Data;
using KneeWeb.Setup;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace KneeWeb.Jobs.Cohort;

/// <summary>
/// Writes a completed job's metrics row from its stats.json: when the job completes (in the same
/// write as its status, whichever executor ran it) and, at start-up, for completed jobs that have none.
/// A stats.json that cannot be read leaves the job without a row (logged); nothing else is lost.
/// </summary>
public sealed class JobMetricsRecorder(JobStore store, IOptions<KneeWebOptions> options, TimeProvider clock, ILogger<JobMetricsRecorder> logger)
{
    private const int BackfillBatch = 200;
    private readonly KneeWebOptions settings = options.Value;

    /// <summary>Adds (or replaces) the row of <paramref name="job"/> in <paramref name="db"/>; the caller saves. Returns it, or null when stats.json is missing or unreadable.</summary>
    public async Task<JobMetrics?> StageAsync(KneeWebDbContext db, Job job, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(db);
        ArgumentNullException.ThrowIfNull(job);
        ResultStats? stats = TryLoad(job.Id);
        if (stats is null)
        {
            return null;
        }

        JobMetrics row = JobMetricsMapping.From(job, stats, clock.GetUtcNow().UtcDateTime);
        JobMetrics? old = await db.JobMetrics.IgnoreQueryFilters().FirstOrDefaultAsync(m => m.JobId == job.Id, ct);
        if (old is null)
        {
            db.JobMetrics.Add(row);
            return row;
        }

        // A re-run replaces every value (outlier fields included: the next refresh scores it afresh).
        db.Entry(old).CurrentValues.SetValues(row);
        return old;
    }

    /// <summary>Writes the row of one completed job now (tests, and a job whose stats.json was repaired).</summary>
    public async Task<JobMetrics?> RecordAsync(Guid jobId, CancellationToken ct = default)
    {
        using (JobVisibility.EnterSystem())
        {
            return await store.WriteAsync(async db =>
            {
                Job? job = await db.Jobs.FirstOrDefaultAsync(j => j.Id == jobId && j.Status == JobStatus.Completed, ct);
                JobMetrics? row = job is null ? null : await StageAsync(db, job, ct);
                await db.SaveChangesAsync(ct);
                return row;
            }, ct);
        }
    }

    /// <summary>Rows for every completed job without one, in batches; idempotent. Returns how many rows were written.</summary>
    public async Task<int> BackfillAsync(CancellationToken ct = default)
    {
        using IDisposable system = JobVisibility.EnterSystem();
        int written = 0;
        var unreadable = new HashSet<Guid>();
        while (true)
        {
            List<Job> batch = await store.ReadAsync(db => db.Jobs.AsNoTracking()
                .Where(j => j.Status == JobStatus.Completed && j.Metrics == null && !unreadable.Contains(j.Id))
                .OrderBy(j => j.CreatedUtc).Take(BackfillBatch).ToListAsync(ct), ct);
            if (batch.Count == 0)
            {
                return written;
            }

            var rows = new List<JobMetrics>(batch.Count);
            foreach (Job job in batch)
            {
                if (TryLoad(job.Id) is { } stats)
                {
                    rows.Add(JobMetricsMapping.From(job, stats, clock.GetUtcNow().UtcDateTime));
                }
                else
                {
                    unreadable.Add(job.Id);
                }
            }

            await store.WriteAsync(async db =>
            {
                db.JobMetrics.AddRange(rows);
                await db.SaveChangesAsync(ct);
            }, ct);
            written += rows.Count;
        }
    }

    private ResultStats? TryLoad(Guid jobId)
    {
        try
        {
            ResultStats? stats = ResultStats.Load(settings.JobsPath, jobId);
            if (stats is null)
            {
                logger.LogWarning("Job {JobId} is completed but has no stats.json: it has no cohort metrics", jobId);
            }

            return stats;
        }
        // ArgumentException: System.Text.Json.Nodes refuses a duplicated property only when it is read.
        catch (Exception e) when (e is IOException or JsonException or UnauthorizedAccessException or InvalidOperationException or FormatException or ArgumentException)
        {
            // A damaged stats.json leaves the job out of the metrics table rather than stopping the site.
            logger.LogWarning(e, "Job {JobId}: stats.json could not be read ({Reason}); it has no cohort metrics", jobId, e.Message);
            return null;
        }
    }
}
