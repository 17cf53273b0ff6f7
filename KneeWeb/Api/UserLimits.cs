using System.Collections.Concurrent;
using System.Globalization;
using KneeWeb.Data;
using KneeWeb.Jobs;
using KneeWeb.Setup;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace KneeWeb.Api;

/// <summary>
/// The per-user limits of <see cref="LimitOptions"/>: jobs waiting or running at once (read from the
/// database, so a restart does not reset it) and uploads and bytes per hour (a sliding hour kept in
/// memory). Checked before any byte of an upload is stored; the bytes of an upload count once stored.
/// </summary>
public sealed class UserLimits(JobStore store, IOptions<KneeWebOptions> options, TimeProvider clock)
{
    private static readonly TimeSpan Hour = TimeSpan.FromHours(1);
    private readonly ConcurrentDictionary<string, Queue<(DateTimeOffset At, long Bytes)>> uploads = new(StringComparer.Ordinal);

    /// <summary>A 429 answer when the user may not start another job now (with <paramref name="declaredBytes"/> more); else null.</summary>
    public async Task<IResult?> RefusalAsync(string? userId, long? declaredBytes, CancellationToken ct)
    {
        if (userId is null)
        {
            return null;
        }

        LimitOptions limits = options.Value.Limits;
        if (limits.MaxQueuedJobsPerUser > 0)
        {
            int waiting;
            using (JobVisibility.EnterSystem())
            {
                waiting = await store.ReadAsync(db => db.Jobs.AsNoTracking()
                    .CountAsync(j => j.OwnerUserId == userId && (j.Status == JobStatus.Queued || j.Status == JobStatus.Running), ct), ct);
            }

            if (waiting >= limits.MaxQueuedJobsPerUser)
            {
                return Limited(TimeSpan.FromMinutes(1),
                    $"You have {waiting} jobs waiting or running; the limit is {limits.MaxQueuedJobsPerUser}. Start more when some have finished.");
            }
        }

        DateTimeOffset now = clock.GetUtcNow();
        Queue<(DateTimeOffset At, long Bytes)> recent = uploads.GetOrAdd(userId, _ => new Queue<(DateTimeOffset, long)>());
        lock (recent)
        {
            while (recent.Count > 0 && now - recent.Peek().At >= Hour)
            {
                recent.Dequeue();
            }

            if (limits.UploadsPerHour > 0 && recent.Count >= limits.UploadsPerHour)
            {
                return Limited(recent.Peek().At + Hour - now,
                    $"You have started {recent.Count} jobs in the last hour; the limit is {limits.UploadsPerHour} an hour.");
            }

            long used = recent.Sum(u => u.Bytes);
            if (limits.UploadBytesPerHour > 0 && used + (declaredBytes ?? 0) > limits.UploadBytesPerHour)
            {
                return Limited(recent.Count > 0 ? recent.Peek().At + Hour - now : Hour,
                    $"You have uploaded {used / 1e6:0.#} MB in the last hour; with this upload it would pass the limit of {limits.UploadBytesPerHour / 1e6:0.#} MB an hour.");
            }
        }

        return null;
    }

    /// <summary>Counts a stored upload (or a sample job) against the user's hour.</summary>
    public void Record(string? userId, long bytes)
    {
        if (userId is null)
        {
            return;
        }

        Queue<(DateTimeOffset At, long Bytes)> recent = uploads.GetOrAdd(userId, _ => new Queue<(DateTimeOffset, long)>());
        lock (recent)
        {
            recent.Enqueue((clock.GetUtcNow(), bytes));
        }
    }

    private static RetryAfterResult Limited(TimeSpan retryAfter, string detail)
    {
        int seconds = Math.Max(1, (int)Math.Ceiling(retryAfter.TotalSeconds));
        return new RetryAfterResult(seconds, ApiErrors.Problem(ErrorCode.RATE_LIMITED, StatusCodes.Status429TooManyRequests, detail,
            new Dictionary<string, object?> { ["retry_after_seconds"] = seconds }));
    }

    /// <summary>A result that adds Retry-After to another.</summary>
    private sealed class RetryAfterResult(int seconds, IResult inner) : IResult
    {
        public Task ExecuteAsync(HttpContext httpContext)
        {
            ArgumentNullException.ThrowIfNull(httpContext);
            httpContext.Response.Headers.RetryAfter = seconds.ToString(CultureInfo.InvariantCulture);
            return inner.ExecuteAsync(httpContext);
        }
    }
}
