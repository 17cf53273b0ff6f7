using System.Collections.Concurrent;
using KneeWeb.Data;
using KneeWeb.Jobs;
using KneeWeb.Security;
using Microsoft.AspNetCore.SignalR;

namespace KneeWeb.Api;

/// <summary>
/// `/hubs/jobs`: a client joins a job (or "all") and receives `progress`, `preview`, `completed`
/// and `failed` events as JSON. Joining sends the current state at once, so nobody waits for the
/// next step to learn where a job is. The hub needs sign-in (fallback policy; scripts pass their token
/// as access_token=); Join answers false for a job the caller may not see exactly as for a missing
/// one, and JoinAll delivers only events of jobs the caller may see (Admins: all; others: their groups).
/// </summary>
public sealed class JobsHub(JobNotifier notifier, JobAccess access) : Hub
{
    /// <summary>Admins' "all jobs" group.</summary>
    public const string AllJobsGroup = "jobs:all";

    public static string GroupOf(Guid jobId) => $"job:{jobId:D}";

    /// <summary>The hub group receiving every event of one lab group's jobs.</summary>
    public static string LabGroupOf(int groupId) => $"jobs:group:{groupId}";

    public async Task<bool> Join(string jobId)
    {
        if (!Guid.TryParse(jobId, out Guid id))
        {
            return false;
        }

        AccessSubject subject = await access.SubjectAsync(Context.User, Context.ConnectionAborted);
        string? remote = Context.GetHttpContext()?.Connection.RemoteIpAddress?.ToString();
        if (await access.FindAsync(subject, Context.User, remote, id, "hub join", Context.ConnectionAborted) is not { } job)
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

    /// <summary>Every event of the jobs the caller may see, now and later (group memberships as of this call).</summary>
    public async Task JoinAll()
    {
        AccessSubject subject = await access.SubjectAsync(Context.User, Context.ConnectionAborted);
        if (subject.IsAdmin)
        {
            await Groups.AddToGroupAsync(Context.ConnectionId, AllJobsGroup, Context.ConnectionAborted);
            return;
        }

        foreach (int groupId in subject.GroupIds)
        {
            await Groups.AddToGroupAsync(Context.ConnectionId, LabGroupOf(groupId), Context.ConnectionAborted);
        }
    }
}

/// <summary>Forwards the notifier's events to hub groups, for clients outside the Blazor circuit.</summary>
public sealed class JobsHubBridge(JobNotifier notifier, IHubContext<JobsHub> hub, JobStore store) : IHostedService
{
    // A job's lab group never changes, so it is looked up once per job.
    private readonly ConcurrentDictionary<Guid, int> labGroups = new();

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
        string[] groups = await LabGroupAsync(update.JobId) is int labGroup
            ? [JobsHub.GroupOf(update.JobId), JobsHub.AllJobsGroup, JobsHub.LabGroupOf(labGroup)]
            : [JobsHub.GroupOf(update.JobId), JobsHub.AllJobsGroup];
        await hub.Clients.Groups(groups).SendAsync(method, update);
        if (update.Status is Data.JobStatus.Completed or Data.JobStatus.Failed or Data.JobStatus.Cancelled)
        {
            labGroups.TryRemove(update.JobId, out _);
        }
    }

    private async Task<int?> LabGroupAsync(Guid jobId)
    {
        if (labGroups.TryGetValue(jobId, out int cached))
        {
            return cached;
        }

        // Events come from the worker or from whoever changed the job: read past the request's filter.
        Job? job;
        using (JobVisibility.EnterSystem())
        {
            job = await store.FindAsync(jobId, CancellationToken.None);
        }

        if (job is null)
        {
            return null;
        }

        labGroups[jobId] = job.GroupId;
        return job.GroupId;
    }

    private Task OnPreview(JobPreview preview) =>
        hub.Clients.Group(JobsHub.GroupOf(preview.JobId)).SendAsync("preview", preview);
}
