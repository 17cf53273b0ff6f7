namespace KneeWeb.Jobs.Slurm;

/// <summary>The job states squeue reports (%T), as an enum; anything new to this version is Unknown.</summary>
public enum SlurmState
{
    Unknown,
    Pending,
    Configuring,
    Running,
    Completing,
    Suspended,
    Requeued,
    RequeueHold,
    RequeueFed,
    Resizing,
    Signaling,
    StageOut,
    Stopped,
    Completed,
    Failed,
    Cancelled,
    Timeout,
    OutOfMemory,
    NodeFail,
    Preempted,
    BootFail,
    Deadline,
    SpecialExit,
    Revoked,
}

/// <summary>What squeue says about one job: its state and the reason Slurm gives (%r).</summary>
public sealed record SlurmJobStatus(long JobId, SlurmState State, string Reason);

/// <summary>Slurm's exit code of a finished job (scontrol's ExitCode=code:signal).</summary>
public sealed record SlurmExitCode(int Code, int Signal);

/// <summary>How a Slurm state looks from KneeWeb: still waiting, running, or ended in one way.</summary>
public enum SlurmPhase
{
    Waiting,
    Running,
    Completed,
    Failed,
    Cancelled,
    TimedOut,
    OutOfMemory,
    NodeLost,
}

/// <summary>The one place Slurm's states are read and mapped.</summary>
public static class SlurmStates
{
    public static SlurmState Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return text.Trim().ToUpperInvariant() switch
        {
            "PENDING" or "PD" => SlurmState.Pending,
            "CONFIGURING" or "CF" => SlurmState.Configuring,
            "RUNNING" or "R" => SlurmState.Running,
            "COMPLETING" or "CG" => SlurmState.Completing,
            "SUSPENDED" or "S" => SlurmState.Suspended,
            "REQUEUED" or "RQ" => SlurmState.Requeued,
            "REQUEUE_HOLD" or "RH" => SlurmState.RequeueHold,
            "REQUEUE_FED" or "RF" => SlurmState.RequeueFed,
            "RESIZING" or "RS" => SlurmState.Resizing,
            "SIGNALING" or "SI" => SlurmState.Signaling,
            "STAGE_OUT" or "SO" => SlurmState.StageOut,
            "STOPPED" or "ST" => SlurmState.Stopped,
            "COMPLETED" or "CD" => SlurmState.Completed,
            "FAILED" or "F" => SlurmState.Failed,
            "CANCELLED" or "CA" => SlurmState.Cancelled,
            "TIMEOUT" or "TO" => SlurmState.Timeout,
            "OUT_OF_MEMORY" or "OOM" => SlurmState.OutOfMemory,
            "NODE_FAIL" or "NF" => SlurmState.NodeFail,
            "PREEMPTED" or "PR" => SlurmState.Preempted,
            "BOOT_FAIL" or "BF" => SlurmState.BootFail,
            "DEADLINE" or "DL" => SlurmState.Deadline,
            "SPECIAL_EXIT" or "SE" => SlurmState.SpecialExit,
            "REVOKED" or "RV" => SlurmState.Revoked,
            _ => SlurmState.Unknown,
        };
    }

    /// <summary>
    /// Waiting: not started, or put back in line (requeued, held, suspended). Running: on a node.
    /// Every other state is an end. A state this version does not know counts as waiting, so a
    /// new Slurm never makes KneeWeb declare a job over that is not.
    /// </summary>
    public static SlurmPhase PhaseOf(SlurmState state) => state switch
    {
        SlurmState.Running or SlurmState.Completing or SlurmState.Configuring or SlurmState.Signaling or SlurmState.StageOut or SlurmState.Resizing => SlurmPhase.Running,
        SlurmState.Completed => SlurmPhase.Completed,
        SlurmState.Failed or SlurmState.SpecialExit or SlurmState.BootFail or SlurmState.Revoked => SlurmPhase.Failed,
        SlurmState.Cancelled => SlurmPhase.Cancelled,
        SlurmState.Timeout or SlurmState.Deadline => SlurmPhase.TimedOut,
        SlurmState.OutOfMemory => SlurmPhase.OutOfMemory,
        SlurmState.NodeFail or SlurmState.Preempted => SlurmPhase.NodeLost,
        _ => SlurmPhase.Waiting,
    };

    public static bool IsEnd(SlurmState state) => PhaseOf(state) is not (SlurmPhase.Waiting or SlurmPhase.Running);

    /// <summary>
    /// The catalog error of a job that ended without results. <paramref name="jobError"/> is the
    /// error file the job wrote itself; it wins for a failed job, since it says what went wrong.
    /// </summary>
    public static JobError ErrorFor(SlurmJobStatus status, JobError? jobError, SlurmExitCode? exit, Setup.SlurmModelResources resources)
    {
        ArgumentNullException.ThrowIfNull(status);
        ArgumentNullException.ThrowIfNull(resources);
        string slurm = $"Slurm job {status.JobId} ended {Name(status.State)}" + (string.IsNullOrWhiteSpace(status.Reason) || status.Reason == "None" ? "" : $" ({status.Reason})")
            + (exit is null ? "" : $" with exit code {exit.Code}:{exit.Signal}") + ".";
        return PhaseOf(status.State) switch
        {
            SlurmPhase.Cancelled => ErrorCatalog.Create(ErrorCode.CANCELLED, slurm, "Slurm cancelled it."),
            SlurmPhase.TimedOut => ErrorCatalog.Create(ErrorCode.TIMEOUT, slurm, $"It ran past its Slurm time limit of {Minutes(resources.TimeLimit)} minutes."),
            SlurmPhase.OutOfMemory => ErrorCatalog.OutOfMemoryOnCluster(slurm, resources.MemoryMb),
            SlurmPhase.NodeLost => ErrorCatalog.Create(ErrorCode.PIPELINE_ERROR, slurm, $"The cluster lost the node that ran it ({Name(status.State)})."),
            _ when jobError is not null => jobError with { Details = $"{jobError.Details}{Environment.NewLine}{slurm}" },
            _ => ErrorCatalog.Create(ErrorCode.PIPELINE_ERROR, slurm, exit is null ? "The cluster job failed without saying why." : $"The cluster job failed with exit code {exit.Code}."),
        };
    }

    public static int Minutes(TimeSpan? limit) => (int)Math.Max(1, Math.Ceiling((limit ?? TimeSpan.FromHours(2)).TotalMinutes));

    /// <summary>The state as Slurm writes it (OUT_OF_MEMORY), for messages.</summary>
    public static string Name(SlurmState state) => state switch
    {
        SlurmState.OutOfMemory => "OUT_OF_MEMORY",
        SlurmState.NodeFail => "NODE_FAIL",
        SlurmState.BootFail => "BOOT_FAIL",
        SlurmState.SpecialExit => "SPECIAL_EXIT",
        SlurmState.RequeueHold => "REQUEUE_HOLD",
        SlurmState.RequeueFed => "REQUEUE_FED",
        SlurmState.StageOut => "STAGE_OUT",
        _ => state.ToString().ToUpperInvariant(),
    };
}
