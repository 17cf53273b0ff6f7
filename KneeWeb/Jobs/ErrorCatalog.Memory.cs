namespace KneeWeb.Jobs;

/// <summary>
/// The memory error: one wording wherever a job runs out of memory, whether Slurm's cgroup ended it
/// (OUT_OF_MEMORY) or .NET threw an OutOfMemoryException inside it (on the cluster or in the site).
/// Its code stays PIPELINE_ERROR (the design's catalog has no memory code for the processor's memory);
/// the message says what happened and the hint says which memory to raise.
/// </summary>
public static partial class ErrorCatalog
{
    /// <summary>The cluster's words: the job's Slurm memory, and the settings that raise it.</summary>
    public static JobError OutOfMemoryOnCluster(string details, long? memoryMb) => new(
        ErrorCode.PIPELINE_ERROR,
        memoryMb is long mb
            ? $"The job ran out of memory on the cluster: it used more than its {mb} MB."
            : "The job ran out of memory on the cluster: it used more than its memory allowance.",
        "Ask an administrator to raise the job's memory (KneeWeb:Jobs:Slurm:MemoryMb, or the model's MemoryMb) and run it again.",
        details);

    /// <summary>This server's words: the job ran in the site's own process, which could not get more memory.</summary>
    public static JobError OutOfMemoryOnServer(string details) => new(
        ErrorCode.PIPELINE_ERROR,
        "The job ran out of memory on this server: it needed more than the server could give it.",
        "Try again when fewer jobs are running; an administrator can raise the job's memory by giving the server more memory or running fewer jobs at once (KneeWeb:Jobs:Concurrency).",
        details);
}
