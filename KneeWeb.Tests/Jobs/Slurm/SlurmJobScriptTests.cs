using System.Diagnostics;
using KneeWeb.Jobs.Slurm;
using KneeWeb.Tests.TestData;
using Xunit;

namespace KneeWeb.Tests.Jobs.Slurm;

/// <summary>
/// The job script run by sh as slurmd runs it: a requeued run (SLURM_RESTART_COUNT > 0) starts from
/// a folder without the lost run's result or error, and keeps its input and progress.
/// </summary>
[Trait("Category", "process")]
public sealed class SlurmJobScriptTests : IDisposable
{
    private readonly TempFolder work = new("kneeweb-slurm-script");

    public void Dispose() => work.Dispose();

    [Theory]
    [InlineData(null)]
    [InlineData("0")]
    public void A_first_run_leaves_the_folder_as_it_is(string? restartCount)
    {
        SlurmJobFolder folder = FolderWithLeftovers();
        Run(folder, restartCount);
        Assert.True(File.Exists(Path.Combine(folder.ResultFolder, "stats.json")));
        Assert.True(File.Exists(folder.ErrorFile));
        Assert.Equal("ran\n", File.ReadAllText(Path.Combine(folder.Path, "ran")));
    }

    [Fact]
    public void A_requeued_run_clears_the_lost_run_s_result_and_error_and_keeps_input_and_progress()
    {
        SlurmJobFolder folder = FolderWithLeftovers();
        Run(folder, "1");
        Assert.False(Directory.Exists(folder.ResultFolder));
        Assert.Empty(Directory.GetDirectories(folder.Path));
        Assert.False(File.Exists(folder.ErrorFile));
        Assert.True(File.Exists(folder.InputFile("knee.nii.gz")));
        Assert.Equal("{\"kind\":\"progress\"}\n", File.ReadAllText(folder.ProgressFile));
        Assert.Equal("ran\n", File.ReadAllText(Path.Combine(folder.Path, "ran")));
        // Nothing outside the job's folder is touched.
        Assert.True(File.Exists(work.File("result-of-another-job")));
    }

    /// <summary>A job folder under a shared root whose path needs quoting, holding what a lost run leaves.</summary>
    private SlurmJobFolder FolderWithLeftovers()
    {
        string root = work.File("lab's shared $(root)");
        var folder = new SlurmJobFolder(root, Guid.NewGuid());
        Directory.CreateDirectory(folder.ResultFolder);
        File.WriteAllText(Path.Combine(folder.ResultFolder, "stats.json"), "{}");
        Directory.CreateDirectory(folder.ResultFolder + ".tmp-1a2b3c4d");
        File.WriteAllText(Path.Combine(folder.ResultFolder + ".tmp-1a2b3c4d", "segmentation.nii.gz"), "half");
        File.WriteAllText(folder.ErrorFile, "{\"code\":\"PIPELINE_ERROR\"}");
        File.WriteAllText(folder.InputFile("knee.nii.gz"), "input");
        File.WriteAllText(folder.ProgressFile, "{\"kind\":\"progress\"}\n");
        File.WriteAllText(work.File("result-of-another-job"), "keep");
        return folder;
    }

    private static void Run(SlurmJobFolder folder, string? restartCount)
    {
        File.WriteAllText(folder.Script, folder.ScriptText(Guid.Empty, ["/bin/sh", "-c", "echo ran > ran"]));
        var start = new ProcessStartInfo("/bin/sh") { WorkingDirectory = folder.Path, UseShellExecute = false, RedirectStandardError = true };
        start.ArgumentList.Add(folder.Script);
        start.Environment.Remove("SLURM_RESTART_COUNT");
        if (restartCount is not null)
        {
            start.Environment["SLURM_RESTART_COUNT"] = restartCount;
        }

        using Process sh = Process.Start(start)!;
        string stderr = sh.StandardError.ReadToEnd();
        sh.WaitForExit();
        Assert.True(sh.ExitCode == 0, stderr);
    }
}
