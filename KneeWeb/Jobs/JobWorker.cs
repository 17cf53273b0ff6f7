namespace KneeWeb.Jobs;

/// <summary>
/// The hosted service that runs jobs: recovers what a previous process left, then runs as many
/// consumer loops as the executor takes jobs at once, each taking job ids from the queue in order.
/// </summary>
public sealed class JobWorker(
    JobQueue queue,
    IJobExecutor executor,
    JobRecovery recovery,
    ILogger<JobWorker> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        // Rows were repaired before the server started listening (InitializeKneeWebAsync).
        // The worker acts for the site, not for a user: it bypasses the job query filter explicitly.
        using IDisposable system = Data.JobVisibility.EnterSystem();
        await Task.Yield();
        await recovery.RequeueAsync(stoppingToken);
        int concurrency = Math.Max(1, executor.Concurrency);
        var loops = new Task[concurrency];
        for (int i = 0; i < concurrency; i++)
        {
            loops[i] = ConsumeAsync(stoppingToken);
        }

        await Task.WhenAll(loops);
    }

    private async Task ConsumeAsync(CancellationToken stoppingToken)
    {
        try
        {
            await foreach (Guid jobId in queue.Reader.ReadAllAsync(stoppingToken))
            {
                try
                {
                    await executor.RunAsync(jobId, stoppingToken);
                }
#pragma warning disable CA1031 // The runner records failures itself; this is the last guard that keeps the loop alive.
                catch (Exception ex)
#pragma warning restore CA1031
                {
                    logger.LogError(ex, "Job {JobId} could not be run", jobId);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }
}
