using KneeWeb.Data;
using KneeWeb.Jobs;
using KneeWeb.Pipeline;

namespace KneeWeb.Api;

/// <summary>A job as the API returns it (snake_case JSON).</summary>
public sealed record JobView(
    Guid Id,
    string Status,
    string? Step,
    int StepIndex,
    int StepCount,
    double Percent,
    double? EtaSeconds,
    string Owner,
    string? SubjectId,
    string? KneeSide,
    string? Notes,
    IReadOnlyList<string> Tags,
    string InputFileName,
    long InputSizeBytes,
    string? DetectedFormat,
    int Attempt,
    DateTime CreatedUtc,
    DateTime? StartedUtc,
    DateTime? FinishedUtc,
    JobErrorView? Error,
    string Url)
{
    /// <summary>Set when the job is left out of the cohort (kept, with its files).</summary>
    public CohortExclusionView? CohortExclusion { get; init; }

    public static JobView From(Job job, JobUpdate? live = null)
    {
        ArgumentNullException.ThrowIfNull(job);
        // A live update from this process is fresher than the throttled row while the job runs.
        bool useLive = live is not null && job.Status == JobStatus.Running && live.Status == JobStatus.Running;
        JobErrorView? error = job.ErrorCode is null ? null : new JobErrorView(job.ErrorCode, job.ErrorMessage ?? "", job.ErrorHint ?? "");
        return new JobView(
            job.Id,
            job.Status.ToString(),
            useLive ? live!.Step : job.CurrentStep,
            useLive ? live!.StepIndex : job.CurrentStepIndex,
            KneeSteps.All.Count,
            useLive ? live!.Percent : job.Percent,
            useLive ? live!.EtaSeconds : null,
            job.Owner,
            job.SubjectId,
            job.KneeSide,
            job.Notes,
            JobTags.Split(job.Tags),
            job.InputFileName,
            job.InputSizeBytes,
            job.DetectedFormat,
            job.Attempt,
            job.CreatedUtc,
            job.StartedUtc,
            job.FinishedUtc,
            error,
            $"/v1/jobs/{job.Id:D}")
        {
            CohortExclusion = job.ExcludedFromCohortUtc is { } since ? new CohortExclusionView(since, job.ExcludedBy ?? "", job.ExclusionReason) : null,
        };
    }
}

/// <summary>Who left a job out of the cohort, when and why.</summary>
public sealed record CohortExclusionView(DateTime ExcludedUtc, string ExcludedBy, string? Reason);

/// <summary>The optional body of POST /v1/jobs/{id}/exclude.</summary>
public sealed record ExcludeRequest(string? Reason);

public sealed record JobEventView(DateTime TimestampUtc, string Kind, int? StepIndex, string? Step, string Message, double? DurationSeconds);

public sealed record ArtifactView(string Name, string Kind, long SizeBytes, string Sha256, string Url);

public sealed record SubmittedView(Guid Id, string Status, string Url);

public sealed record ServerInfoView(
    string Name,
    string Version,
    string Framework,
    IReadOnlyList<string> ExecutionProviders,
    string? ExecutionProvidersNote,
    IReadOnlyList<ModelView> Models,
    int QueueLength,
    int RunningJobs,
    long FreeDiskBytes,
    int JobConcurrency,
    Jobs.ExecutorHealth Executor);

/// <summary>One model as the API lists it; <paramref name="Sha256"/> is the .onnx file's, <paramref name="Source"/> where an nnU-Net import came from (null for other models).</summary>
public sealed record ModelView(string Name, string? Version, string? Description, bool Enabled, string? DisabledReason, bool SwitchedOff, string? Sha256, Inference.NnUnetProvenance? Source);
