using System.Text.Json;
using KneeWeb.Data;
using KneeWeb.Pipeline;
using KneeWeb.Setup;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace KneeWeb.Jobs;

/// <summary>A stored upload, ready to become a job.</summary>
public sealed record StoredUpload(Guid JobId, string RelativePath, string OriginalFileName, long SizeBytes, string DetectedFormat);

/// <summary>Filters for job lists (all optional).</summary>
public sealed record JobFilter(JobStatus? Status = null, string? Owner = null, string? Subject = null, int Limit = 500);

/// <summary>What pages and the API do with jobs: submit, list, cancel, delete.</summary>
public sealed class JobService(
    JobStore store,
    JobQueue queue,
    JobNotifier notifier,
    JobCancellations cancellations,
    IOptions<KneeWebOptions> options)
{
    private readonly KneeWebOptions settings = options.Value;

    /// <summary>Writes the job row first, then queues its id: the row is the truth.</summary>
    public Task<Job> SubmitAsync(StoredUpload upload, PipelineOptions pipelineOptions, string owner, CancellationToken ct = default) =>
        SubmitAsync(upload, pipelineOptions, owner, null, Group.DefaultId, ct);

    /// <summary>Submits a job owned by an account, in a group (see Security.JobAccess).</summary>
    public async Task<Job> SubmitAsync(StoredUpload upload, PipelineOptions pipelineOptions, string owner, string? ownerUserId, int groupId, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(upload);
        ArgumentNullException.ThrowIfNull(pipelineOptions);
        var job = new Job
        {
            Id = upload.JobId,
            Owner = owner,
            OwnerUserId = ownerUserId,
            GroupId = groupId,
            SubjectId = string.IsNullOrWhiteSpace(pipelineOptions.SubjectId) ? null : pipelineOptions.SubjectId.Trim(),
            KneeSide = pipelineOptions.KneeSide == "auto" ? null : pipelineOptions.KneeSide,
            Notes = pipelineOptions.Notes,
            Tags = JobTags.ToStored(pipelineOptions.Tags),
            InputFileName = upload.OriginalFileName,
            InputPath = upload.RelativePath,
            InputSizeBytes = upload.SizeBytes,
            DetectedFormat = upload.DetectedFormat,
            OptionsJson = JsonSerializer.Serialize(pipelineOptions),
            Status = JobStatus.Queued,
            CreatedUtc = DateTime.UtcNow,
        };
        await store.WriteAsync(db =>
        {
            db.Jobs.Add(job);
            db.JobEvents.Add(JobStore.Event(job.Id, "status", $"Queued ({upload.DetectedFormat}, {upload.SizeBytes} bytes)"));
            return Task.CompletedTask;
        }, ct);
        // Announce before queueing: once queued, a worker may announce Running at any moment.
        notifier.Publish(new JobUpdate(job.Id, JobStatus.Queued, 0, KneeSteps.All.Count, null, null, 0, 0, null, "Queued", null, DateTime.UtcNow));
        await queue.EnqueueAsync(job.Id, CancellationToken.None);
        return job;
    }

    public Task<Job?> GetAsync(Guid id, CancellationToken ct = default) => store.FindAsync(id, ct);

    public Task<Job?> GetWithDetailsAsync(Guid id, CancellationToken ct = default) =>
        store.ReadAsync(db => db.Jobs.AsNoTracking()
            .Include(j => j.Events.OrderBy(e => e.Id))
            .Include(j => j.Artifacts.OrderBy(a => a.Name))
            .FirstOrDefaultAsync(j => j.Id == id, ct), ct);

    public Task<List<Job>> ListAsync(JobFilter filter, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(filter);
        return store.ReadAsync(db =>
        {
            IQueryable<Job> q = db.Jobs.AsNoTracking();
            if (filter.Status is { } status)
            {
                q = q.Where(j => j.Status == status);
            }

            if (!string.IsNullOrWhiteSpace(filter.Owner))
            {
                q = q.Where(j => j.Owner == filter.Owner);
            }

            if (!string.IsNullOrWhiteSpace(filter.Subject))
            {
                q = q.Where(j => j.SubjectId != null && j.SubjectId.Contains(filter.Subject));
            }

            return q.OrderByDescending(j => j.CreatedUtc).Take(Math.Clamp(filter.Limit, 1, 5000)).ToListAsync(ct);
        }, ct);
    }

    public Task<int> CountQueuedAsync(CancellationToken ct = default) =>
        store.ReadAsync(db => db.Jobs.CountAsync(j => j.Status == JobStatus.Queued, ct), ct);

    public Task<List<Artifact>> ArtifactsAsync(Guid id, CancellationToken ct = default) =>
        store.ReadAsync(db => db.Artifacts.AsNoTracking().Where(a => a.JobId == id).OrderBy(a => a.Name).ToListAsync(ct), ct);

    /// <summary>The file of an artifact, if the job has it and it is still on disk.</summary>
    public string? ArtifactPath(Guid id, string name)
    {
        string folder = Path.Combine(settings.JobsPath, id.ToString("D"));
        string path;
        try
        {
            path = JobFolderWriter.SafeChildPath(folder, name);
        }
        catch (ArgumentException)
        {
            return null;
        }

        return File.Exists(path) ? path : null;
    }

    /// <summary>Cancels a queued or running job. Returns false when it had already ended.</summary>
    public async Task<bool> CancelAsync(Guid id, CancellationToken ct = default)
    {
        JobStatus? before = await store.WriteAsync(async db =>
        {
            Job? job = await db.Jobs.FirstOrDefaultAsync(j => j.Id == id, ct);
            if (job is null)
            {
                return (JobStatus?)null;
            }

            JobStatus previous = job.Status;
            if (job.Status == JobStatus.Queued)
            {
                JobError error = ErrorCatalog.Create(ErrorCode.CANCELLED, "Cancelled by a user before it started.");
                job.Status = JobStatus.Cancelled;
                job.FinishedUtc = DateTime.UtcNow;
                job.ErrorCode = error.CodeName;
                job.ErrorMessage = error.Message;
                job.ErrorHint = error.Hint;
                job.ErrorDetails = error.Details;
                db.JobEvents.Add(JobStore.Event(id, "status", "Cancelled before it started"));
            }
            else if (job.Status == JobStatus.Running)
            {
                job.CancelRequested = true;
                db.JobEvents.Add(JobStore.Event(id, "status", "Cancel requested"));
            }

            return previous;
        }, ct);

        switch (before)
        {
            case JobStatus.Queued:
                // A job waiting on a cluster has a follower here that withdraws it from the cluster.
                cancellations.Cancel(id);
                notifier.Publish(new JobUpdate(id, JobStatus.Cancelled, 0, KneeSteps.All.Count, null, null, 0, 0, null, "Cancelled",
                    new JobErrorView(nameof(ErrorCode.CANCELLED), ErrorCatalog.Get(ErrorCode.CANCELLED).Message, ErrorCatalog.Get(ErrorCode.CANCELLED).Hint), DateTime.UtcNow));
                return true;
            case JobStatus.Running:
                cancellations.Cancel(id);
                return true;
            default:
                return false;
        }
    }

    /// <summary>
    /// Leaves a job out of the cohort (tables, exports, outlier models) but keeps it and its files.
    /// Returns the changed job, or null when there is no such job.
    /// </summary>
    public Task<Job?> ExcludeFromCohortAsync(Guid id, string by, string? reason, CancellationToken ct = default) =>
        ChangeAsync(id, job => job.ExcludeFromCohort(by, reason, DateTime.UtcNow), ct);

    /// <summary>Puts an excluded job back into the cohort. Returns the changed job, or null when there is no such job.</summary>
    public Task<Job?> IncludeInCohortAsync(Guid id, CancellationToken ct = default) =>
        ChangeAsync(id, job => job.IncludeInCohort(), ct);

    private Task<Job?> ChangeAsync(Guid id, Action<Job> change, CancellationToken ct) =>
        store.WriteAsync(async db =>
        {
            Job? job = await db.Jobs.FirstOrDefaultAsync(j => j.Id == id, ct);
            if (job is not null)
            {
                change(job);
            }

            return job;
        }, ct);

    /// <summary>Deletes a finished job, its row, its upload and its files.</summary>
    public async Task<bool> DeleteAsync(Guid id, CancellationToken ct = default)
    {
        bool deleted = await store.WriteAsync(async db =>
        {
            Job? job = await db.Jobs.FirstOrDefaultAsync(j => j.Id == id, ct);
            if (job is null || job.Status is JobStatus.Queued or JobStatus.Running)
            {
                return false;
            }

            db.Jobs.Remove(job);
            return true;
        }, ct);
        if (deleted)
        {
            DeleteFolder(Path.Combine(settings.JobsPath, id.ToString("D")));
            DeleteFolder(Path.Combine(settings.UploadsPath, id.ToString("D")));
            notifier.Forget(id);
        }

        return deleted;
    }

    private static void DeleteFolder(string path)
    {
        if (Directory.Exists(path))
        {
            Directory.Delete(path, recursive: true);
        }
    }
}
