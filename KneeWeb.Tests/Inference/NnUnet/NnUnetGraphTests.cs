using KneeWeb.Inference;
using KneeWeb.Inference.NnUnet;
using KneeWeb.Tests.TestData;
using Xunit;

namespace KneeWeb.Tests.Inference.NnUnet;

/// <summary>Imported graphs run in ONNX Runtime against torch's logits for the same tile (references from the generator).</summary>
[Trait("Category", "unit")]
public sealed class NnUnetGraphTests(InferenceFixture fixture) : IClassFixture<InferenceFixture>
{
    public static TheoryData<string, string?, string, string> Cases() => new()
    {
        // folder, --folds, checkpoint, reference
        { NnUnetFixtures.Plain, null, "final", "logits_mean_final" },
        { NnUnetFixtures.Plain, "0", "final", "logits_fold_0_final" },
        { NnUnetFixtures.Plain, "1", "final", "logits_fold_1_final" },
        { NnUnetFixtures.Plain, "0", "best", "logits_fold_0_best" },
        { NnUnetFixtures.Lowres, null, "final", "logits_fold_0_final" },
        { NnUnetFixtures.Cascade, "all", "final", "logits_mean_final" },
        { NnUnetFixtures.Cascade, "1", "final", "logits_fold_1_final" },
        { NnUnetFixtures.OldPlans, null, "final", "logits_fold_all_final" },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void The_imported_graph_gives_torchs_logits(string relative, string? folds, string checkpoint, string reference)
    {
        using var temp = new TempFolder("nnunet-graph");
        string folder = NnUnetFixtures.Folder(relative);
        NnUnetImportResult result = NnUnetImporter.Import(new NnUnetImportOptions
        {
            TrainedFolder = folder,
            OutputFolder = temp.Path,
            Name = "under-test",
            Folds = NnUnetFoldSelection.Parse(folds),
            Checkpoint = checkpoint == "best" ? NnUnetCheckpointKind.Best : NnUnetCheckpointKind.Final,
            Runtime = fixture.Runtime,
        });
        NnUnetImportedModel model = result.Models[^1];
        Assert.Equal("under-test", model.Name);

        NpyArray input = NpyArray.Read(Path.Combine(folder, "reference", "input.npy"));
        NpyArray expected = NpyArray.Read(Path.Combine(folder, "reference", reference + ".npy"));
        float[] actual = Run(model.ModelPath, input, out long[] shape);

        Assert.Equal(expected.Shape, shape);
        float range = expected.Data.Max() - expected.Data.Min();
        double worst = 0;
        for (int i = 0; i < actual.Length; i++)
        {
            worst = Math.Max(worst, Math.Abs(actual[i] - expected.Data[i]));
        }

        Assert.True(range > 0.5f, $"the reference logits span only {range}: a degenerate fixture");
        Assert.True(worst <= 1e-4 * range, $"max |onnx - torch| = {worst} over a logit range of {range}");
    }

    [Fact]
    public void Averaged_folds_equal_the_mean_of_each_folds_own_model()
    {
        using var temp = new TempFolder("nnunet-folds");
        string folder = NnUnetFixtures.Folder(NnUnetFixtures.Plain);
        NpyArray input = NpyArray.Read(Path.Combine(folder, "reference", "input.npy"));
        float[] Import(string name, string folds)
        {
            NnUnetImportedModel model = NnUnetImporter.Import(new NnUnetImportOptions { TrainedFolder = folder, OutputFolder = temp.Path, Name = name, Folds = NnUnetFoldSelection.Parse(folds) }).Models[^1];
            return Run(model.ModelPath, input, out _);
        }

        float[] both = Import("both", "0,1");
        float[] zero = Import("zero", "0");
        float[] one = Import("one", "1");
        for (int i = 0; i < both.Length; i++)
        {
            Assert.Equal((zero[i] + one[i]) / 2, both[i], 1e-5f);
        }

        Assert.NotEqual(zero, one);
    }

    [Fact]
    public void A_cascade_import_brings_its_lowres_parent_and_links_them()
    {
        using var temp = new TempFolder("nnunet-cascade");
        NnUnetImportResult result = NnUnetImporter.Import(new NnUnetImportOptions { TrainedFolder = NnUnetFixtures.Folder(NnUnetFixtures.Cascade), OutputFolder = temp.Path, Runtime = fixture.Runtime });

        Assert.Equal(["dataset702-kneecascade-3d-lowres", "dataset702-kneecascade-3d-cascade-fullres"], result.Models.Select(m => m.Name).ToArray());
        NnUnetSettings cascade = result.Models[1].Sidecar.NnUnet!;
        Assert.Equal("dataset702-kneecascade-3d-lowres", cascade.PreviousStage);
        Assert.Equal([1, 2, 3, 4, 5], cascade.CascadeForegroundLabels!);
        Assert.Equal(1 + 5, result.Models[1].Sidecar.InputChannels);
        Assert.Null(result.Models[0].Sidecar.NnUnet!.PreviousStage);
        Assert.Equal(1, result.Models[0].Sidecar.InputChannels);
        var registry = new ModelRegistry(temp.Path, fixture.Runtime);
        Assert.All(registry.Models, m => Assert.True(m.Enabled, m.DisabledReason));
        Assert.Equal(2, registry.Models.Count);
    }

    private float[] Run(string modelPath, NpyArray input, out long[] shape)
    {
        using OrtSession session = OrtSession.Create(fixture.Runtime, modelPath, new OrtSessionSettings { Provider = ExecutionProviderPreference.Cpu, IntraOpThreads = 1 });
        using var tensor = new OrtFloatTensor(fixture.Runtime, input.Shape);
        input.Data.CopyTo(tensor.Data, 0);
        return session.Run(tensor, out shape);
    }
}
