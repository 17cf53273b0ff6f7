using KneeWeb.Data;
using KneeWeb.Setup;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace KneeWeb.Jobs;

/// <summary>
/// Applies the retention policy: finished jobs older than the configured days are deleted with
/// their files, and, when configured, uploaded originals are removed once their job completed.
/// Nothing is deleted unless a setting asks for it.
/// </summary>
public sealed class RetentionService(JobStore store, JobService jobs, IOptions<KneeWebOptions> options, ILogger<RetentionService> logger) : BackgroundService
{
    private readonly KneeWebOptions settings = options.Value;

    /// <summary>One pass of the policy; returns (jobs deleted, originals removed).</summary>
    public async Task<(int Jobs, int Originals)> SweepAsync(CancellationToken ct)
    {
        // Retention acts for the site, not for a user: it bypasses the job query filter explicitly.
        using IDisposable system = Data.JobVisibility.EnterSystem();
        RetentionOptions retention = settings.Retention;
        int deletedJobs = 0, removedOriginals = 0;
        if (retention.ResultsDays is int days && days >= 0)
        {
            DateTime cutoff = DateTime.UtcNow.AddDays(-days);
            List<Guid> expired = await store.ReadAsync(db => db.Jobs.AsNoTracking()
                .Where(j => (j.Status == JobStatus.Completed || j.Status == JobStatus.Failed || j.Status == JobStatus.Cancelled) && j.FinishedUtc != null && j.FinishedUtc < cutoff)
                .Select(j => j.Id).ToListAsync(ct), ct);
            foreach (Guid id in expired)
            {
                if (await jobs.DeleteAsync(id, ct))
                {
                    deletedJobs++;
                }
            }
        }

        if (retention.DeleteOriginalsAfterProcessing)
        {
            List<Guid> completed = await store.ReadAsync(db => db.Jobs.AsNoTracking()
                .Where(j => j.Status == JobStatus.Completed).Select(j => j.Id).ToListAsync(ct), ct);
            foreach (Guid id in completed)
            {
                string upload = Path.Combine(settings.UploadsPath, id.ToString("D"));
                if (Directory.Exists(upload))
                {
                    Directory.Delete(upload, recursive: true);
                    await store.WriteAsync(db =>
                    {
                        db.JobEvents.Add(JobStore.Event(id, "retention", "The uploaded original was deleted after processing (retention policy)."));
                        return Task.CompletedTask;
                    }, ct);
                    removedOriginals++;
                }
            }
        }

        if (deletedJobs + removedOriginals > 0)
        {
            logger.LogInformation("Retention: deleted {Jobs} expired job(s), {Originals} original(s)", deletedJobs, removedOriginals);
        }

        return (deletedJobs, removedOriginals);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (settings.Retention.ResultsDays is null && !settings.Retention.DeleteOriginalsAfterProcessing)
        {
            return;
        }

        using var timer = new PeriodicTimer(settings.Retention.SweepInterval);
        do
        {
            try
            {
                await SweepAsync(stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
#pragma warning disable CA1031 // A failed sweep is retried at the next interval; the site goes on.
            catch (Exception ex)
#pragma warning restore CA1031
            {
                logger.LogError(ex, "Retention sweep failed");
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken));
    }
}
