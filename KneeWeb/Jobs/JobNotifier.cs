using System.Collections.Concurrent;

namespace KneeWeb.Jobs;

/// <summary>
/// The one place job changes are announced. Blazor components subscribe (and marshal with
/// InvokeAsync, unsubscribing in Dispose); the hub bridge forwards to SignalR groups.
/// A slow or failing subscriber never holds up or breaks a job.
/// </summary>
public sealed class JobNotifier(ILogger<JobNotifier> logger)
{
    private readonly ConcurrentDictionary<Guid, JobPreview> latestPreview = new();
    private readonly ConcurrentDictionary<Guid, JobUpdate> latestUpdate = new();

    public event Func<JobUpdate, Task>? Updated;

    public event Func<JobPreview, Task>? PreviewPublished;

    /// <summary>The newest live update of a job seen by this process, if any (fresher than the throttled row).</summary>
    public JobUpdate? LatestUpdate(Guid jobId) => latestUpdate.TryGetValue(jobId, out JobUpdate? u) ? u : null;

    public JobPreview? LatestPreview(Guid jobId) => latestPreview.TryGetValue(jobId, out JobPreview? p) ? p : null;

    public void Publish(JobUpdate update)
    {
        ArgumentNullException.ThrowIfNull(update);
        if (update.Status is Data.JobStatus.Queued or Data.JobStatus.Running)
        {
            latestUpdate[update.JobId] = update;
        }
        else
        {
            // A finished job's row is final and complete; keep nothing per job in memory for it.
            latestUpdate.TryRemove(update.JobId, out _);
            latestPreview.TryRemove(update.JobId, out _);
        }

        Fire(Updated, update);
    }

    public void Publish(JobPreview preview)
    {
        ArgumentNullException.ThrowIfNull(preview);
        latestPreview[preview.JobId] = preview;
        Fire(PreviewPublished, preview);
    }

    public void Forget(Guid jobId)
    {
        latestPreview.TryRemove(jobId, out _);
        latestUpdate.TryRemove(jobId, out _);
    }

    private void Fire<T>(Func<T, Task>? handlers, T value)
    {
        if (handlers is null)
        {
            return;
        }

        foreach (Delegate d in handlers.GetInvocationList())
        {
            _ = InvokeSafely((Func<T, Task>)d, value);
        }
    }

    private async Task InvokeSafely<T>(Func<T, Task> handler, T value)
    {
        try
        {
            await handler(value);
        }
#pragma warning disable CA1031 // A subscriber's failure (a closed circuit, say) must not reach the job.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            logger.LogDebug(ex, "A job update subscriber failed");
        }
    }
}
