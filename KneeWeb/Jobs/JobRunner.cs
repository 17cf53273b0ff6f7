using System.Text.Json;
using KneeWeb.Data;
using KneeWeb.Pipeline;
using KneeWeb.Setup;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace KneeWeb.Jobs;

/// <summary>
/// Runs one queued job start to finish: claims the row, runs the pipeline under the user's cancel,
/// the job's time limit and the host's shutdown, and records how it ended. Never throws: one job's
/// failure must not stop the worker.
/// </summary>
public sealed class JobRunner(
    JobStore store,
    JobNotifier notifier,
    JobCancellations cancellations,
    KneePipeline pipeline,
    JobEndings endings,
    IOptions<KneeWebOptions> options,
    ILogger<JobRunner> logger)
{
    private readonly KneeWebOptions settings = options.Value;

    public async Task RunAsync(Guid jobId, CancellationToken stopping)
    {
        Job? job = await ClaimAsync(jobId, stopping);
        if (job is null)
        {
            return;
        }

        using var userCancel = new CancellationTokenSource();
        using var timeout = new CancellationTokenSource(settings.Jobs.Timeout);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(userCancel.Token, timeout.Token, stopping);
        cancellations.Register(jobId, userCancel);
        var recorder = new JobProgressRecorder(jobId, store, notifier, settings.Jobs.ProgressPersistInterval);
        try
        {
            // A cancel that arrived between the claim and the registration still counts.
            if ((await store.FindAsync(jobId, CancellationToken.None))?.CancelRequested == true)
            {
                await userCancel.CancelAsync();
            }

            PipelineContext context = CreateContext(job);
            var run = new PipelineRun(recorder, settings.Jobs.DiagnosticStepDelay);
            IReadOnlyList<ArtifactInfo> artifacts = await pipeline.RunAsync(context, run, linked.Token);
            await recorder.FlushAsync();
            await CompleteAsync(job, context, artifacts);
        }
        catch (Exception ex) when (ex is OperationCanceledException || ex.InnerException is OperationCanceledException)
        {
            await recorder.FlushAsync();
            if (userCancel.IsCancellationRequested)
            {
                await FailAsync(job, ErrorCatalog.Create(ErrorCode.CANCELLED, "Cancelled by a user."), JobStatus.Cancelled);
            }
            else if (timeout.IsCancellationRequested)
            {
                await FailAsync(job, ErrorCatalog.Create(ErrorCode.TIMEOUT, $"The job ran past its time limit of {settings.Jobs.Timeout}."), JobStatus.Failed);
            }
            else
            {
                await RequeueAfterShutdownAsync(job);
            }
        }
#pragma warning disable CA1031 // Every other failure becomes the job's error; the worker goes on.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            await recorder.FlushAsync();
            JobError error = ErrorMapper.Map(ex, null);
            logger.LogWarning(ex, "Job {JobId} failed with {Code}", jobId, error.Code);
            await FailAsync(job, error, JobStatus.Failed);
        }
        finally
        {
            cancellations.Unregister(jobId);
        }
    }

    private PipelineContext CreateContext(Job job)
    {
        PipelineOptions pipelineOptions = JsonSerializer.Deserialize<PipelineOptions>(job.OptionsJson) ?? new PipelineOptions();
        return new PipelineContext
        {
            JobId = job.Id,
            InputPath = Path.Combine(settings.FullDataRoot, job.InputPath),
            InputFileName = job.InputFileName,
            Options = pipelineOptions,
            OutputFolder = Path.Combine(settings.JobsPath, job.Id.ToString("D")),
            MemoryBudgetBytes = JobMemoryBudget.Resolve(settings.Jobs),
            MinFreeDiskBytes = settings.MinFreeDiskBytes,
        };
    }

    /// <summary>Queued -> Running, under the write gate, so a job never runs twice at once.</summary>
    private async Task<Job?> ClaimAsync(Guid jobId, CancellationToken ct)
    {
        Job? claimed = await store.WriteAsync(async db =>
        {
            Job? job = await db.Jobs.FirstOrDefaultAsync(j => j.Id == jobId, ct);
            if (job is null || job.Status != JobStatus.Queued)
            {
                return null;
            }

            job.Status = JobStatus.Running;
            job.Attempt++;
            job.StartedUtc = DateTime.UtcNow;
            job.CurrentStepIndex = 1;
            job.CurrentStep = KneeSteps.All[0].Name;
            job.Percent = 0;
            db.JobEvents.Add(JobStore.Event(jobId, "status", $"Running (attempt {job.Attempt})"));
            return job;
        }, ct);
        if (claimed is not null)
        {
            notifier.Publish(new JobUpdate(jobId, JobStatus.Running, 1, KneeSteps.All.Count, claimed.CurrentStep, "running", 0, 0, null, null, null, DateTime.UtcNow));
        }

        return claimed;
    }

    private Task CompleteAsync(Job job, PipelineContext context, IReadOnlyList<ArtifactInfo> artifacts) =>
        endings.CompleteAsync(job.Id, context.DetectedFormat, artifacts);

    private Task FailAsync(Job job, JobError error, JobStatus status) => endings.FailAsync(job.Id, error, status, job);

    /// <summary>The host is stopping: the job goes back to the queue and resumes at the next start.</summary>
    private async Task RequeueAfterShutdownAsync(Job job)
    {
        await store.WriteAsync(async db =>
        {
            Job? r = await db.Jobs.FirstOrDefaultAsync(j => j.Id == job.Id);
            if (r is { Status: JobStatus.Running })
            {
                r.Status = JobStatus.Queued;
                r.Percent = 0;
                r.CurrentStepIndex = 0;
                r.CurrentStep = null;
                db.JobEvents.Add(JobStore.Event(job.Id, "retry", "Interrupted by a server shutdown; it will run again when the server starts."));
            }
        });
    }
}

internal static class QueryableExtensions
{
    /// <summary>EF Core 6 has no ExecuteDelete: load and remove (artifact lists are short).</summary>
    public static async Task ExecuteDeleteCompatAsync<T>(this IQueryable<T> query, KneeWebDbContext db)
        where T : class
    {
        List<T> rows = await query.ToListAsync();
        db.RemoveRange(rows);
    }
}
