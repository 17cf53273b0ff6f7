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
/// An admitted upload holds a slot until its job row exists (or it fails), and admission is checked
/// and taken under one per-user gate, so concurrent uploads cannot all pass a check made before any
/// of them was counted.
/// </summary>
public sealed class UserLimits(JobStore store, IOptions<KneeWebOptions> options, TimeProvider clock)
{
    private static readonly TimeSpan Hour = TimeSpan.FromHours(1);
    private readonly ConcurrentDictionary<string, UserState> users = new(StringComparer.Ordinal);

    /// <summary>
    /// Admits one upload (with <paramref name="declaredBytes"/>) or refuses it with a 429. Dispose the
    /// admission at the end of the request; write the job through <see cref="Admission.SubmitAsync"/>.
    /// </summary>
    public async Task<Admission> AdmitAsync(string? userId, long? declaredBytes, CancellationToken ct)
    {
        if (userId is null)
        {
            return Admission.Unlimited;
        }

        LimitOptions limits = options.Value.Limits;
        UserState state = users.GetOrAdd(userId, _ => new UserState());
        long reservedBytes = Math.Max(0, declaredBytes ?? 0);
        await state.Gate.WaitAsync(ct);
        try
        {
            if (limits.MaxQueuedJobsPerUser > 0)
            {
                int waiting;
                using (JobVisibility.EnterSystem())
                {
                    waiting = await store.ReadAsync(db => db.Jobs.AsNoTracking()
                        .CountAsync(j => j.OwnerUserId == userId && (j.Status == JobStatus.Queued || j.Status == JobStatus.Running), ct), ct);
                }

                // Uploads admitted but not yet written as jobs count too.
                waiting += state.InFlight;
                if (waiting >= limits.MaxQueuedJobsPerUser)
                {
                    return Admission.Refused(Limited(TimeSpan.FromMinutes(1),
                        $"You have {waiting} jobs waiting or running; the limit is {limits.MaxQueuedJobsPerUser}. Start more when some have finished."));
                }
            }

            DateTimeOffset now = clock.GetUtcNow();
            while (state.Recent.Count > 0 && now - state.Recent.Peek().At >= Hour)
            {
                state.Recent.Dequeue();
            }

            int started = state.Recent.Count + state.InFlight;
            if (limits.UploadsPerHour > 0 && started >= limits.UploadsPerHour)
            {
                TimeSpan retry = state.Recent.Count > 0 ? state.Recent.Peek().At + Hour - now : TimeSpan.FromMinutes(1);
                return Admission.Refused(Limited(retry,
                    $"You have started {started} jobs in the last hour; the limit is {limits.UploadsPerHour} an hour."));
            }

            long used = state.Recent.Sum(u => u.Bytes) + state.InFlightBytes;
            if (limits.UploadBytesPerHour > 0 && used + reservedBytes > limits.UploadBytesPerHour)
            {
                return Admission.Refused(Limited(state.Recent.Count > 0 ? state.Recent.Peek().At + Hour - now : Hour,
                    $"You have uploaded {used / 1e6:0.#} MB in the last hour; with this upload it would pass the limit of {limits.UploadBytesPerHour / 1e6:0.#} MB an hour."));
            }

            state.InFlight++;
            state.InFlightBytes += reservedBytes;
            return new Admission(this, state, reservedBytes, null);
        }
        finally
        {
            state.Gate.Release();
        }
    }

    // The job row and the end of the slot change the count together, under the same gate as the check,
    // so a check never sees a job twice (row and slot) or not at all.
    private async Task CommitAsync(UserState state, long reservedBytes, Func<Task> submit, long storedBytes, CancellationToken ct)
    {
        await state.Gate.WaitAsync(ct);
        try
        {
            await submit();
            state.InFlight--;
            state.InFlightBytes -= reservedBytes;
            state.Recent.Enqueue((clock.GetUtcNow(), storedBytes));
        }
        finally
        {
            state.Gate.Release();
        }
    }

    private static void Release(UserState state, long reservedBytes)
    {
        state.Gate.Wait();
        try
        {
            state.InFlight--;
            state.InFlightBytes -= reservedBytes;
        }
        finally
        {
            state.Gate.Release();
        }
    }

    /// <summary>One user's hour of stored uploads and the uploads admitted but not yet finished.</summary>
    internal sealed class UserState
    {
        public SemaphoreSlim Gate { get; } = new(1, 1);

        public Queue<(DateTimeOffset At, long Bytes)> Recent { get; } = new();

        public int InFlight { get; set; }

        public long InFlightBytes { get; set; }
    }

    /// <summary>An admitted upload's slot (or the refusal). Disposing it frees the slot.</summary>
    public sealed class Admission : IDisposable
    {
        private readonly UserLimits? owner;
        private readonly UserState? state;
        private readonly long reservedBytes;
        private bool released;

        internal Admission(UserLimits? owner, UserState? state, long reservedBytes, IResult? refusal)
        {
            this.owner = owner;
            this.state = state;
            this.reservedBytes = reservedBytes;
            Refusal = refusal;
        }

        internal static Admission Unlimited => new(null, null, 0, null);

        /// <summary>The 429 answer when the upload was refused; null when admitted.</summary>
        public IResult? Refusal { get; }

        internal static Admission Refused(IResult refusal) => new(null, null, 0, refusal);

        /// <summary>
        /// Writes the job (<paramref name="submit"/>) and turns the slot into a stored upload of
        /// <paramref name="bytes"/> in one step; if writing fails the slot stays until disposed.
        /// </summary>
        public async Task SubmitAsync(Func<Task> submit, long bytes, CancellationToken ct)
        {
            ArgumentNullException.ThrowIfNull(submit);
            if (owner is null || state is null || released)
            {
                await submit();
                return;
            }

            await owner.CommitAsync(state, reservedBytes, submit, bytes, ct);
            released = true;
        }

        public void Dispose()
        {
            if (released || owner is null || state is null)
            {
                return;
            }

            released = true;
            Release(state, reservedBytes);
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
