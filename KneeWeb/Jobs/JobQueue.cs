using System.Threading.Channels;
using KneeWeb.Setup;
using Microsoft.Extensions.Options;

namespace KneeWeb.Jobs;

/// <summary>
/// The in-memory line of job ids waiting for a worker. Bounded, so a flood of submissions waits
/// instead of growing memory; the job row is written before its id is queued and stays the truth.
/// </summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Naming", "CA1711", Justification = "It is the job queue of DESIGN.md.")]
public sealed class JobQueue
{
    private readonly Channel<Guid> channel;

    public JobQueue(IOptions<KneeWebOptions> options)
    {
        ArgumentNullException.ThrowIfNull(options);
        channel = Channel.CreateBounded<Guid>(new BoundedChannelOptions(Math.Max(1, options.Value.Jobs.QueueCapacity))
        {
            FullMode = BoundedChannelFullMode.Wait,
            SingleReader = false,
            SingleWriter = false,
        });
    }

    public ChannelReader<Guid> Reader => channel.Reader;

    public int Count => channel.Reader.Count;

    public ValueTask EnqueueAsync(Guid jobId, CancellationToken ct = default) => channel.Writer.WriteAsync(jobId, ct);
}

/// <summary>Cancellation handles of the jobs running in this process.</summary>
public sealed class JobCancellations
{
    private readonly System.Collections.Concurrent.ConcurrentDictionary<Guid, CancellationTokenSource> running = new();

    public void Register(Guid jobId, CancellationTokenSource source) => running[jobId] = source;

    public void Unregister(Guid jobId) => running.TryRemove(jobId, out _);

    public bool IsRunningHere(Guid jobId) => running.ContainsKey(jobId);

    public bool Cancel(Guid jobId)
    {
        if (running.TryGetValue(jobId, out CancellationTokenSource? source))
        {
            try
            {
                source.Cancel();
                return true;
            }
            catch (ObjectDisposedException)
            {
                return false;
            }
        }

        return false;
    }
}
