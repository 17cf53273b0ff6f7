using System.Collections.Concurrent;
using System.Security.Claims;
using KneeWeb.Data;
using KneeWeb.Jobs;
using KneeWeb.Security;
using Microsoft.AspNetCore.Identity;
using Microsoft.AspNetCore.SignalR;
using Microsoft.Extensions.Options;

namespace KneeWeb.Api;

/// <summary>
/// `/hubs/jobs`: a client joins a job (or "all") and receives `progress`, `preview`, `completed`
/// and `failed` events as JSON. Joining sends the current state at once, so nobody waits for the
/// next step to learn where a job is. The hub needs sign-in (fallback policy; scripts pass their token
/// as access_token=); Join answers false for a job the caller may not see exactly as for a missing
/// one, and JoinAll delivers only events of jobs the caller may see (Admins: all; others: their groups).
/// Every event is checked again against the caller's current rights (re-read at most every
/// KneeWeb:Security:HubRecheckSeconds), so a removed member, a demoted Admin or a locked account
/// stops receiving events without reconnecting.
/// </summary>
public sealed class JobsHub(JobNotifier notifier, JobAccess access, JobsHubAudience audience) : Hub
{
    public async Task<bool> Join(string jobId)
    {
        if (!Guid.TryParse(jobId, out Guid id))
        {
            return false;
        }

        // Read afresh (roles, lock-out, memberships): the connection may be older than a change.
        AccessSubject subject = await audience.FreshSubjectAsync(Context.User);
        string? remote = Context.GetHttpContext()?.Connection.RemoteIpAddress?.ToString();
        if (await access.FindAsync(subject, Context.User, remote, id, "hub join", Context.ConnectionAborted) is not { } job)
        {
            return false;
        }

        audience.Join(Context.ConnectionId, Context.User, subject, id);
        await Clients.Caller.SendAsync("progress", Api.JobView.From(job, notifier.LatestUpdate(id)), Context.ConnectionAborted);
        if (notifier.LatestPreview(id) is { } preview)
        {
            await Clients.Caller.SendAsync("preview", preview, Context.ConnectionAborted);
        }

        return true;
    }

    public Task Leave(string jobId)
    {
        if (Guid.TryParse(jobId, out Guid id))
        {
            audience.Leave(Context.ConnectionId, id);
        }

        return Task.CompletedTask;
    }

    /// <summary>Every event of the jobs the caller may see, now and later (rights re-checked as they change).</summary>
    public async Task JoinAll()
    {
        AccessSubject subject = await audience.FreshSubjectAsync(Context.User);
        audience.JoinAll(Context.ConnectionId, Context.User, subject);
    }

    public override Task OnDisconnectedAsync(Exception? exception)
    {
        audience.Remove(Context.ConnectionId);
        return base.OnDisconnectedAsync(exception);
    }
}

/// <summary>
/// Who listens to which jobs on the hub, with each connection's rights cached for a short time: the
/// bridge asks it for the connections an event may go to. A connection's rights are re-read (group
/// memberships, roles, lock-out) when older than <see cref="SecurityOptions.HubRecheckSeconds"/>, so the
/// cost is one small query per connection per interval, not per event.
/// </summary>
public sealed class JobsHubAudience(JobAccess access, IServiceScopeFactory scopes, IOptions<SecurityOptions> options, ILogger<JobsHubAudience> logger)
{
    private readonly ConcurrentDictionary<string, Listener> listeners = new(StringComparer.Ordinal);
    private readonly TimeSpan recheck = TimeSpan.FromSeconds(Math.Max(0, options.Value.HubRecheckSeconds));

    public int Count => listeners.Count;

    public void JoinAll(string connectionId, ClaimsPrincipal? user, AccessSubject subject) =>
        ListenerOf(connectionId, user, subject).All = true;

    public void Join(string connectionId, ClaimsPrincipal? user, AccessSubject subject, Guid jobId) =>
        ListenerOf(connectionId, user, subject).Jobs.TryAdd(jobId, 0);

    public void Leave(string connectionId, Guid jobId)
    {
        if (listeners.TryGetValue(connectionId, out Listener? listener))
        {
            listener.Jobs.TryRemove(jobId, out _);
        }
    }

    public void Remove(string connectionId) => listeners.TryRemove(connectionId, out _);

    /// <summary>The connections that asked for this job's events and may see it now.</summary>
    public async Task<List<string>> RecipientsAsync(Guid jobId, int groupId, string? ownerUserId)
    {
        var recipients = new List<string>();
        foreach (KeyValuePair<string, Listener> pair in listeners)
        {
            Listener listener = pair.Value;
            if (!listener.All && !listener.Jobs.ContainsKey(jobId))
            {
                continue;
            }

            AccessSubject subject = await CurrentAsync(listener);
            if (subject.IsAdmin
                || (subject.UserId is not null && string.Equals(subject.UserId, ownerUserId, StringComparison.Ordinal))
                || subject.GroupIds.Contains(groupId))
            {
                recipients.Add(pair.Key);
            }
        }

        return recipients;
    }

    private Listener ListenerOf(string connectionId, ClaimsPrincipal? user, AccessSubject subject) =>
        listeners.GetOrAdd(connectionId, _ => new Listener(user, subject, DateTime.UtcNow));

    /// <summary>
    /// The account's rights as the database says now: nothing for a deleted or locked account, Admin
    /// from its current roles (not the claims of when it connected), and its current group memberships.
    /// </summary>
    public async Task<AccessSubject> FreshSubjectAsync(ClaimsPrincipal? principal)
    {
        if (principal is null)
        {
            return AccessSubject.Anonymous;
        }

        await using AsyncServiceScope scope = scopes.CreateAsyncScope();
        UserManager<IdentityUser> users = scope.ServiceProvider.GetRequiredService<UserManager<IdentityUser>>();
        IdentityUser? user = await users.GetUserAsync(principal);
        if (user is null || await users.IsLockedOutAsync(user))
        {
            return AccessSubject.Anonymous;
        }

        AccessSubject memberships = await access.SubjectAsync(principal);
        return memberships with { IsAdmin = await users.IsInRoleAsync(user, Roles.Admin) };
    }

    private async Task<AccessSubject> CurrentAsync(Listener listener)
    {
        if (DateTime.UtcNow - listener.ReadUtc < recheck)
        {
            return listener.Subject;
        }

        AccessSubject fresh;
        try
        {
            fresh = await FreshSubjectAsync(listener.User);
        }
        catch (InvalidOperationException e)
        {
            // Keep the last known rights for this event rather than failing the broadcast; try again next time.
            logger.LogWarning(e, "Could not re-read the rights of a hub connection");
            return listener.Subject;
        }

        listener.Subject = fresh;
        listener.ReadUtc = DateTime.UtcNow;
        return fresh;
    }

    private sealed class Listener(ClaimsPrincipal? user, AccessSubject subject, DateTime readUtc)
    {
        public ClaimsPrincipal? User { get; } = user;

        public ConcurrentDictionary<Guid, byte> Jobs { get; } = new();

        public volatile bool All;

        public AccessSubject Subject { get; set; } = subject;

        public DateTime ReadUtc { get; set; } = readUtc;
    }
}

/// <summary>Forwards the notifier's events to the hub connections that asked for them and may see the job.</summary>
public sealed class JobsHubBridge(JobNotifier notifier, IHubContext<JobsHub> hub, JobStore store, JobsHubAudience audience) : IHostedService
{
    // A job's group and submitter never change, so they are looked up once per job.
    private readonly ConcurrentDictionary<Guid, (int GroupId, string? Owner)> owners = new();

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
        if (audience.Count == 0)
        {
            return;
        }

        string method = update.Status switch
        {
            Data.JobStatus.Completed => "completed",
            Data.JobStatus.Failed or Data.JobStatus.Cancelled => "failed",
            _ => "progress",
        };
        List<string> recipients = await RecipientsAsync(update.JobId);
        if (recipients.Count > 0)
        {
            await hub.Clients.Clients(recipients).SendAsync(method, update);
        }

        if (update.Status is Data.JobStatus.Completed or Data.JobStatus.Failed or Data.JobStatus.Cancelled)
        {
            owners.TryRemove(update.JobId, out _);
        }
    }

    private async Task OnPreview(JobPreview preview)
    {
        if (audience.Count == 0)
        {
            return;
        }

        List<string> recipients = await RecipientsAsync(preview.JobId);
        if (recipients.Count > 0)
        {
            await hub.Clients.Clients(recipients).SendAsync("preview", preview);
        }
    }

    private async Task<List<string>> RecipientsAsync(Guid jobId)
    {
        if (!owners.TryGetValue(jobId, out (int GroupId, string? Owner) owner))
        {
            // Events come from the worker or from whoever changed the job: read past the request's filter.
            Job? job;
            using (JobVisibility.EnterSystem())
            {
                job = await store.FindAsync(jobId, CancellationToken.None);
            }

            if (job is null)
            {
                return [];
            }

            owner = (job.GroupId, job.OwnerUserId);
            owners[jobId] = owner;
        }

        return await audience.RecipientsAsync(jobId, owner.GroupId, owner.Owner);
    }
}
