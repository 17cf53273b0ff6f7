using KneeWeb.Jobs;
using Microsoft.AspNetCore.SignalR;

namespace KneeWeb.Api;

/// <summary>
/// `/hubs/jobs`: a client joins a job (or "all") and receives `progress`, `preview`, `completed`
/// and `failed` events as JSON. Joining sends the current state at once, so nobody waits for the
/// next step to learn where a job is.
/// </summary>
public sealed class JobsHub(JobService jobs, JobNotifier notifier) : Hub
{
    public const string AllJobsGroup = "jobs:all";

    public static string GroupOf(Guid jobId) => $"job:{jobId:D}";

    public async Task<bool> Join(string jobId)
    {
        if (!Guid.TryParse(jobId, out Guid id) || await jobs.GetAsync(id, Context.ConnectionAborted) is not { } job)
        {
            return false;
        }

        await Groups.AddToGroupAsync(Context.ConnectionId, GroupOf(id), Context.ConnectionAborted);
        await Clients.Caller.SendAsync("progress", Api.JobView.From(job, notifier.LatestUpdate(id)), Context.ConnectionAborted);
        if (notifier.LatestPreview(id) is { } preview)
        {
            await Clients.Caller.SendAsync("preview", preview, Context.ConnectionAborted);
        }

        return true;
    }

    public Task Leave(string jobId) =>
        Guid.TryParse(jobId, out Guid id) ? Groups.RemoveFromGroupAsync(Context.ConnectionId, GroupOf(id)) : Task.CompletedTask;

    public Task JoinAll() => Groups.AddToGroupAsync(Context.ConnectionId, AllJobsGroup);
}

/// <summary>Forwards the notifier's events to hub groups, for clients outside the Blazor circuit.</summary>
public sealed class JobsHubBridge(JobNotifier notifier, IHubContext<JobsHub> hub) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        notifier.Updated += OnUpdated;
        notifier.PreviewPublished += OnPreview;
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        notifier.Updated -= OnUpdated;
        notifier.PreviewPublished -= OnPreview;
        return Task.CompletedTask;
    }

    private async Task OnUpdated(JobUpdate update)
    {
        string method = update.Status switch
        {
            Data.JobStatus.Completed => "completed",
            Data.JobStatus.Failed or Data.JobStatus.Cancelled => "failed",
            _ => "progress",
        };
        await hub.Clients.Groups(JobsHub.GroupOf(update.JobId), JobsHub.AllJobsGroup).SendAsync(method, update);
    }

    private Task OnPreview(JobPreview preview) =>
        hub.Clients.Group(JobsHub.GroupOf(preview.JobId)).SendAsync("preview", preview);
}
