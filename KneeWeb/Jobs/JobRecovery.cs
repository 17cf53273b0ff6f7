using KneeWeb.Data;
using KneeWeb.Pipeline;
using KneeWeb.Setup;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace KneeWeb.Jobs;

/// <summary>
/// At start-up, puts the jobs a dead process left behind back on their way: Running jobs are
/// retried (attempt + 1) or failed "interrupted by a restart"; Queued jobs are queued again in
/// the order they were submitted; half-written job folders and orphan upload folders are removed.
/// A job that was running each time the server died is failed, never run again: it may be what killed it.
/// </summary>
public sealed class JobRecovery(JobStore store, JobQueue queue, IOptions<KneeWebOptions> options, ILogger<JobRecovery> logger)
{
    public const string InterruptedReason = "interrupted by a restart";

    /// <summary>
    /// Fixes the rows and folders a dead process left. Runs before the server listens, so nobody
    /// is ever shown a stale "Running" job.
    /// </summary>
    public async Task RepairAsync(CancellationToken ct)
    {
        // Recovery acts for the site, not for a user: it bypasses the job query filter explicitly.
        using IDisposable system = Data.JobVisibility.EnterSystem();
        KneeWebOptions settings = options.Value;
        int removed = JobFolderWriter.RemoveStaleTempFolders(settings.JobsPath);
        if (removed > 0)
        {
            logger.LogInformation("Removed {Count} half-written job folder(s)", removed);
        }

        int orphans = await RemoveOrphanUploadsAsync(settings.UploadsPath, ct);
        if (orphans > 0)
        {
            logger.LogInformation("Removed {Count} upload folder(s) no job was made from (an upload cut off by a crash)", orphans);
        }

        int maxAttempts = Math.Max(1, settings.Jobs.MaxAttempts);
        await store.WriteAsync(async db =>
        {
            // A job in Slurm's hands keeps running without this process: it is re-attached, never retried.
            bool slurm = settings.Jobs.Executor == JobExecutorKind.Slurm;
            List<Job> interrupted = await db.Jobs.Where(j => j.Status == JobStatus.Running && !(slurm && j.SlurmJobId != null)).ToListAsync(ct);
            foreach (Job job in interrupted)
            {
                if (job.Attempt < maxAttempts)
                {
                    job.Status = JobStatus.Queued;
                    job.Percent = 0;
                    job.CurrentStepIndex = 0;
                    job.CurrentStep = null;
                    db.JobEvents.Add(JobStore.Event(job.Id, "retry", $"Retrying: the previous run was {InterruptedReason} (attempt {job.Attempt} of {maxAttempts})."));
                }
                else
                {
                    string reason = StoppedReason(job.Attempt);
                    JobError error = ErrorCatalog.Create(ErrorCode.PIPELINE_ERROR, $"Job was running when the server stopped, {job.Attempt} time(s); it is not retried again.", $"The job was {InterruptedReason}: {reason}.");
                    job.Status = JobStatus.Failed;
                    job.FinishedUtc = DateTime.UtcNow;
                    job.ErrorCode = error.CodeName;
                    job.ErrorMessage = error.Message;
                    job.ErrorHint = error.Hint;
                    job.ErrorDetails = error.Details;
                    db.JobEvents.Add(JobStore.Event(job.Id, "error", $"Failed: {InterruptedReason}: {reason}; it is not retried again."));
                }
            }
        }, ct);
    }

    /// <summary>Why a job is given up after <paramref name="attempts"/> runs that each ended with the server.</summary>
    public static string StoppedReason(int attempts) => attempts switch
    {
        1 => "the server stopped while running this job",
        2 => "the server stopped twice while running this job",
        _ => $"the server stopped {attempts} times while running this job",
    };

    /// <summary>
    /// Removes upload folders that no job row names: a process killed mid-upload leaves one behind.
    /// Runs before the server listens, so no upload can be in progress.
    /// </summary>
    private async Task<int> RemoveOrphanUploadsAsync(string uploadsRoot, CancellationToken ct)
    {
        if (!Directory.Exists(uploadsRoot))
        {
            return 0;
        }

        HashSet<Guid> known = await store.ReadAsync(async db => (await db.Jobs.AsNoTracking().Select(j => j.Id).ToListAsync(ct)).ToHashSet(), ct);
        int removed = 0;
        foreach (string folder in Directory.EnumerateDirectories(uploadsRoot))
        {
            if (Guid.TryParse(Path.GetFileName(folder), out Guid id) && known.Contains(id))
            {
                continue;
            }

            try
            {
                Directory.Delete(folder, recursive: true);
                removed++;
            }
            catch (IOException ex)
            {
                logger.LogWarning(ex, "Could not remove the orphan upload folder {Folder}", Path.GetFileName(folder));
            }
            catch (UnauthorizedAccessException ex)
            {
                logger.LogWarning(ex, "Could not remove the orphan upload folder {Folder}", Path.GetFileName(folder));
            }
        }

        return removed;
    }

    /// <summary>
    /// Queues the waiting jobs again, oldest first (run by the worker, which drains the queue);
    /// with the Slurm executor, also the running jobs it handed to Slurm, which it re-attaches to.
    /// </summary>
    public async Task RequeueAsync(CancellationToken ct)
    {
        bool slurm = options.Value.Jobs.Executor == JobExecutorKind.Slurm;
        List<Guid> queued = await store.ReadAsync(
            db => db.Jobs.AsNoTracking()
                .Where(j => j.Status == JobStatus.Queued || (slurm && j.Status == JobStatus.Running && j.SlurmJobId != null))
                .OrderBy(j => j.CreatedUtc).Select(j => j.Id).ToListAsync(ct), ct);
        foreach (Guid id in queued)
        {
            await queue.EnqueueAsync(id, ct);
        }

        if (queued.Count > 0)
        {
            logger.LogInformation("Re-queued {Count} job(s) at start-up", queued.Count);
        }
    }
}
