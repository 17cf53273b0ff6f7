using System.Text.Json.Nodes;
using KneeWeb.Imaging;
using KneeWeb.Imaging.Io;
using KneeWeb.Imaging.Phantom;
using KneeWeb.Inference;
using KneeWeb.Inference.ModelBuilding;
using KneeWeb.Pipeline;
using Xunit;

namespace KneeWeb.Tests.Imaging.ShapeModel;

/// <summary>The site's pipeline with the shape model on: steps 7 and 8 run, report fractions, and fill stats.json and the job folder.</summary>
[Trait("Category", "unit")]
public sealed class NsmPipelineTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("kneeweb-nsm-pipeline-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    [Fact]
    public async Task A_job_with_nsm_bone_fits_the_femur_and_records_the_BScore()
    {
        // A phantom drawn in the demo segmentation model's intensities, so the model gives back its labels.
        PhantomResult phantom = KneePhantom.Generate(FemurShapeFamily.Phantom(seed: 3, oa: 0.4));
        var intensity = new Dictionary<int, double>();
        foreach (IntensityClass c in DemoModel.DefaultClasses)
        {
            intensity[c.SchemaLabel] = c.Mean;
        }

        byte[] labels = (byte[])phantom.Labels.Voxels;
        var voxels = new short[labels.Length];
        for (int v = 0; v < labels.Length; v++)
        {
            voxels[v] = (short)intensity[labels[v]];
        }

        string input = Path.Combine(folder, "knee.nii.gz");
        VolumeIo.Write(new Volume(phantom.Labels.Geometry, VoxelType.Int16, voxels), input);
        string? models = ModelRegistry.FindDefaultFolder();
        Assert.True(models is not null, "models/ not found above the test folder");
        var context = new PipelineContext
        {
            JobId = Guid.NewGuid(),
            InputPath = input,
            InputFileName = "knee.nii.gz",
            Options = new PipelineOptions { Model = DemoModel.Name, Device = "cpu", Nsm = "bone", Thickness = false },
            OutputFolder = Path.Combine(folder, "job"),
        };
        var observer = new Recorder();
        await new KneePipeline(new SegmentationEngine(models!)).RunAsync(context, new PipelineRun(observer), CancellationToken.None);

        JsonNode stats = JsonNode.Parse(File.ReadAllText(Path.Combine(context.OutputFolder, "stats.json")))!;
        Assert.Equal("bone", stats["nsm"]!["mode"]!.GetValue<string>());
        Assert.True(stats["nsm"]!["assd_mm"]!.GetValue<double>() < 1.0);
        Assert.True(double.IsFinite(stats["bscore"]!.GetValue<double>()));
        Assert.NotNull(stats["bscore_reference"]!["axis_model"]);
        Assert.Null(stats["nsm_skipped"]);
        foreach (string file in new[] { "femur_nsm.vtk", "femur_nsm.stl", "femur_nsm.ply", "nsm.json" })
        {
            Assert.True(File.Exists(Path.Combine(context.OutputFolder, file)), file);
        }

        JsonArray steps = stats["steps"]!.AsArray();
        Assert.Contains(steps, s => s!["name"]!.GetValue<string>() == KneeSteps.Nsm.Name && s["state"]!.GetValue<string>() == "finished");
        Assert.Contains(steps, s => s!["name"]!.GetValue<string>() == KneeSteps.BScore.Name && s["state"]!.GetValue<string>() == "finished");
        // The fit reports its progress as it goes, not only 0 and 1.
        Assert.Contains(observer.NsmFractions, f => f > 0.1 && f < 0.9);
    }

    private sealed class Recorder : IPipelineObserver
    {
        public List<double> NsmFractions { get; } = [];

        public void OnProgress(PipelineProgress progress)
        {
            if (progress.StepName == KneeSteps.Nsm.Name)
            {
                NsmFractions.Add(progress.StepFraction);
            }
        }

        public void OnStepFinished(StepDefinition step, TimeSpan duration)
        {
        }

        public void OnStepSkipped(StepDefinition step, string reason)
        {
        }

        public void OnPreview(PipelinePreview preview)
        {
        }
    }
}
