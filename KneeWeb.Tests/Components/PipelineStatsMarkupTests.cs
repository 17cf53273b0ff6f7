using System.Globalization;
using System.Text.Json;
using AngleSharp.Dom;
using KneeWeb.Components.Pages.Results;
using KneeWeb.Data;
using KneeWeb.Jobs;
using KneeWeb.Tests.TestData;
using Xunit;

namespace KneeWeb.Tests.Components;

/// <summary>
/// Every section of a stats.json the pipeline wrote (TestData/Results/stats-pipeline-phantom.json:
/// `KneeWeb process` on the phantom at coarsening 2 with the demo model, kept as written) is on the result page.
/// </summary>
[Trait("Category", "component")]
public sealed class PipelineStatsMarkupTests
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    [Fact]
    public async Task Every_metric_of_a_pipeline_stats_json_is_shown()
    {
        string json = TestFiles.ReadText("Results/stats-pipeline-phantom.json");
        using JsonDocument doc = JsonDocument.Parse(json);
        JsonElement root = doc.RootElement;
        IDocument page = await MarkupRenderer.RenderAsync<JobResults>(new Dictionary<string, object?>
        {
            ["Job"] = new Job { Id = Guid.NewGuid(), Owner = "lab", Status = JobStatus.Completed, InputFileName = "image.nii.gz" },
            ["Stats"] = ResultStats.Parse(json),
        });

        JsonElement input = root.GetProperty("input");
        Assert.Equal("192 × 192 × 80 voxels", Text(page, "[data-testid=input-dims]"));
        Assert.Equal("0.72 × 0.72 × 1.4 mm", Text(page, "[data-testid=input-spacing]"));
        Assert.Contains(input.GetProperty("format").GetString()!, Text(page, "[data-testid=input-details]"), StringComparison.Ordinal);

        foreach (JsonProperty stat in root.GetProperty("image_stats").EnumerateObject())
        {
            Assert.Equal(stat.Value.GetDouble().ToString("0.####", Inv), Text(page, $"[data-testid=image-stats] [data-stat='{stat.Name}']"));
        }

        JsonElement segmentation = root.GetProperty("segmentation");
        Assert.StartsWith($"{segmentation.GetProperty("tiles").GetInt32()} in batches of {segmentation.GetProperty("batch_size").GetInt32()}", Text(page, "[data-testid=segmentation-tiles]"), StringComparison.Ordinal);
        Assert.Equal("none", Text(page, "[data-testid=segmentation-fallbacks]"));
        foreach (JsonProperty timing in segmentation.GetProperty("timings_s").EnumerateObject())
        {
            Assert.Equal($"{timing.Value.GetDouble().ToString("0.000", Inv)} s", Text(page, $"[data-testid=segmentation-run] [data-timing='{timing.Name}']"));
        }

        Assert.Equal($"{segmentation.GetProperty("model").GetString()} version {root.GetProperty("model").GetProperty("version").GetString()}", Text(page, "[data-testid=summary-model]"));
        Assert.Equal(segmentation.GetProperty("execution_provider").GetString(), Text(page, "[data-testid=summary-provider]"));

        foreach (JsonProperty volume in root.GetProperty("volumes_mm3").EnumerateObject())
        {
            Assert.Equal(volume.Value.GetDouble().ToString("#,0.0", Inv), page.QuerySelector($"[data-testid=volumes] tr[data-structure='{volume.Name}']")!.Children[1].TextContent);
        }

        foreach (JsonProperty region in root.GetProperty("thickness_mm").EnumerateObject())
        {
            IElement row = page.QuerySelector($"[data-testid=thickness] tr[data-region='{region.Name}']")!;
            JsonElement mean = region.Value.GetProperty("mean");
            Assert.Equal(mean.ValueKind == JsonValueKind.Number ? mean.GetDouble().ToString("0.00", Inv) : "–", row.Children[1].TextContent);
            Assert.Equal(region.Value.GetProperty("n").GetInt64().ToString(Inv), row.Children[6].TextContent);
        }

        foreach (JsonProperty mesh in root.GetProperty("meshes").EnumerateObject())
        {
            IElement row = page.QuerySelector($"[data-testid=mesh-stats] tr[data-mesh='{mesh.Name}']")!;
            Assert.Equal(mesh.Value.GetProperty("vertices").GetInt64().ToString("#,0", Inv), row.Children[1].TextContent);
            Assert.Equal(mesh.Value.GetProperty("triangles").GetInt64().ToString("#,0", Inv), row.Children[2].TextContent);
            Assert.Equal(mesh.Value.GetProperty("watertight").GetBoolean() ? "yes" : "no", row.Children[3].TextContent);
            Assert.Equal(mesh.Value.GetProperty("area_mm2").GetDouble().ToString("#,0.0", Inv), row.Children[4].TextContent);
            Assert.Equal(mesh.Value.GetProperty("volume_mm3").GetDouble().ToString("#,0.0", Inv), row.Children[5].TextContent);
        }

        JsonElement[] flags = [.. root.GetProperty("qc").GetProperty("flags").EnumerateArray()];
        Assert.Equal(flags.Length, page.QuerySelectorAll("[data-testid=qc-flags] li").Length);
        foreach (JsonElement step in root.GetProperty("steps").EnumerateArray())
        {
            IElement row = page.QuerySelector($"[data-testid=step-durations] tr[data-step-name='{step.GetProperty("name").GetString()}']")!;
            Assert.Equal(step.GetProperty("duration_s").GetDouble().ToString("0.00", Inv), row.Children[2].TextContent);
        }

        Assert.Equal(["BScore", "The neural shape model"], page.QuerySelectorAll("[data-testid=not-computed]").Select(e => e.GetAttribute("data-what")));
    }

    private static string Text(IDocument doc, string selector) =>
        (doc.QuerySelector(selector) ?? throw new Xunit.Sdk.XunitException($"No element matches {selector}.")).TextContent;
}
