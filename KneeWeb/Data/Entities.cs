namespace KneeWeb.Data;

public enum JobStatus
{
    Queued,
    Running,
    Completed,
    Failed,
    Cancelled,
}

/// <summary>One analysis request. The row, not the in-memory queue, is the truth about a job.</summary>
public sealed class Job
{
    public Guid Id { get; set; }

    /// <summary>Display name of who submitted it (kept as written, even if the account is renamed).</summary>
    public string Owner { get; set; } = "";

    /// <summary>Account id of who submitted it; null for jobs from before accounts existed.</summary>
    public string? OwnerUserId { get; set; }

    /// <summary>The lab project the job belongs to; access follows the group (see Security.JobAccess).</summary>
    public int GroupId { get; set; } = Group.DefaultId;

    public string? SubjectId { get; set; }

    /// <summary>"left", "right" or null when unknown (detected later).</summary>
    public string? KneeSide { get; set; }

    public string? Notes { get; set; }

    /// <summary>Normalised tags, comma-separated ("baseline,knee-oa"), or null (see Pipeline.JobTags).</summary>
    public string? Tags { get; set; }

    /// <summary>Original file name as uploaded (display only, never used as a path).</summary>
    public string InputFileName { get; set; } = "";

    /// <summary>Path of the stored upload, relative to the data root.</summary>
    public string InputPath { get; set; } = "";

    public long InputSizeBytes { get; set; }

    public string? DetectedFormat { get; set; }

    /// <summary>Job options as JSON (see JobRequestOptions).</summary>
    public string OptionsJson { get; set; } = "{}";

    public JobStatus Status { get; set; }

    public int CurrentStepIndex { get; set; }

    public string? CurrentStep { get; set; }

    public double Percent { get; set; }

    public string? ErrorCode { get; set; }

    public string? ErrorMessage { get; set; }

    public string? ErrorHint { get; set; }

    public string? ErrorDetails { get; set; }

    public int Attempt { get; set; }

    public DateTime CreatedUtc { get; set; }

    public DateTime? StartedUtc { get; set; }

    public DateTime? FinishedUtc { get; set; }

    /// <summary>Set when a user asked to cancel; a worker that picks the job up honours it.</summary>
    public bool CancelRequested { get; set; }

    /// <summary>The Slurm job id when the job was handed to Slurm; a restart re-attaches to it, never resubmits.</summary>
    public long? SlurmJobId { get; set; }

    /// <summary>When a user excluded the job from cohort views and exports; null while it is included. The job and its files are kept.</summary>
    public DateTime? ExcludedFromCohortUtc { get; set; }

    /// <summary>Who excluded it (display name), for the job page and the audit trail.</summary>
    public string? ExcludedBy { get; set; }

    /// <summary>Why, as the user wrote it (may be empty).</summary>
    public string? ExclusionReason { get; set; }

    public bool IsExcludedFromCohort => ExcludedFromCohortUtc is not null;

    public List<JobEvent> Events { get; set; } = [];

    public List<Artifact> Artifacts { get; set; } = [];

    /// <summary>The metrics row of a completed job (null until it completes, or when its stats.json could not be read).</summary>
    public JobMetrics? Metrics { get; set; }

    /// <summary>Keeps the job and its files but leaves it out of cohort tables, exports and outlier models.</summary>
    public void ExcludeFromCohort(string by, string? reason, DateTime nowUtc)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(by);
        ExcludedFromCohortUtc = nowUtc;
        ExcludedBy = by;
        ExclusionReason = string.IsNullOrWhiteSpace(reason) ? null : reason.Trim();
    }

    /// <summary>Puts an excluded job back into the cohort.</summary>
    public void IncludeInCohort()
    {
        ExcludedFromCohortUtc = null;
        ExcludedBy = null;
        ExclusionReason = null;
    }
}

/// <summary>Every state change and step boundary of a job, in UTC.</summary>
public sealed class JobEvent
{
    public long Id { get; set; }

    public Guid JobId { get; set; }

    public DateTime TimestampUtc { get; set; }

    /// <summary>"status", "step-started", "step-finished", "step-skipped", "retry", "error".</summary>
    public string Kind { get; set; } = "";

    public int? StepIndex { get; set; }

    public string? Step { get; set; }

    public string Message { get; set; } = "";

    public double? DurationSeconds { get; set; }
}

/// <summary>A file of a finished job's folder.</summary>
public sealed class Artifact
{
    public long Id { get; set; }

    public Guid JobId { get; set; }

    /// <summary>File name inside the job folder (may contain one sub-folder, e.g. "meshes/femur.vtk").</summary>
    public string Name { get; set; } = "";

    /// <summary>"segmentation", "mesh", "table", "stats", "archive", "other".</summary>
    public string Kind { get; set; } = "";

    public long SizeBytes { get; set; }

    public string Sha256 { get; set; } = "";
}
