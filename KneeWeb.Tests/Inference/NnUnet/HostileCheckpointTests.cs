using KneeWeb.Inference.NnUnet;
using KneeWeb.Tests.TestData;
using Xunit;

namespace KneeWeb.Tests.Inference.NnUnet;

/// <summary>Hostile checkpoints: a clear error, nothing executed, nothing left in the models folder.</summary>
[Trait("Category", "unit")]
public sealed class HostileCheckpointTests
{
    private const string Marker = "/tmp/kneeweb-nnunet-hostile-marker";

    [Theory]
    [InlineData("os_system.pth", "posix.system")]
    [InlineData("builtins_eval.pth", "__builtin__.eval")]
    [InlineData("truncated.pth", "not a readable PyTorch zip checkpoint")]
    [InlineData("lying_storage.pth", "declares 1000000000 Float32 elements")]
    [InlineData("tensor_out_of_bounds.pth", "runs past its storage")]
    [InlineData("zip_bomb.pth", "zip bomb")]
    // .NET stops inflating at the declared 40 bytes: the rest is never read, and the pickle is cut short.
    [InlineData("lying_zip_entry.pth", "ends before its STOP opcode (truncated)")]
    [InlineData("deep_stack.pth", "values on the pickle stack")]
    public void Each_hostile_file_is_refused_with_its_reason_and_nothing_runs(string file, string reason)
    {
        File.Delete(Marker);
        string path = Path.Combine(NnUnetFixtures.Root, "hostile", file);

        NnUnetFormatException e = Assert.Throws<NnUnetFormatException>(() => NnUnetCheckpoint.Open(path).Dispose());

        Assert.Contains(reason, e.Message, StringComparison.Ordinal);
        Assert.Contains(file, e.Message, StringComparison.Ordinal);
        Assert.False(File.Exists(Marker), "the hostile pickle's command ran");
    }

    [Fact]
    public void The_refusal_names_the_global_and_says_it_was_not_executed()
    {
        NnUnetFormatException e = Assert.Throws<NnUnetFormatException>(() => NnUnetCheckpoint.Open(Path.Combine(NnUnetFixtures.Root, "hostile", "os_system.pth")).Dispose());
        Assert.Contains("calls posix.system: refused and not executed", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("os_system.pth")]
    [InlineData("lying_storage.pth")]
    [InlineData("truncated.pth")]
    [InlineData("zip_bomb.pth")]
    public void A_failed_import_leaves_the_models_folder_as_it_was(string hostile)
    {
        using var temp = new TempFolder("nnunet-hostile");
        string folder = NnUnetFixtures.CopyDataset(NnUnetFixtures.Plain, temp.Path);
        // fold_0 is good, fold_1 is hostile: the good fold's model must not survive either.
        File.Copy(Path.Combine(NnUnetFixtures.Root, "hostile", hostile), Path.Combine(folder, "fold_1", "checkpoint_final.pth"), overwrite: true);
        string models = Path.Combine(temp.Path, "models");
        Directory.CreateDirectory(models);
        File.WriteAllText(Path.Combine(models, "keep.txt"), "untouched");

        Assert.Throws<NnUnetFormatException>(() => NnUnetImporter.Import(new NnUnetImportOptions { TrainedFolder = folder, OutputFolder = models }));

        Assert.Equal(["keep.txt"], Directory.EnumerateFileSystemEntries(models).Select(p => Path.GetFileName(p)!).ToArray());
        Assert.False(File.Exists(Marker));
    }
}
