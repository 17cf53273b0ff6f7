using System.Text.Json.Nodes;
using KneeWeb.Cli;
using KneeWeb.Inference;
using KneeWeb.Inference.NnUnet;
using KneeWeb.Tests.TestData;
using Xunit;

namespace KneeWeb.Tests.Inference.NnUnet;

/// <summary>Refusals with their reason, the sidecar an import writes, and the CLI verb end to end.</summary>
[Trait("Category", "unit")]
public sealed class NnUnetImportTests(InferenceFixture fixture) : IClassFixture<InferenceFixture>
{
    private const string Arch = "configurations.3d_fullres.architecture";

    [Theory]
    [InlineData($"{Arch}.network_class_name", "\"my_lab.MyUNet\"", "network class my_lab.MyUNet is not supported")]
    [InlineData($"{Arch}.arch_kwargs.norm_op", "\"torch.nn.modules.batchnorm.BatchNorm3d\"", "only InstanceNorm3d")]
    [InlineData($"{Arch}.arch_kwargs.nonlin_first", "true", "nonlin_first=True")]
    [InlineData($"{Arch}.arch_kwargs.conv_op", "\"torch.nn.modules.conv.Conv2d\"", "only 3D convolutions")]
    [InlineData($"{Arch}.arch_kwargs.nonlin", "\"torch.nn.GELU\"", "only LeakyReLU and ReLU")]
    [InlineData($"{Arch}.arch_kwargs.features_per_stage", "[4, 8, 12, 32]", "does not match plans.json")]
    public void Unsupported_networks_are_refused_with_the_reason(string path, string json, string reason)
    {
        using var temp = new TempFolder("nnunet-refuse");
        string folder = NnUnetFixtures.CopyDataset(NnUnetFixtures.Plain, temp.Path);
        string plansPath = Path.Combine(folder, "plans.json");
        JsonNode plans = JsonNode.Parse(File.ReadAllText(plansPath))!;
        string[] parts = path.Split('.');
        JsonNode parent = parts[..^1].Aggregate(plans, (node, key) => node[key]!);
        parent[parts[^1]] = JsonNode.Parse(json);
        File.WriteAllText(plansPath, plans.ToJsonString());
        string models = Path.Combine(temp.Path, "models");
        Directory.CreateDirectory(models);

        Exception e = Assert.ThrowsAny<Exception>(() => NnUnetImporter.Import(new NnUnetImportOptions { TrainedFolder = folder, OutputFolder = models }));

        Assert.True(e is NnUnetImportException or NnUnetFormatException, e.ToString());
        Assert.Contains(reason, e.Message, StringComparison.Ordinal);
        Assert.Empty(Directory.EnumerateFileSystemEntries(models));
    }

    [Fact]
    public void A_region_based_dataset_is_refused_at_import()
    {
        using var temp = new TempFolder("nnunet-regions");
        string folder = NnUnetFixtures.CopyDataset(NnUnetFixtures.Plain, temp.Path);
        string datasetPath = Path.Combine(folder, "dataset.json");
        JsonNode dataset = JsonNode.Parse(File.ReadAllText(datasetPath))!;
        dataset["regions_class_order"] = new JsonArray(1, 2);
        File.WriteAllText(datasetPath, dataset.ToJsonString());

        NnUnetImportException e = Assert.Throws<NnUnetImportException>(() => NnUnetImporter.Import(new NnUnetImportOptions { TrainedFolder = folder, OutputFolder = Path.Combine(temp.Path, "models") }));
        Assert.Contains("region-based", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_sidecar_carries_nnunet_settings_labels_and_provenance()
    {
        using var temp = new TempFolder("nnunet-sidecar");
        string folder = NnUnetFixtures.Folder(NnUnetFixtures.Plain);
        ModelSidecar sidecar = NnUnetImporter.Import(new NnUnetImportOptions { TrainedFolder = folder, OutputFolder = temp.Path, ImportedBy = "tester" }).Models[0].Sidecar;

        NnUnetSettings nn = sidecar.NnUnet!;
        Assert.Equal([2, 0, 1], nn.TransposeForward);
        Assert.Equal([1, 2, 0], nn.TransposeBackward);
        Assert.Equal([16, 32, 32], nn.PatchSize);
        Assert.Equal([3.0, 0.5, 0.5], nn.SpacingMm);
        Assert.True(nn.Normalization[0].UseMaskForNorm);
        Assert.Equal([0, 1, 2], nn.MirrorAxes);
        Assert.Equal([0, 1, 2, 3, 4, 5, 6, 7, 8, 9], nn.ModelLabels);
        // dataset.json: Femur 1, femoral_cartilage 2, Tibia 3, med_tib_cart 4, lateral tibial cartilage 5,
        // Patella 6, patellar-cartilage 7, MedialMeniscus 8, lat_men 9.
        Assert.Equal(new Dictionary<string, int> { ["0"] = 0, ["1"] = 1, ["2"] = 4, ["3"] = 2, ["4"] = 5, ["5"] = 6, ["6"] = 3, ["7"] = 7, ["8"] = 8, ["9"] = 9 }, sidecar.Labels);
        // Network axes (n0, n1, n2) = image axes (i, k, j): patch k=32, j=32, i=16.
        Assert.Equal([16, 32, 32], sidecar.PatchSizeIjk!);
        Assert.Equal([3.0, 0.5, 0.5], sidecar.TargetSpacingMmIjk!);
        NnUnetProvenance source = nn.Source!;
        Assert.Equal("Dataset701_KneeSynonyms", source.Dataset);
        Assert.Equal("nnUNetPlans", source.Plans);
        Assert.Equal([0, 1], source.Folds!);
        Assert.Equal("final", source.Checkpoint);
        Assert.Equal("tester", source.ImportedBy);
        Assert.Equal(ModelRegistry.Sha256Of(Path.Combine(folder, "fold_1", "checkpoint_final.pth")), source.FilesSha256!["fold_1/checkpoint_final.pth"]);
        Assert.Equal(ModelRegistry.Sha256Of(Path.Combine(folder, "plans.json")), source.FilesSha256["plans.json"]);
        Assert.Equal(4, source.FilesSha256.Count);
    }

    [Fact]
    public void Fold_all_is_used_when_no_numbered_fold_exists_and_named_as_minus_one()
    {
        using var temp = new TempFolder("nnunet-foldall");
        ModelSidecar sidecar = NnUnetImporter.Import(new NnUnetImportOptions { TrainedFolder = NnUnetFixtures.Folder(NnUnetFixtures.OldPlans), OutputFolder = temp.Path }).Models[0].Sidecar;
        Assert.Equal([NnUnetFoldSelection.FoldAll], sidecar.NnUnet!.Source!.Folds!);
        Assert.Equal(2, sidecar.InputChannels);
        NnUnetImportException e = Assert.Throws<NnUnetImportException>(() => NnUnetImporter.Import(new NnUnetImportOptions { TrainedFolder = NnUnetFixtures.Folder(NnUnetFixtures.OldPlans), OutputFolder = temp.Path, Name = "x", Folds = NnUnetFoldSelection.Parse("all") }));
        Assert.Contains("has no fold_N/checkpoint_final.pth (folds found: fold_all)", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Importing_twice_under_one_name_is_refused_and_keeps_the_first()
    {
        using var temp = new TempFolder("nnunet-twice");
        string folder = NnUnetFixtures.Folder(NnUnetFixtures.OldPlans);
        NnUnetImportedModel first = NnUnetImporter.Import(new NnUnetImportOptions { TrainedFolder = folder, OutputFolder = temp.Path }).Models[0];
        NnUnetImportException e = Assert.Throws<NnUnetImportException>(() => NnUnetImporter.Import(new NnUnetImportOptions { TrainedFolder = folder, OutputFolder = temp.Path }));
        Assert.Contains("already exists", e.Message, StringComparison.Ordinal);
        Assert.Equal(first.Sha256, ModelRegistry.Sha256Of(first.ModelPath));
        Assert.Equal(2, Directory.EnumerateFileSystemEntries(temp.Path).Count());
    }

    [Fact]
    public async Task The_cli_imports_into_a_folder_the_registry_then_lists_as_enabled()
    {
        using var temp = new TempFolder("nnunet-cli");
        string models = Path.Combine(temp.Path, "models");

        int exit = await CliApp.RunAsync(["models", "import-nnunet", NnUnetFixtures.Folder(NnUnetFixtures.Plain), "--out", models, "--name", "knee-plain", "--folds", "0,1", "--checkpoint", "final"]);

        Assert.Equal(0, exit);
        var registry = new ModelRegistry(models, fixture.Runtime);
        ModelEntry entry = Assert.Single(registry.Models);
        Assert.Equal("knee-plain", entry.Name);
        Assert.True(entry.Enabled, entry.DisabledReason);
        Assert.NotNull(entry.Sidecar!.NnUnet);
    }

    [Fact]
    public async Task The_cli_reports_a_hostile_checkpoint_as_invalid_format_and_imports_nothing()
    {
        using var temp = new TempFolder("nnunet-cli-hostile");
        string folder = NnUnetFixtures.CopyDataset(NnUnetFixtures.OldPlans, temp.Path);
        File.Copy(Path.Combine(NnUnetFixtures.Root, "hostile", "os_system.pth"), Path.Combine(folder, "fold_all", "checkpoint_final.pth"), overwrite: true);
        string models = Path.Combine(temp.Path, "models");
        TextWriter previous = Console.Error;
        using var error = new StringWriter();
        Console.SetError(error);
        int exit;
        try
        {
            exit = await CliApp.RunAsync(["models", "import-nnunet", folder, "--out", models]);
        }
        finally
        {
            Console.SetError(previous);
        }

        Assert.Equal(CliErrors.ExitFailure, exit);
        Assert.Contains("INVALID_FORMAT: checkpoint_final.pth: the checkpoint's pickle calls posix.system", error.ToString(), StringComparison.Ordinal);
        Assert.Empty(Directory.EnumerateFileSystemEntries(models));
    }
}
