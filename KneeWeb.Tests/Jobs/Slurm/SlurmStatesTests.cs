using KneeWeb.Jobs;
using KneeWeb.Jobs.Slurm;
using KneeWeb.Setup;
using Xunit;

namespace KneeWeb.Tests.Jobs.Slurm;

/// <summary>Slurm's states as KneeWeb reads them, and the catalog error each ending becomes.</summary>
[Trait("Category", "unit")]
public sealed class SlurmStatesTests
{
    private static readonly SlurmModelResources Resources = new() { MemoryMb = 3000, TimeLimit = TimeSpan.FromMinutes(90) };

    [Theory]
    [InlineData("PENDING", SlurmState.Pending, SlurmPhase.Waiting)]
    [InlineData("REQUEUED", SlurmState.Requeued, SlurmPhase.Waiting)]
    [InlineData("RUNNING", SlurmState.Running, SlurmPhase.Running)]
    [InlineData("COMPLETING", SlurmState.Completing, SlurmPhase.Running)]
    [InlineData("COMPLETED", SlurmState.Completed, SlurmPhase.Completed)]
    [InlineData("FAILED", SlurmState.Failed, SlurmPhase.Failed)]
    [InlineData("CANCELLED", SlurmState.Cancelled, SlurmPhase.Cancelled)]
    [InlineData("TIMEOUT", SlurmState.Timeout, SlurmPhase.TimedOut)]
    [InlineData("OUT_OF_MEMORY", SlurmState.OutOfMemory, SlurmPhase.OutOfMemory)]
    [InlineData("NODE_FAIL", SlurmState.NodeFail, SlurmPhase.NodeLost)]
    [InlineData("SOMETHING_NEW", SlurmState.Unknown, SlurmPhase.Waiting)]
    public void States_parse_and_map_to_one_phase(string text, SlurmState state, SlurmPhase phase)
    {
        Assert.Equal(state, SlurmStates.Parse(text));
        Assert.Equal(phase, SlurmStates.PhaseOf(state));
    }

    [Fact]
    public void Out_of_memory_names_the_limit_and_says_to_raise_it()
    {
        JobError error = SlurmStates.ErrorFor(new SlurmJobStatus(42, SlurmState.OutOfMemory, "OutOfMemory"), null, new SlurmExitCode(0, 125), Resources);
        Assert.Contains("out of memory", error.Message, StringComparison.Ordinal);
        Assert.Contains("3000 MB", error.Message, StringComparison.Ordinal);
        Assert.Contains("raise the job's memory", error.Hint, StringComparison.Ordinal);
        Assert.Contains("Slurm job 42 ended OUT_OF_MEMORY", error.Details, StringComparison.Ordinal);
    }

    [Fact]
    public void A_failed_job_keeps_its_own_catalog_error_else_gets_Slurms_exit_code()
    {
        JobError own = ErrorCatalog.Create(ErrorCode.INVALID_FORMAT, "header: bad", "The header is bad.");
        JobError withOwn = SlurmStates.ErrorFor(new SlurmJobStatus(7, SlurmState.Failed, "NonZeroExitCode"), own, new SlurmExitCode(1, 0), Resources);
        Assert.Equal(ErrorCode.INVALID_FORMAT, withOwn.Code);
        Assert.Equal(own.Message, withOwn.Message);
        Assert.Contains("exit code 1:0", withOwn.Details, StringComparison.Ordinal);

        JobError without = SlurmStates.ErrorFor(new SlurmJobStatus(7, SlurmState.Failed, "NonZeroExitCode"), null, new SlurmExitCode(137, 0), Resources);
        Assert.Equal(ErrorCode.PIPELINE_ERROR, without.Code);
        Assert.Contains("exit code 137", without.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Timeout_and_cancel_win_over_what_the_killed_job_wrote()
    {
        JobError killed = ErrorCatalog.Create(ErrorCode.CANCELLED, "SIGTERM");
        Assert.Equal(ErrorCode.TIMEOUT, SlurmStates.ErrorFor(new SlurmJobStatus(1, SlurmState.Timeout, "TimeLimit"), killed, null, Resources).Code);
        Assert.Contains("90 minutes", SlurmStates.ErrorFor(new SlurmJobStatus(1, SlurmState.Timeout, "TimeLimit"), killed, null, Resources).Message, StringComparison.Ordinal);
        Assert.Equal(ErrorCode.CANCELLED, SlurmStates.ErrorFor(new SlurmJobStatus(1, SlurmState.Cancelled, "None"), null, null, Resources).Code);
        Assert.Equal(ErrorCode.PIPELINE_ERROR, SlurmStates.ErrorFor(new SlurmJobStatus(1, SlurmState.NodeFail, "NodeDown"), killed, null, Resources).Code);
    }

    [Fact]
    public void The_job_script_quotes_every_argument_for_sh()
    {
        string script = new SlurmJobFolder("/srv/shared", Guid.Empty).ScriptText(Guid.Empty, ["/srv/kw/KneeWeb", "process", "/data/it's here.nii.gz", "--subject", "$(rm -rf /)"]);
        Assert.Contains("exec '/srv/kw/KneeWeb' 'process' '/data/it'\\''s here.nii.gz' '--subject' '$(rm -rf /)'", script, StringComparison.Ordinal);
    }
}
