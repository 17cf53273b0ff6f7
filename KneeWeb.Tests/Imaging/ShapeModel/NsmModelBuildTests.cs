using System.Text.Json.Nodes;
using KneeWeb.Cli;
using KneeWeb.Imaging.ShapeModel;
using KneeWeb.Inference;
using KneeWeb.Inference.ModelBuilding;
using Xunit;

namespace KneeWeb.Tests.Imaging.ShapeModel;

/// <summary>The committed model against its sidecar, the trainer's determinism, and `analyze --nsm bone` end to end.</summary>
[Trait("Category", "unit")]
public sealed class NsmModelBuildTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("kneeweb-nsm-build-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    [Fact]
    public void The_committed_model_matches_its_sidecar()
    {
        string? models = ModelRegistry.FindDefaultFolder();
        Assert.True(models is not null, "models/ not found above the test folder");
        string sidecarPath = Path.Combine(NsmModels.Folder(models!), NsmModelBuilder.Name + ".json");
        NsmSidecar sidecar = NsmSidecar.Read(sidecarPath);
        Assert.Equal(sidecar.Sha256, ModelRegistry.Sha256Of(Path.Combine(NsmModels.Folder(models!), sidecar.Onnx)));
        Assert.Equal(sidecar.LatentSize, sidecar.MeanLatent.Length);
        double norm = 0;
        foreach (float b in sidecar.Bscore.Axis)
        {
            norm += b * b;
        }

        Assert.Equal(1.0, norm, 5);
        Assert.True(sidecar.Bscore.HealthySd > 0);
        Assert.Equal(new TrainingSettings().Epochs, sidecar.Training["epochs"].GetInt32());
    }

    /// <summary>
    /// The full build takes minutes (training plus calibration fits), too long for every test run; a short
    /// build with the same code paths must give the same bytes twice (the committed model's sha256 is
    /// checked against its sidecar above, and `KneeWeb models build-nsm` reproduces it on the same machine).
    /// </summary>
    [Fact]
    public void A_short_build_gives_the_same_bytes_twice()
    {
        var settings = new TrainingSettings
        {
            Shapes = 8,
            Epochs = 3,
            Hidden = 16,
            Samples = new SampleSettings { Count = 600, SurfaceGridMm = 2.5 },
            Calibration = new NsmFitOptions { Reconstruct = false, MaxIterations = 40, SurfacePoints = 200 },
        };
        NsmSidecar first = NsmModelBuilder.Build(Path.Combine(folder, "a"), settings);
        NsmSidecar second = NsmModelBuilder.Build(Path.Combine(folder, "b"), settings);
        Assert.Equal(first.Sha256, second.Sha256);
        Assert.Equal(File.ReadAllBytes(Path.Combine(folder, "a", first.Onnx)), File.ReadAllBytes(Path.Combine(folder, "b", second.Onnx)));
        Assert.Equal(first.Bscore.Axis, second.Bscore.Axis);
        Assert.Equal(first.Bscore.HealthyMean, second.Bscore.HealthyMean);
    }

    [Fact]
    public async Task Analyze_with_nsm_bone_writes_stats_json_with_the_nsm_schema_and_the_mesh()
    {
        string phantom = Path.Combine(folder, "phantom");
        Assert.Equal(0, await CliApp.RunAsync(["phantom", "--out", phantom, "--seed", "2", "--coarsening", "2", "--oa", "0.5"]));
        string output = Path.Combine(folder, "analysis");
        Assert.Equal(0, await CliApp.RunAsync(["analyze", "--labels", Path.Combine(phantom, "labels.nii.gz"), "--out", output, "--nsm", "bone", "--no-thickness"]));
        JsonNode stats = JsonNode.Parse(File.ReadAllText(Path.Combine(output, "stats.json")))!;
        JsonNode nsm = stats["nsm"]!;
        Assert.Equal("bone", nsm["mode"]!.GetValue<string>());
        Assert.Equal(NsmModelBuilder.Name, nsm["model"]!["name"]!.GetValue<string>());
        Assert.Equal(NsmModelBuilder.Version, nsm["model"]!["version"]!.GetValue<string>());
        Assert.Equal(8, nsm["latent"]!.AsArray().Count);
        Assert.True(nsm["assd_mm"]!.GetValue<double>() is > 0 and < 1.0);
        Assert.True(nsm["iterations"]!.GetValue<int>() > 0);
        Assert.True(nsm["best_loss"]!.GetValue<double>() > 0);
        _ = nsm["converged"]!.GetValue<bool>();
        JsonNode transform = nsm["transform"]!;
        Assert.False(transform["mirrored"]!.GetValue<bool>());
        Assert.True(transform["scale"]!.GetValue<double>() > 0);
        Assert.Equal(3, transform["rotation"]!.AsArray().Count);
        Assert.Equal(3, transform["rotation"]![0]!.AsArray().Count);
        Assert.Equal(3, transform["translation_mm"]!.AsArray().Count);
        Assert.True(nsm["fit_time_s"]!.GetValue<double>() > 0);
        Assert.Equal("femur_nsm.vtk", nsm["mesh"]!.GetValue<string>());
        Assert.True(double.IsFinite(stats["bscore"]!.GetValue<double>()));
        Assert.True(stats["bscore_reference"]!["healthy_sd"]!.GetValue<double>() > 0);
        Assert.False(string.IsNullOrEmpty(stats["bscore_reference"]!["axis_model"]!.GetValue<string>()));
        Assert.Null(stats["nsm_skipped"]);
        foreach (string file in new[] { "femur_nsm.vtk", "femur_nsm.stl", "femur_nsm.ply", "nsm.json" })
        {
            Assert.True(File.Exists(Path.Combine(output, file)), file);
        }

        Assert.Equal(stats["bscore"]!.GetValue<double>(), JsonNode.Parse(File.ReadAllText(Path.Combine(output, "nsm.json")))!["bscore"]!.GetValue<double>());
    }
}
