using KneeWeb.Setup;
using Microsoft.Extensions.Options;

namespace KneeWeb.Jobs;

/// <summary>
/// Where the worker hands a queued job: this process (<see cref="InProcessExecutor"/>) or a
/// Slurm cluster (<see cref="Slurm.SlurmExecutor"/>), chosen by KneeWeb:Jobs:Executor.
/// RunAsync returns when the job has ended, or when the site stops (the job then resumes, or
/// is re-attached, at the next start).
/// </summary>
public interface IJobExecutor
{
    JobExecutorKind Kind { get; }

    /// <summary>How many jobs the worker hands over at once.</summary>
    int Concurrency { get; }

    Task RunAsync(Guid jobId, CancellationToken stopping);

    Task<ExecutorHealth> HealthAsync(CancellationToken ct);
}

/// <summary>
/// The executor as the Server page and /v1/server/info show it. Cluster fields are null for the
/// in-process executor; QueueLength counts the jobs handed to the cluster and still waiting there.
/// </summary>
public sealed record ExecutorHealth(
    string Executor,
    bool? ClusterReachable,
    string? Cluster,
    int? SubmittedJobs,
    int? QueueLength,
    string? LastError,
    DateTime? LastErrorUtc);

/// <summary>Runs jobs in this process, as KneeWeb always has.</summary>
public sealed class InProcessExecutor(JobRunner runner, IOptions<KneeWebOptions> options) : IJobExecutor
{
    public JobExecutorKind Kind => JobExecutorKind.InProcess;

    public int Concurrency => Math.Max(1, options.Value.Jobs.Concurrency);

    public Task RunAsync(Guid jobId, CancellationToken stopping) => runner.RunAsync(jobId, stopping);

    public Task<ExecutorHealth> HealthAsync(CancellationToken ct) =>
        Task.FromResult(new ExecutorHealth("inprocess", null, null, null, null, null, null));
}
