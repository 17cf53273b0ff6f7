using System.Threading.Channels;
using KneeWeb.Data;
using KneeWeb.Pipeline;
using Microsoft.EntityFrameworkCore;

namespace KneeWeb.Jobs;

/// <summary>
/// Observes one running job: pushes every report live through the notifier at once, and persists
/// progress to the row (throttled; step boundaries always) so a reload shows where the job is.
/// Database writes run in order on one background loop, off the pipeline's thread.
/// </summary>
internal sealed class JobProgressRecorder : IPipelineObserver
{
    private readonly Guid jobId;
    private readonly JobStore store;
    private readonly JobNotifier notifier;
    private readonly TimeSpan persistInterval;
    private readonly Channel<Func<KneeWebDbContext, Task>> writes = Channel.CreateUnbounded<Func<KneeWebDbContext, Task>>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Task writerLoop;
    private DateTime lastPersistUtc = DateTime.MinValue;
    private int lastStepIndex = -1;

    public JobProgressRecorder(Guid jobId, JobStore store, JobNotifier notifier, TimeSpan persistInterval)
    {
        this.jobId = jobId;
        this.store = store;
        this.notifier = notifier;
        this.persistInterval = persistInterval;
        writerLoop = Task.Run(DrainAsync);
    }

    public void OnProgress(PipelineProgress progress)
    {
        ArgumentNullException.ThrowIfNull(progress);
        notifier.Publish(new JobUpdate(jobId, JobStatus.Running, progress.StepIndex, progress.StepCount, progress.StepName,
            progress.StepState.ToString().ToLowerInvariant(), progress.StepFraction, progress.OverallPercent, progress.EtaSeconds,
            progress.Message, null, DateTime.UtcNow));

        bool newStep = progress.StepIndex != lastStepIndex;
        DateTime now = DateTime.UtcNow;
        if (!newStep && now - lastPersistUtc < persistInterval)
        {
            return;
        }

        if (newStep && progress.StepState == StepState.Running)
        {
            AddEvent(JobStore.Event(jobId, "step-started", progress.StepName, progress.StepIndex, progress.StepName));
        }

        lastStepIndex = progress.StepIndex;
        lastPersistUtc = now;
        Enqueue(async db =>
        {
            Job? job = await db.Jobs.FirstOrDefaultAsync(j => j.Id == jobId);
            if (job is { Status: JobStatus.Running })
            {
                job.CurrentStepIndex = progress.StepIndex;
                job.CurrentStep = progress.StepName;
                job.Percent = progress.OverallPercent;
            }
        });
    }

    public void OnStepFinished(StepDefinition step, TimeSpan duration)
    {
        ArgumentNullException.ThrowIfNull(step);
        AddEvent(JobStore.Event(jobId, "step-finished", $"{step.Name} finished", step.Index, step.Name, Math.Round(duration.TotalSeconds, 4)));
    }

    public void OnStepSkipped(StepDefinition step, string reason)
    {
        ArgumentNullException.ThrowIfNull(step);
        AddEvent(JobStore.Event(jobId, "step-skipped", reason, step.Index, step.Name));
    }

    public void OnPreview(PipelinePreview preview)
    {
        ArgumentNullException.ThrowIfNull(preview);
        notifier.Publish(new JobPreview(jobId, preview.Plane, preview.Slice, preview.Fraction, Convert.ToBase64String(preview.Png), DateTime.UtcNow));
    }

    /// <summary>Waits until every queued write has reached the database.</summary>
    public async Task FlushAsync()
    {
        writes.Writer.TryComplete();
        await writerLoop;
    }

    private void Enqueue(Func<KneeWebDbContext, Task> write) => writes.Writer.TryWrite(write);

    /// <summary>Queues an event stamped now, when it happened, not when it reaches the database.</summary>
    private void AddEvent(JobEvent jobEvent) => Enqueue(db =>
    {
        db.JobEvents.Add(jobEvent);
        return Task.CompletedTask;
    });

    private async Task DrainAsync()
    {
        await foreach (Func<KneeWebDbContext, Task> write in writes.Reader.ReadAllAsync())
        {
            // Progress writes must not fail a job: the final status write will tell the truth.
            try
            {
                await store.WriteAsync(write);
            }
#pragma warning disable CA1031
            catch (Exception)
#pragma warning restore CA1031
            {
            }
        }
    }
}
