using System.Collections.Concurrent;
using System.Globalization;
using System.Security.Claims;
using System.Text;
using KneeWeb.Data;
using KneeWeb.Jobs;
using Microsoft.EntityFrameworkCore;

namespace KneeWeb.Security;

/// <summary>Filters of an audit query; every field optional.</summary>
public sealed record AuditFilter(DateTime? FromUtc = null, DateTime? ToUtc = null, string? User = null, string? Action = null, Guid? JobId = null, int Limit = 1000);

/// <summary>
/// The append-only audit log. Writes go through the job store's single writer, so auditing never
/// makes SQLite busy. There is no method that changes or removes a line, and the table's triggers
/// refuse it from anywhere else.
/// </summary>
public sealed class AuditLog(JobStore store, ILogger<AuditLog> logger)
{
    /// <summary>Repeated views of one job by one user (status polls) are written once per this interval.</summary>
    public static readonly TimeSpan ViewDedupInterval = TimeSpan.FromMinutes(10);

    private readonly ConcurrentDictionary<(string User, Guid Job), DateTime> lastViews = new();

    // No cancellation token on purpose: a line is written even when the request that caused it was aborted.
    public Task RecordAsync(HttpContext? http, string action, Guid? jobId = null, string? target = null, string? detail = null) =>
        RecordAsync(http?.User, http?.Connection.RemoteIpAddress?.ToString(), action, jobId, target, detail);

    public async Task RecordAsync(ClaimsPrincipal? user, string? remoteAddress, string action, Guid? jobId = null, string? target = null, string? detail = null)
    {
        string? userName = user?.Identity?.IsAuthenticated == true ? user.Identity.Name : null;
        await RecordAsync(new AuditEvent
        {
            TimestampUtc = DateTime.UtcNow,
            UserId = userName is null ? null : user!.FindFirstValue(ClaimTypes.NameIdentifier),
            UserName = userName,
            Action = action,
            JobId = jobId,
            Target = target,
            RemoteAddress = remoteAddress,
            Detail = detail,
        });
    }

    public Task RecordAsync(AuditEvent entry)
    {
        ArgumentNullException.ThrowIfNull(entry);
        return store.WriteAsync(db =>
        {
            db.AuditEvents.Add(entry);
            return Task.CompletedTask;
        }, CancellationToken.None);
    }

    /// <summary>Header a page script may send on its own fetches of a job's files (the viewers).</summary>
    public const string ViewerHeader = "X-KneeWeb-Viewer";

    /// <summary>
    /// Records a file fetch: a person or script downloading a file is a "download"; the page's own
    /// viewers fetching files to draw them are part of looking at the job, recorded as its one "view"
    /// (coalesced per user and job like page views), so opening a result page writes one row, not one
    /// per fetch. A fetch counts as the page's own when it says so (<see cref="ViewerHeader"/>) or when
    /// the browser marks it a same-origin script fetch (Sec-Fetch-*, headers pages cannot set).
    /// </summary>
    public Task RecordFetchAsync(HttpContext http, Guid jobId, string target)
    {
        ArgumentNullException.ThrowIfNull(http);
        return IsViewerFetch(http.Request)
            ? RecordViewAsync(http, http.User, jobId, "viewer")
            : RecordAsync(http, AuditActions.Download, jobId, target);
    }

    public static bool IsViewerFetch(HttpRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (request.Headers.ContainsKey(ViewerHeader))
        {
            return true;
        }

        string mode = request.Headers["Sec-Fetch-Mode"].ToString();
        return string.Equals(request.Headers["Sec-Fetch-Site"].ToString(), "same-origin", StringComparison.Ordinal)
            && string.Equals(request.Headers["Sec-Fetch-Dest"].ToString(), "empty", StringComparison.Ordinal)
            && mode is "cors" or "same-origin" or "no-cors";
    }

    /// <summary>Records a view, at most once per user and job per <see cref="ViewDedupInterval"/>.</summary>
    public Task RecordViewAsync(HttpContext? http, ClaimsPrincipal user, Guid jobId, string? target = null)
    {
        ArgumentNullException.ThrowIfNull(user);
        string key = user.FindFirstValue(ClaimTypes.NameIdentifier) ?? "";
        DateTime now = DateTime.UtcNow;
        if (lastViews.TryGetValue((key, jobId), out DateTime last) && now - last < ViewDedupInterval)
        {
            return Task.CompletedTask;
        }

        lastViews[(key, jobId)] = now;
        if (lastViews.Count > 100_000)
        {
            lastViews.Clear();
        }

        return RecordAsync(user, http?.Connection.RemoteIpAddress?.ToString(), AuditActions.View, jobId, target);
    }

    public Task<List<AuditEvent>> QueryAsync(AuditFilter filter, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(filter);
        return store.ReadAsync(db =>
        {
            IQueryable<AuditEvent> q = db.AuditEvents.AsNoTracking();
            if (filter.FromUtc is { } from)
            {
                q = q.Where(e => e.TimestampUtc >= from);
            }

            if (filter.ToUtc is { } to)
            {
                q = q.Where(e => e.TimestampUtc <= to);
            }

            if (!string.IsNullOrWhiteSpace(filter.User))
            {
                q = q.Where(e => e.UserName == filter.User);
            }

            if (!string.IsNullOrWhiteSpace(filter.Action))
            {
                q = q.Where(e => e.Action == filter.Action);
            }

            if (filter.JobId is { } job)
            {
                q = q.Where(e => e.JobId == job);
            }

            return q.OrderByDescending(e => e.Id).Take(Math.Clamp(filter.Limit, 1, 100_000)).ToListAsync(ct);
        }, ct);
    }

    public static string ToCsv(IEnumerable<AuditEvent> events)
    {
        ArgumentNullException.ThrowIfNull(events);
        var csv = new StringBuilder("id,timestamp_utc,user,action,job_id,target,remote_address,detail\n");
        foreach (AuditEvent e in events)
        {
            csv.Append(e.Id.ToString(CultureInfo.InvariantCulture)).Append(',')
               .Append(e.TimestampUtc.ToString("yyyy-MM-ddTHH:mm:ss.fffZ", CultureInfo.InvariantCulture)).Append(',')
               .Append(Field(e.UserName)).Append(',')
               .Append(Field(e.Action)).Append(',')
               .Append(e.JobId?.ToString("D") ?? "").Append(',')
               .Append(Field(e.Target)).Append(',')
               .Append(Field(e.RemoteAddress)).Append(',')
               .Append(Field(e.Detail)).Append('\n');
        }

        return csv.ToString();
    }

    /// <summary>Logs and audits a refused attempt on a job (answered like a missing one).</summary>
    public async Task DeniedAsync(HttpContext? http, ClaimsPrincipal? user, string? remoteAddress, Guid jobId, string attempted)
    {
        logger.LogWarning("Access denied: {User} from {Remote} tried to {Action} job {JobId}", user?.Identity?.Name ?? "(anonymous)", remoteAddress, attempted, jobId);
        await RecordAsync(user ?? http?.User, remoteAddress ?? http?.Connection.RemoteIpAddress?.ToString(), AuditActions.AccessDenied, jobId, attempted);
    }

    private static string Field(string? value) => CsvText.Field(value);
}
