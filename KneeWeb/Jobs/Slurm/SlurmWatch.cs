using System.Collections.Concurrent;
using KneeWeb.Setup;
using Microsoft.Extensions.Options;

namespace KneeWeb.Jobs.Slurm;

/// <summary>One answer of the watch about one job: its status, or that Slurm no longer knows it, or that Slurm could not be asked.</summary>
public sealed record SlurmPoll(SlurmJobStatus? Status, string? Error)
{
    public bool Forgotten => Status is null && Error is null;
}

/// <summary>
/// Follows every Slurm job this site waits on with one squeue call per interval (not one per
/// job), and keeps the health people see: the last error of any Slurm command and the latest states.
/// </summary>
public sealed class SlurmWatch : IDisposable
{
    private readonly ISlurmClient slurm;
    private readonly SlurmOptions settings;
    private readonly ILogger<SlurmWatch> logger;
    private readonly ConcurrentDictionary<long, int> followed = new();
    private readonly CancellationTokenSource stop = new();
    private readonly object gate = new();
    private TaskCompletionSource<Round> next = NewRound();
    private Task? loop;
    private IReadOnlyDictionary<long, SlurmJobStatus> latest = new Dictionary<long, SlurmJobStatus>();

    public SlurmWatch(ISlurmClient slurm, IOptions<KneeWebOptions> options, ILogger<SlurmWatch> logger)
    {
        ArgumentNullException.ThrowIfNull(options);
        this.slurm = slurm;
        settings = options.Value.Jobs.Slurm;
        this.logger = logger;
    }

    public string? LastError { get; private set; }

    public DateTime? LastErrorUtc { get; private set; }

    /// <summary>Jobs followed now, and how many of them Slurm reported waiting at the last poll.</summary>
    public (int Followed, int Waiting) Counts()
    {
        int waiting = latest.Values.Count(s => SlurmStates.PhaseOf(s.State) == SlurmPhase.Waiting);
        return (followed.Count, waiting);
    }

    public void RecordError(string message)
    {
        LastError = message;
        LastErrorUtc = DateTime.UtcNow;
        logger.LogWarning("Slurm: {Message}", message);
    }

    public void Follow(long jobId) => followed.AddOrUpdate(jobId, 1, (_, n) => n + 1);

    public void Unfollow(long jobId)
    {
        if (followed.AddOrUpdate(jobId, 0, (_, n) => n - 1) <= 0)
        {
            followed.TryRemove(jobId, out _);
        }
    }

    /// <summary>The job's status from the next poll that included it (call <see cref="Follow"/> first).</summary>
    public async Task<SlurmPoll> NextAsync(long jobId, CancellationToken ct)
    {
        EnsureLoop();
        while (true)
        {
            Task<Round> round;
            lock (gate)
            {
                round = next.Task;
            }

            Round answer = await round.WaitAsync(ct);
            if (!answer.Asked.Contains(jobId))
            {
                continue; // Followed after that round started: wait for the next one.
            }

            return answer.Error is not null
                ? new SlurmPoll(null, answer.Error)
                : new SlurmPoll(answer.States!.GetValueOrDefault(jobId), null);
        }
    }

    public void Dispose()
    {
        stop.Cancel();
        stop.Dispose();
    }

    private static TaskCompletionSource<Round> NewRound() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    private void EnsureLoop()
    {
        lock (gate)
        {
            loop ??= Task.Run(PollAsync);
        }
    }

    private async Task PollAsync()
    {
        CancellationToken ct = stop.Token;
        while (!ct.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(settings.PollInterval, ct);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            var asked = new HashSet<long>(followed.Keys);
            if (asked.Count == 0)
            {
                continue;
            }

            Round round;
            try
            {
                IReadOnlyDictionary<long, SlurmJobStatus> states = await slurm.QueryAsync(asked, ct);
                latest = states;
                round = new Round(asked, states, null);
            }
            catch (SlurmCommandException ex)
            {
                RecordError(ex.Message);
                round = new Round(asked, null, ex.Message);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            TaskCompletionSource<Round> done;
            lock (gate)
            {
                done = next;
                next = NewRound();
            }

            done.SetResult(round);
        }
    }

    private sealed record Round(HashSet<long> Asked, IReadOnlyDictionary<long, SlurmJobStatus>? States, string? Error);
}
