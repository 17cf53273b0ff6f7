using System.Diagnostics;
using System.Text.Json;
using KneeWeb.Imaging;
using KneeWeb.Imaging.Io;
using KneeWeb.Tests.Inference;
using KneeWeb.Tests.TestData;
using KneeWeb.Tests.Web;
using Xunit;

namespace KneeWeb.Tests.Cli;

/// <summary>`KneeWeb process` as a user runs it: the real binary, real files, the committed demo model.</summary>
[Trait("Category", "process")]
public sealed class ProcessCommandTests : IDisposable
{
    private readonly TempFolder work = new("kneeweb-cli");

    public void Dispose() => work.Dispose();

    public static (int ExitCode, string StdOut, string StdErr) Run(params string[] args)
    {
        var start = new ProcessStartInfo(ServerProcess.LocateBinary())
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string a in args)
        {
            start.ArgumentList.Add(a);
        }

        using Process process = Process.Start(start)!;
        Task<string> stdout = process.StandardOutput.ReadToEndAsync();
        Task<string> stderr = process.StandardError.ReadToEndAsync();
        // A hang guard only: on a loaded machine a run may take many times its quiet duration.
        Assert.True(process.WaitForExit(TimeSpan.FromMinutes(20)), "KneeWeb process did not finish in 20 minutes (hung?).");
        return (process.ExitCode, stdout.Result, stderr.Result);
    }

    private static string RepoModels() => Path.Combine(ServerProcess.RepositoryRoot(), "models");

    [Fact]
    public void Process_segments_an_image_with_the_demo_model_and_writes_the_job_folder()
    {
        (Volume image, byte[] truth) = SyntheticKnee.Create(new Vec3d(0.5, 0.5, 1.0), sizeMm: 40);
        string input = work.File("knee.nii.gz");
        VolumeIo.Write(image, input);
        string output = work.File("out");

        (int code, string stdout, string stderr) = Run("process", input, "--out", output, "--model", "demo-knee", "--device", "cpu", "--models", RepoModels(), "--subject", "CLI-1");
        Assert.True(code == 0, $"exit {code}\n{stdout}\n{stderr}");
        Assert.Contains("Running segmentation", stderr, StringComparison.Ordinal);

        using JsonDocument stats = JsonDocument.Parse(File.ReadAllText(Path.Combine(output, "stats.json")));
        Assert.Equal("cpu", stats.RootElement.GetProperty("segmentation").GetProperty("execution_provider").GetString());
        Assert.Equal("CLI-1", stats.RootElement.GetProperty("options").GetProperty("subject_id").GetString());
        byte[] labels = VolumeIo.Read(Path.Combine(output, "segmentation.nii.gz")).Span<byte>().ToArray();
        foreach (byte label in truth.Distinct().Where(l => l != 0))
        {
            Assert.True(SyntheticKnee.Dice(labels, truth, label) >= 0.9, $"label {label}");
        }

        Assert.True(File.Exists(Path.Combine(output, "results.zip")));
    }

    [Fact]
    public void Process_reports_catalog_errors_on_stderr_with_a_non_zero_exit()
    {
        string text = work.File("notes.nii.gz");
        File.WriteAllText(text, "not an image");
        (int code, _, string stderr) = Run("process", text, "--out", work.File("out1"), "--models", work.Path, "--quiet");
        Assert.Equal(1, code);
        Assert.StartsWith("INVALID_FORMAT: ", stderr, StringComparison.Ordinal);
        Assert.Contains("hint: ", stderr, StringComparison.Ordinal);
        Assert.False(Directory.Exists(work.File("out1")));

        Directory.CreateDirectory(work.File("full"));
        File.WriteAllText(work.File("full/keep.txt"), "mine");
        (code, _, stderr) = Run("process", text, "--out", work.File("full"), "--quiet");
        Assert.Equal(1, code);
        Assert.StartsWith("CONFIG_ERROR: ", stderr, StringComparison.Ordinal);
        Assert.True(File.Exists(work.File("full/keep.txt")));

        (code, _, stderr) = Run("process", work.File("missing.nii.gz"), "--out", work.File("out2"), "--models", work.Path, "--quiet");
        Assert.Equal(1, code);
        Assert.StartsWith("FILE_NOT_FOUND: ", stderr, StringComparison.Ordinal);
    }
}
