using System.Text.Json.Nodes;
using KneeWeb.Cli;
using KneeWeb.Imaging;
using KneeWeb.Imaging.Io;
using KneeWeb.Pipeline.Results;
using Xunit;

namespace KneeWeb.Tests.Cli;

[Trait("Category", "unit")]
public sealed class AnalysisCommandsTests : IDisposable
{
    private readonly string folder = Path.Combine(Path.GetTempPath(), "kneeweb-cli-analysis-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(folder))
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public async Task Phantom_then_analyze_writes_the_files_with_truth_and_stats()
    {
        string phantom = Path.Combine(folder, "phantom");
        Assert.Equal(0, await CliApp.RunAsync(["phantom", "--out", phantom, "--seed", "3", "--coarsening", "2"]));
        Volume image = VolumeIo.Read(Path.Combine(phantom, "image.nii.gz"));
        Volume labels = VolumeIo.Read(Path.Combine(phantom, "labels.nii.gz"));
        Assert.Equal(new Dims3(192, 192, 80), image.Dims);
        Assert.True(labels.Geometry.IndexToRas.ApproximatelyEquals(image.Geometry.IndexToRas, 1e-5));
        JsonNode truth = JsonNode.Parse(File.ReadAllText(Path.Combine(phantom, "truth.json")))!;
        Assert.Equal(2.0, truth["thickness_mm"]!["medial_tibial_cartilage"]!["mean_mm"]!.GetValue<double>(), 6);

        string output = Path.Combine(folder, "analysis");
        Assert.Equal(0, await CliApp.RunAsync(["analyze", "--labels", Path.Combine(phantom, "labels.nii.gz"), "--image", Path.Combine(phantom, "image.nii.gz"), "--out", output]));
        Assert.True(File.Exists(Path.Combine(output, "meshes", "femur.vtk")));
        Assert.True(File.Exists(Path.Combine(output, "segmentation.nii.gz")));
        Assert.True(File.Exists(Path.Combine(output, "segmentation_subregions.nii.gz")));
        Assert.True(File.Exists(Path.Combine(output, "results.zip")));
        StatsDocument stats = StatsDocumentIo.ReadFile(Path.Combine(output, "stats.json"))!;
        Assert.Equal(PipelineEntry.Labels, stats.Entry);
        Assert.NotNull(stats.ThicknessMm!["femoral_cartilage"].MeanMm);
        Assert.Equal("The neural shape model was turned off in the job options.", stats.NsmSkipped);
    }

    [Fact]
    public async Task Analyze_of_a_missing_file_is_FILE_NOT_FOUND()
    {
        var error = new StringWriter();
        TextWriter previous = Console.Error;
        Console.SetError(error);
        try
        {
            Assert.Equal(1, await CliApp.RunAsync(["analyze", "--labels", Path.Combine(folder, "nope.nii.gz"), "--out", folder]));
        }
        finally
        {
            Console.SetError(previous);
        }

        Assert.StartsWith("FILE_NOT_FOUND", error.ToString(), StringComparison.Ordinal);
    }
}
