using AngleSharp.Dom;
using Bunit;
using KneeWeb.Components.Pages.Results;
using KneeWeb.Data;
using KneeWeb.Jobs;
using KneeWeb.Tests.TestData;
using Xunit;

namespace KneeWeb.Tests.Components;

/// <summary>
/// The shape model and BScore sections against the stats.json schema of the NSM steps, from the
/// hand-written golden file TestData/Results/stats-nsm.json (and its skipped-NSM sibling).
/// </summary>
[Trait("Category", "component")]
public sealed class NsmResultTests : ComponentTestContext
{
    private static readonly ResultStats Golden = ResultStats.Parse(TestFiles.ReadText("Results/stats-nsm.json"));
    private static readonly ResultStats Skipped = ResultStats.Parse(TestFiles.ReadText("Results/stats-nsm-skipped.json"));

    private static Job CompletedJob(params string[] artifacts) => new()
    {
        Id = Guid.Parse("2b0c5e7a-0000-4000-8000-0000000000a1"),
        Owner = "pi@lab",
        SubjectId = "OAI-9001",
        KneeSide = "right",
        Tags = "baseline,knee-oa",
        Status = JobStatus.Completed,
        CreatedUtc = new DateTime(2026, 11, 21, 9, 10, 0, DateTimeKind.Utc),
        StartedUtc = new DateTime(2026, 11, 21, 9, 11, 0, DateTimeKind.Utc),
        FinishedUtc = new DateTime(2026, 11, 21, 9, 12, 44, DateTimeKind.Utc),
        Artifacts = [.. artifacts.Select(a => new Artifact { Name = a, SizeBytes = 4096 })],
    };

    [Fact]
    public void The_golden_stats_json_parses_every_nsm_and_bscore_field()
    {
        NsmView nsm = Golden.Nsm!;
        Assert.Equal("bone", nsm.Mode);
        Assert.Equal("nsm-femur-bone", nsm.ModelName);
        Assert.Equal("0.4.2", nsm.ModelVersion);
        Assert.Equal(8, nsm.LatentSize);
        Assert.Equal([0.1234, -0.5678, 0.9012, -0.3456, 0.789, -0.0123, 0.4567, -0.8901], nsm.Latent!);
        Assert.Equal(0.8765, nsm.AssdMm);
        Assert.Equal(742, nsm.Iterations);
        Assert.Equal(0.001234, nsm.BestLoss);
        Assert.True(nsm.Converged);
        Assert.Equal(41.73, nsm.FitTimeSeconds);
        Assert.Equal("femur_nsm.vtk", nsm.Mesh);
        Assert.True(nsm.Transform!.Mirrored);
        Assert.Equal(1.0421, nsm.Transform.Scale);
        Assert.Equal([-12.5, 3.25, 40.125], nsm.Transform.TranslationMm!);
        Assert.Equal(3, nsm.Transform.Rotation!.Count);
        Assert.Equal(0.0157, nsm.Transform.Rotation[1][2]);

        Assert.Equal([new KeyValuePair<string, double>("overall", 1.3725)], Golden.BScore!);
        Assert.Equal(new BScoreReference(-0.0412, 1.0873, "oa-axis-femur 2024.1"), Golden.BScoreReference);

        Assert.Null(Skipped.BScore);
        Assert.Null(Skipped.Nsm);
        Assert.Equal("No shape model is installed for the femur.", Skipped.NsmSkipped);
    }

    [Fact]
    public async Task The_result_page_shows_the_bscore_on_its_scale_and_every_nsm_field()
    {
        var doc = Render<JobResults>(new Dictionary<string, object?>
        {
            ["Job"] = CompletedJob("meshes/femur_nsm.vtk", "results.zip", "stats.json"),
            ["Stats"] = Golden,
            ["NsmMeshArtifact"] = "meshes/femur_nsm.vtk",
        });

        IElement scale = doc.QuerySelector("[data-testid=bscore-scale]")!;
        Assert.Equal("1.37", scale.GetAttribute("data-value"));
        // The card heading says "BScore" once; the overall scale carries no second caption.
        Assert.Null(scale.QuerySelector("figcaption"));
        Assert.Single(doc.QuerySelectorAll("h3"), h => h.TextContent == "BScore");
        Assert.Contains("0 average healthy", scale.TextContent, StringComparison.Ordinal);
        Assert.Contains("2 not healthy", scale.TextContent, StringComparison.Ordinal);
        string reference = Text(doc, "[data-testid=bscore-reference]");
        Assert.Contains("oa-axis-femur 2024.1", reference, StringComparison.Ordinal);
        Assert.Contains("healthy mean -0.041", reference, StringComparison.Ordinal);
        Assert.Contains("healthy SD 1.087", reference, StringComparison.Ordinal);

        Assert.Equal("nsm-femur-bone version 0.4.2", Text(doc, "[data-testid=nsm-model]"));
        Assert.Equal("bone only", Text(doc, "[data-testid=nsm-mode]"));
        Assert.Equal("0.877 mm", Text(doc, "[data-testid=nsm-assd]"));
        Assert.Equal("742", Text(doc, "[data-testid=nsm-iterations]"));
        Assert.Equal("yes", Text(doc, "[data-testid=nsm-converged]"));
        Assert.Equal("0.001234", Text(doc, "[data-testid=nsm-loss]"));
        Assert.Equal("41.7 s", Text(doc, "[data-testid=nsm-fit-time]"));
        Assert.StartsWith("mirrored", Text(doc, "[data-testid=nsm-mirrored]"), StringComparison.Ordinal);
        Assert.Equal("1.042", Text(doc, "[data-testid=nsm-scale]"));
        Assert.Equal("(-12.50, 3.25, 40.13)", Text(doc, "[data-testid=nsm-translation]"));
        Assert.Equal(
            ["0.9998", "-0.0175", "0.0052", "0.0174", "0.9997", "0.0157", "-0.0055", "-0.0156", "0.9999"],
            doc.QuerySelectorAll("[data-testid=nsm-rotation] td").Select(td => td.TextContent));

        // The latent vector is there in full, folded away behind its size.
        IElement latent = doc.QuerySelector("details[data-testid=nsm-latent]")!;
        Assert.Null(latent.GetAttribute("open"));
        Assert.Equal("8 values", latent.QuerySelector("summary")!.TextContent);
        Assert.Equal("-0.8901", latent.QuerySelectorAll("li")[^1].TextContent);

        Assert.Equal("/v1/jobs/2b0c5e7a-0000-4000-8000-0000000000a1/artifacts/meshes/femur_nsm.vtk", doc.QuerySelector("[data-testid=nsm-mesh] a")!.GetAttribute("href"));
        Assert.Contains("Running Neural Shape Model", doc.QuerySelector("[data-testid=step-durations]")!.TextContent, StringComparison.Ordinal);
        Assert.Equal("42.01", doc.QuerySelector("[data-step-name='Running Neural Shape Model'] td:last-child")!.TextContent);
        Assert.Equal(["baseline", "knee-oa"], doc.QuerySelectorAll("[data-testid=summary-tags] .kw-tag").Select(t => t.TextContent));
        Assert.Empty(doc.QuerySelectorAll("[data-testid=not-computed]"));
    }

    [Theory]
    [InlineData(-0.00001, "0.0000")]
    [InlineData(-0.00004999, "0.0000")]
    [InlineData(-0.0, "0.0000")]
    [InlineData(-0.00005001, "-0.0001")]
    [InlineData(-0.0175, "-0.0175")]
    public void Matrix_and_latent_values_that_round_to_zero_show_no_minus_sign(double value, string shown)
    {
        Assert.Equal(shown, ResultDetails.F4(value));
    }

    [Fact]
    public async Task A_skipped_shape_model_says_why_for_bscore_and_nsm_and_a_missing_nsm_mesh_is_named()
    {
        var doc = Render<JobResults>(new Dictionary<string, object?>
        {
            ["Job"] = CompletedJob("stats.json"),
            ["Stats"] = Skipped,
        });
        Assert.Contains("No shape model is installed for the femur.", doc.QuerySelector("[data-what=BScore]")!.TextContent, StringComparison.Ordinal);
        Assert.Contains("No shape model is installed for the femur.", doc.QuerySelector("[data-what='The neural shape model']")!.TextContent, StringComparison.Ordinal);
        Assert.Null(doc.QuerySelector("[data-testid=bscore-scale]"));

        var golden = Render<JobResults>(new Dictionary<string, object?>
        {
            ["Job"] = CompletedJob("stats.json"),
            ["Stats"] = Golden,
        });
        Assert.Contains("femur_nsm.vtk is missing", Text(golden, "[data-testid=nsm-mesh]"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_file_missing_from_the_job_folder_is_listed_without_a_broken_link()
    {
        var doc = Render<JobResults>(new Dictionary<string, object?>
        {
            ["Job"] = CompletedJob("results.zip", "segmentation.nii.gz", "stats.json"),
            ["Stats"] = Golden,
            ["MissingFiles"] = new HashSet<string> { "segmentation.nii.gz" },
        });
        Assert.Null(doc.QuerySelector("[data-artifact='segmentation.nii.gz']"));
        Assert.Contains("missing from the job folder", doc.QuerySelector("[data-missing='segmentation.nii.gz']")!.TextContent, StringComparison.Ordinal);
        Assert.NotNull(doc.QuerySelector("[data-artifact='results.zip']"));
    }

    private static string Text<T>(IRenderedComponent<T> doc, string selector)
        where T : Microsoft.AspNetCore.Components.IComponent =>
        (doc.QuerySelector(selector) ?? throw new Xunit.Sdk.XunitException($"No element matches {selector}.")).TextContent;
}
