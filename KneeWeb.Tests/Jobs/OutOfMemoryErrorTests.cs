using KneeWeb.Jobs;
using KneeWeb.Jobs.Slurm;
using KneeWeb.Pipeline;
using KneeWeb.Setup;
using Xunit;

namespace KneeWeb.Tests.Jobs;

// CA2201: the runtime's OutOfMemoryException is the very input these tests map; it is made as a
// value and handed to the mapper, never thrown (the process tests get real ones from .NET).
#pragma warning disable CA2201

/// <summary>
/// .NET's own OutOfMemoryException is the job's memory error (what happened, which memory to raise),
/// not an "unexpected internal error": in the site, and in a Slurm job, where it names the job's memory
/// in the same words as Slurm's OUT_OF_MEMORY.
/// </summary>
[Trait("Category", "unit")]
public sealed class OutOfMemoryErrorTests
{
    private static readonly SlurmJobEnvironment Site = new(null, null);
    private static readonly SlurmJobEnvironment ClusterJob = new(77, 2000);

    public static TheoryData<Exception> OutOfMemoryFailures => new()
    {
        new OutOfMemoryException(),
        new InsufficientMemoryException("The memory gate refused 2 GB."),
        new PipelineStepException(KneeSteps.Segment, new OutOfMemoryException()),
        // A parallel loop: one body ran out of memory, another failed because of it.
        new AggregateException(new InvalidOperationException("the other worker"), new AggregateException(new OutOfMemoryException())),
    };

    [Theory]
    [MemberData(nameof(OutOfMemoryFailures))]
    public void In_the_site_it_is_the_memory_error_with_the_hint_to_raise_the_job_s_memory(Exception failure)
    {
        JobError error = ErrorMapper.Map(failure, "Running segmentation", Site);
        Assert.Equal(ErrorCode.PIPELINE_ERROR, error.Code);
        Assert.Equal("The job ran out of memory on this server: it needed more than the server could give it.", error.Message);
        Assert.Contains("raise the job's memory", error.Hint, StringComparison.Ordinal);
        Assert.Contains("KneeWeb:Jobs:Concurrency", error.Hint, StringComparison.Ordinal);
        Assert.DoesNotContain("unexpected internal error", error.Message, StringComparison.Ordinal);
        Assert.StartsWith("Step 'Running segmentation': ", error.Details, StringComparison.Ordinal);
        Assert.Contains("MemoryException", error.Details, StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(OutOfMemoryFailures))]
    public void In_a_Slurm_job_it_names_the_job_s_memory_like_Slurm_s_OUT_OF_MEMORY(Exception failure)
    {
        JobError managed = ErrorMapper.Map(failure, null, ClusterJob);
        JobError killed = SlurmStates.ErrorFor(new SlurmJobStatus(77, SlurmState.OutOfMemory, "OutOfMemory"), null, null, new SlurmModelResources { MemoryMb = 2000 });
        Assert.Equal("The job ran out of memory on the cluster: it used more than its 2000 MB.", managed.Message);
        Assert.Equal(killed.Message, managed.Message);
        Assert.Equal(killed.Hint, managed.Hint);
        Assert.Equal(killed.Code, managed.Code);
        Assert.Contains("KneeWeb:Jobs:Slurm:MemoryMb", managed.Hint, StringComparison.Ordinal);
    }

    [Fact]
    public void A_Slurm_job_without_a_memory_size_still_gets_the_cluster_words()
    {
        JobError error = ErrorMapper.Map(new OutOfMemoryException(), null, new SlurmJobEnvironment(5, null));
        Assert.Equal("The job ran out of memory on the cluster: it used more than its memory allowance.", error.Message);
    }

    [Fact]
    public void Other_failures_are_not_memory_errors()
    {
        JobError error = ErrorMapper.Map(new AggregateException(new InvalidOperationException("broken")), null, ClusterJob);
        Assert.Equal(ErrorCode.PIPELINE_ERROR, error.Code);
        Assert.DoesNotContain("memory", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_Slurm_environment_is_read_from_the_variables_Slurm_sets()
    {
        var variables = new Dictionary<string, string> { ["SLURM_JOB_ID"] = "1234", ["SLURM_MEM_PER_NODE"] = "3000" };
        SlurmJobEnvironment inJob = SlurmJobEnvironment.From(name => variables.GetValueOrDefault(name));
        Assert.True(inJob.InSlurmJob);
        Assert.Equal(1234, inJob.JobId);
        Assert.Equal(3000, inJob.MemoryMb);

        SlurmJobEnvironment outside = SlurmJobEnvironment.From(_ => null);
        Assert.False(outside.InSlurmJob);
        Assert.Null(outside.MemoryMb);
        Assert.False(SlurmJobEnvironment.From(name => name == "SLURM_JOB_ID" ? "not-a-number" : null).InSlurmJob);
    }
}
