using System.Diagnostics;
using KneeWeb.Jobs;
using KneeWeb.Tests.TestData;
using KneeWeb.Tests.Web;
using Xunit;

namespace KneeWeb.Tests.Jobs;

/// <summary>
/// A real OutOfMemoryException: `KneeWeb process` on the half-size phantom with .NET's heap capped at
/// 64 MB (DOTNET_GCHeapHardLimit), so the segmentation's arrays do not fit and .NET throws. Outside
/// Slurm the error file says the server ran out of memory (the cluster case is in SlurmExecutorTests).
/// </summary>
[Trait("Category", "process")]
public sealed class OutOfMemoryProcessTests : IDisposable
{
    /// <summary>64 MB: the runtime starts and reads the image, the segmentation does not fit.</summary>
    public const string HeapLimit = "0x4000000";

    private readonly TempFolder work = new("kneeweb-oom");

    public void Dispose() => work.Dispose();

    [Fact]
    public async Task A_managed_out_of_memory_outside_Slurm_ends_with_the_server_s_memory_error()
    {
        string input = await HalfSizePhantomAsync(work.File("phantom"));
        string errorFile = work.File("error.json");
        var start = new ProcessStartInfo(ServerProcess.LocateBinary()) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string arg in ProcessArguments(input, work.File("out"), errorFile))
        {
            start.ArgumentList.Add(arg);
        }

        start.Environment["DOTNET_GCHeapHardLimit"] = HeapLimit;
        foreach (string name in start.Environment.Keys.Where(k => k.StartsWith("SLURM_", StringComparison.Ordinal)).ToList())
        {
            start.Environment.Remove(name);
        }

        (int exit, string output) = await RunAsync(start);
        Assert.True(exit == 1, $"exit {exit}:\n{output}");
        JobError error = JobErrorFile.TryRead(errorFile) ?? throw new Xunit.Sdk.XunitException($"No error file:\n{output}");
        Assert.Equal(ErrorCode.PIPELINE_ERROR, error.Code);
        Assert.Equal("The job ran out of memory on this server: it needed more than the server could give it.", error.Message);
        Assert.Contains("raise the job's memory", error.Hint, StringComparison.Ordinal);
        Assert.Contains("OutOfMemoryException", error.Details, StringComparison.Ordinal);
        Assert.False(Directory.Exists(work.File("out")) && Directory.EnumerateFileSystemEntries(work.File("out")).Any());
    }

    /// <summary>The phantom at coarsening 2 (192x192x80), written by the KneeWeb binary.</summary>
    public static async Task<string> HalfSizePhantomAsync(string folder)
    {
        var start = new ProcessStartInfo(ServerProcess.LocateBinary()) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string arg in new[] { "phantom", "--out", folder, "--coarsening", "2" })
        {
            start.ArgumentList.Add(arg);
        }

        (int exit, string output) = await RunAsync(start);
        Assert.True(exit == 0, output);
        return Path.Combine(folder, "image.nii.gz");
    }

    /// <summary>`process` with the repository's demo model (NSM off by default) and an error file.</summary>
    public static IReadOnlyList<string> ProcessArguments(string input, string output, string errorFile) =>
    [
        "process", input, "--out", output, "--models", Path.Combine(ServerProcess.RepositoryRoot(), "models"),
        "--default-model", "demo-knee", "--error-file", errorFile, "--quiet",
    ];

    private static async Task<(int Exit, string Output)> RunAsync(ProcessStartInfo start)
    {
        using Process process = Process.Start(start)!;
        Task<string> stdout = process.StandardOutput.ReadToEndAsync();
        Task<string> stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return (process.ExitCode, await stdout + await stderr);
    }
}
