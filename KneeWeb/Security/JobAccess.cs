using System.Security.Claims;
using KneeWeb.Data;
using KneeWeb.Jobs;
using Microsoft.EntityFrameworkCore;

namespace KneeWeb.Security;

/// <summary>Who is asking, as far as job access goes.</summary>
public sealed record AccessSubject(string? UserId, string? UserName, bool IsAdmin, IReadOnlySet<int> GroupIds, IReadOnlySet<int> LeadGroupIds)
{
    public static readonly AccessSubject Anonymous = new(null, null, false, new HashSet<int>(), new HashSet<int>());

    public bool IsAuthenticated => UserId is not null;

    /// <summary>The database-side filter matching these rights (the second layer).</summary>
    public JobVisibility Visibility =>
        IsAdmin ? new JobVisibility(true, UserId, []) : UserId is null ? JobVisibility.Nobody : new JobVisibility(false, UserId, [.. GroupIds]);
}

/// <summary>A group a user may upload into; <see cref="IsDefault"/> marks the one used when none is chosen.</summary>
public sealed record UploadGroupChoice(int Id, string Name, bool IsDefault);

/// <summary>
/// Resource-based authorization of jobs: the one place that decides who may see and change a job.
/// Members see the jobs of their groups, PIs the groups they lead (a PI's membership is a lead
/// membership), Admins all; everyone sees the jobs they submitted. Changing (cancel, delete) is for the
/// submitter, a lead of the job's group, or an Admin.
/// A job someone may not see is answered exactly like a missing one (no hint that it exists), and the
/// attempt is logged and audited.
/// </summary>
public sealed class JobAccess(JobStore store, AuditLog audit, ILogger<JobAccess> logger)
{
    private const string SubjectKey = "KneeWeb.AccessSubject";

    /// <summary>The rights of the request's user, read once per request.</summary>
    public async Task<AccessSubject> SubjectAsync(HttpContext http, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(http);
        if (http.Items.TryGetValue(SubjectKey, out object? cached) && cached is AccessSubject subject)
        {
            return subject;
        }

        subject = await SubjectAsync(http.User, ct);
        http.Items[SubjectKey] = subject;
        return subject;
    }

    public async Task<AccessSubject> SubjectAsync(ClaimsPrincipal? user, CancellationToken ct = default)
    {
        string? userId = user?.Identity?.IsAuthenticated == true ? user.FindFirstValue(ClaimTypes.NameIdentifier) : null;
        if (userId is null)
        {
            return AccessSubject.Anonymous;
        }

        List<GroupMembership> memberships = await store.ReadAsync(db => db.GroupMemberships.AsNoTracking().Where(m => m.UserId == userId).ToListAsync(ct), ct);
        var groups = new HashSet<int>();
        var leads = new HashSet<int>();
        foreach (GroupMembership m in memberships)
        {
            groups.Add(m.GroupId);
            if (m.IsLead)
            {
                leads.Add(m.GroupId);
            }
        }

        return new AccessSubject(userId, user!.Identity!.Name, user.IsInRole(Roles.Admin), groups, leads);
    }

    public static bool CanView(AccessSubject subject, Job job)
    {
        ArgumentNullException.ThrowIfNull(subject);
        ArgumentNullException.ThrowIfNull(job);
        return subject.IsAdmin
            || (subject.UserId is not null && string.Equals(job.OwnerUserId, subject.UserId, StringComparison.Ordinal))
            || subject.GroupIds.Contains(job.GroupId);
    }

    public static bool CanModify(AccessSubject subject, Job job)
    {
        ArgumentNullException.ThrowIfNull(subject);
        ArgumentNullException.ThrowIfNull(job);
        return subject.IsAdmin
            || (subject.UserId is not null && string.Equals(job.OwnerUserId, subject.UserId, StringComparison.Ordinal))
            || subject.LeadGroupIds.Contains(job.GroupId);
    }

    /// <summary>
    /// The job if it exists and the request's user may see it; null otherwise (the caller answers 404
    /// either way). A refusal is logged and audited with what was attempted.
    /// </summary>
    public async Task<Job?> FindAsync(HttpContext http, Guid id, string attempted, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(http);
        AccessSubject subject = await SubjectAsync(http, ct);
        return await FindAsync(subject, http.User, http.Connection.RemoteIpAddress?.ToString(), id, attempted, ct);
    }

    /// <summary>The same check for callers outside an HTTP request (hub methods, pages).</summary>
    public async Task<Job?> FindAsync(AccessSubject subject, ClaimsPrincipal? user, string? remoteAddress, Guid id, string attempted, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(subject);
        Job? job;
        // Read past the query filter on purpose: a foreign job must be told apart from a missing one
        // for the audit log, though the caller answers both the same way.
        using (JobVisibility.EnterSystem())
        {
            job = await store.FindAsync(id, ct);
        }

        if (job is null)
        {
            return null;
        }

        if (!CanView(subject, job))
        {
            await audit.DeniedAsync(null, user, remoteAddress, id, attempted);
            return null;
        }

        return job;
    }

    /// <summary>
    /// Keeps the rows whose job the request's user may see (the primary check for lists built by other
    /// queries, such as the cohort table; the query filter has usually removed the others already).
    /// </summary>
    public async Task<List<T>> VisibleAsync<T>(HttpContext http, List<T> rows, Func<T, Guid> idOf, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(http);
        return await VisibleAsync(await SubjectAsync(http, ct), rows, idOf, ct);
    }

    /// <summary>The same filter for a given subject (pages, hub).</summary>
    public async Task<List<T>> VisibleAsync<T>(AccessSubject subject, List<T> rows, Func<T, Guid> idOf, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(subject);
        ArgumentNullException.ThrowIfNull(rows);
        ArgumentNullException.ThrowIfNull(idOf);
        if (subject.IsAdmin || rows.Count == 0)
        {
            return rows;
        }

        var ids = new HashSet<Guid>(rows.Count);
        foreach (T row in rows)
        {
            ids.Add(idOf(row));
        }

        List<Job> jobs;
        using (JobVisibility.EnterSystem())
        {
            jobs = await store.ReadAsync(db => db.Jobs.AsNoTracking().Where(j => ids.Contains(j.Id)).ToListAsync(ct), ct);
        }

        var visible = new HashSet<Guid>(jobs.Count);
        foreach (Job job in jobs)
        {
            if (CanView(subject, job))
            {
                visible.Add(job.Id);
            }
        }

        return rows.FindAll(r => visible.Contains(idOf(r)));
    }

    /// <summary>
    /// The groups a user may upload into (Admins: every group; others: their own), by id, for the
    /// Upload page's picker; the first choice offered is <see cref="UploadGroupAsync"/>'s default.
    /// </summary>
    public async Task<List<UploadGroupChoice>> UploadGroupsAsync(AccessSubject subject, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(subject);
        if (!subject.IsAuthenticated)
        {
            return [];
        }

        List<Group> all = await store.ReadAsync(db => db.Groups.AsNoTracking().OrderBy(g => g.Id).ToListAsync(ct), ct);
        int? preferred = await UploadGroupAsync(subject, null, ct);
        var choices = new List<UploadGroupChoice>(all.Count);
        foreach (Group g in all)
        {
            if (subject.IsAdmin || subject.GroupIds.Contains(g.Id))
            {
                choices.Add(new UploadGroupChoice(g.Id, g.Name, g.Id == preferred));
            }
        }

        // The default first, the rest by id.
        choices.Sort((a, b) => a.IsDefault == b.IsDefault ? a.Id.CompareTo(b.Id) : a.IsDefault ? -1 : 1);
        return choices;
    }

    /// <summary>
    /// The group a new upload goes to, or the refusal to send: a group the user may not upload to is
    /// answered exactly like one that does not exist (404, no hint that it exists), and the attempt is
    /// logged and audited. With no group asked for and none to fall back on, the answer is 403.
    /// For every endpoint that creates jobs (uploads, samples).
    /// </summary>
    public async Task<(int? GroupId, IResult? Refusal)> UploadGroupOrRefusalAsync(HttpContext http, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(http);
        AccessSubject subject = await SubjectAsync(http, ct);
        string? requested = http.Request.Query["group"];
        if (await UploadGroupAsync(subject, requested, ct) is int groupId)
        {
            return (groupId, null);
        }

        if (string.IsNullOrWhiteSpace(requested))
        {
            return (null, Results.Problem(statusCode: StatusCodes.Status403Forbidden, title: "You are in no group to upload to.",
                detail: "Ask an administrator to add you to a group (Accounts page, or KneeWeb users add ... --group).",
                extensions: new Dictionary<string, object?> { ["code"] = "FORBIDDEN" }));
        }

        string name = requested.Trim();
        name = name.Length > 128 ? name[..128] : name;
        logger.LogWarning("Access denied: {User} from {Remote} tried to upload to group {Group}", subject.UserName, http.Connection.RemoteIpAddress, name);
        await audit.RecordAsync(http, AuditActions.AccessDenied, target: $"upload to group {name}");
        return (null, Results.Problem(statusCode: StatusCodes.Status404NotFound, title: "No such group.",
            detail: $"There is no group '{name}' you may upload to. Leave out ?group= to use your default group.",
            extensions: new Dictionary<string, object?> { ["code"] = "NOT_FOUND" }));
    }

    /// <summary>
    /// The group a new upload goes to: the one asked for (id or name) if the user belongs to it (Admins:
    /// any), else the default group if the user is in it (Admins always), else the user's first group.
    /// Null when there is none the user may use.
    /// </summary>
    public async Task<int?> UploadGroupAsync(AccessSubject subject, string? requested, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(subject);
        if (!subject.IsAuthenticated)
        {
            return null;
        }

        if (!string.IsNullOrWhiteSpace(requested))
        {
            string name = requested.Trim();
            int? id = int.TryParse(name, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int parsed)
                ? parsed
                : await store.ReadAsync(db => db.Groups.AsNoTracking().Where(g => g.Name == name).Select(g => (int?)g.Id).FirstOrDefaultAsync(ct), ct);
            if (id is null)
            {
                return null;
            }

            if (subject.GroupIds.Contains(id.Value))
            {
                return id;
            }

            return subject.IsAdmin && await store.ReadAsync(db => db.Groups.AnyAsync(g => g.Id == id.Value, ct), ct) ? id : null;
        }

        if (subject.IsAdmin || subject.GroupIds.Contains(Group.DefaultId))
        {
            return Group.DefaultId;
        }

        return subject.GroupIds.Count == 0 ? null : subject.GroupIds.Min();
    }
}
