using KneeWeb.Data;
using KneeWeb.Jobs.Cohort;
using KneeWeb.Pipeline;
using Microsoft.EntityFrameworkCore;

namespace KneeWeb.Jobs;

/// <summary>How a job's row ends, whichever executor ran it: completed with its artifacts, or failed/cancelled with a catalog error.</summary>
public sealed class JobEndings(JobStore store, JobNotifier notifier, JobMetricsRecorder metrics, CohortOutlierService outliers, ILogger<JobEndings> logger)
{
    public async Task CompleteAsync(Guid jobId, string? detectedFormat, IReadOnlyList<ArtifactInfo> artifacts)
    {
        ArgumentNullException.ThrowIfNull(artifacts);
        JobMetrics? recorded = await store.WriteAsync(async db =>
        {
            Job row = await db.Jobs.FirstAsync(j => j.Id == jobId);
            row.Status = JobStatus.Completed;
            row.Percent = 100;
            row.CurrentStepIndex = KneeSteps.Complete.Index;
            row.CurrentStep = KneeSteps.Complete.Name;
            row.FinishedUtc = DateTime.UtcNow;
            row.DetectedFormat = detectedFormat ?? row.DetectedFormat;
            await db.Artifacts.Where(a => a.JobId == jobId).ExecuteDeleteCompatAsync(db);
            foreach (ArtifactInfo a in artifacts)
            {
                db.Artifacts.Add(new Artifact { JobId = jobId, Name = a.Name, Kind = a.Kind, SizeBytes = a.SizeBytes, Sha256 = a.Sha256 });
            }

            db.JobEvents.Add(JobStore.Event(jobId, "status", "Completed"));
            // The cohort's metrics row is written with the status, so a completed job is never missing from it.
            return await metrics.StageAsync(db, row);
        });
        if (recorded is not null)
        {
            await outliers.RefreshAsync(recorded.ModelName);
        }

        notifier.Publish(new JobUpdate(jobId, JobStatus.Completed, KneeSteps.Complete.Index, KneeSteps.All.Count, KneeSteps.Complete.Name, "finished", 1, 100, 0, null, null, DateTime.UtcNow));
    }

    /// <summary>
    /// Records how a job ended. A full disk may refuse even this row: the write is retried a few times
    /// (the failed job's partial folder is gone by now, which usually frees room), and the ending is
    /// pushed to the viewers either way, so nobody watches a job "running" that has stopped.
    /// <paramref name="known"/> is the row as the caller last saw it, for that last push.
    /// </summary>
    public async Task FailAsync(Guid jobId, JobError error, JobStatus status, Job? known = null)
    {
        ArgumentNullException.ThrowIfNull(error);
        for (int attempt = 1; ; attempt++)
        {
            try
            {
                await WriteFailureAsync(jobId, error, status);
                return;
            }
            catch (Exception ex) when (DiskFull.Is(ex))
            {
                if (attempt >= 3)
                {
                    logger.LogError(ex, "Job {JobId} ended with {Code} but the disk is full: its row still says Running until the next start", jobId, error.Code);
                    notifier.Publish(new JobUpdate(jobId, status, known?.CurrentStepIndex ?? 0, KneeSteps.All.Count, known?.CurrentStep, "failed", 0, known?.Percent ?? 0, null, error.Message,
                        new JobErrorView(error.CodeName, error.Message, error.Hint), DateTime.UtcNow));
                    return;
                }

                await Task.Delay(TimeSpan.FromSeconds(attempt));
            }
        }
    }

    private async Task WriteFailureAsync(Guid jobId, JobError error, JobStatus status)
    {
        Job? row = await store.WriteAsync(async db =>
        {
            Job? r = await db.Jobs.FirstOrDefaultAsync(j => j.Id == jobId);
            if (r is null)
            {
                return null;
            }

            r.Status = status;
            r.FinishedUtc = DateTime.UtcNow;
            r.ErrorCode = error.CodeName;
            r.ErrorMessage = error.Message;
            r.ErrorHint = error.Hint;
            r.ErrorDetails = error.Details;
            db.JobEvents.Add(JobStore.Event(jobId, status == JobStatus.Cancelled ? "status" : "error", $"{status}: {error.CodeName}: {error.Message}", r.CurrentStepIndex, r.CurrentStep));
            return r;
        });
        if (row is not null)
        {
            notifier.Publish(new JobUpdate(jobId, status, row.CurrentStepIndex, KneeSteps.All.Count, row.CurrentStep, "failed", 0, row.Percent, null, error.Message,
                new JobErrorView(error.CodeName, error.Message, error.Hint), DateTime.UtcNow));
        }
    }
}
