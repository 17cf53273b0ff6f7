using AngleSharp.Dom;
using Bunit;
using KneeWeb.Components.Pages.Results;
using KneeWeb.Data;
using KneeWeb.Jobs;
using Xunit;

namespace KneeWeb.Tests.Components;

/// <summary>Markup of the result and cohort components from real stats.json documents.</summary>
[Trait("Category", "component")]
public sealed class ResultComponentTests : ComponentTestContext
{
    /// <summary>A stats.json with every section, the shape the analysis steps will write.</summary>
    public const string FullStats = """
        {
          "kneeweb_version": "0.1.0",
          "job_id": "6f3c1c1e-0000-4000-8000-000000000001",
          "options": { "subject_id": "S-007", "knee_side": "left", "model": "demo-knee" },
          "model": { "name": "demo-knee", "version": "1.2.0" },
          "segmentation": { "model": "demo-knee", "model_version": "1.2.0", "execution_provider": "CPUExecutionProvider" },
          "volumes_mm3": { "femur": 51234.5, "femoral_cartilage": 3120.25, "medial_meniscus": 1500 },
          "thickness_mm": {
            "femoral_cartilage": { "mean": 2.1, "sd": 0.4, "median": 2.05, "p5": 1.4, "p95": 2.8, "n": 4200 },
            "medial_tibial_cartilage": { "mean": 1.75, "sd": 0.3, "median": 1.7, "p5": 1.2, "p95": 2.3, "n": 1900 }
          },
          "nsm": { "latent": [0.1, 0.2, 0.3, 0.4], "assd_mm": 0.532, "iterations": 800 },
          "bscore": { "femur": 1.37 },
          "qc": { "flags": [ { "code": "SMALL_STRUCTURE", "severity": "warning", "structure": "patella", "message": "The patella is smaller than expected." } ] },
          "steps": [ { "index": 1, "name": "Loading input", "state": "finished", "duration_s": 0.25, "reason": null },
                     { "index": 8, "name": "Fitting shape model", "state": "finished", "duration_s": 12.5, "reason": null } ],
          "timings_s": { "Loading input": 0.25 }
        }
        """;

    /// <summary>What today's pipeline writes: a segmentation, no thickness, shape model or BScore.</summary>
    public const string SegmentationOnlyStats = """
        {
          "options": { "subject_id": "S-008", "knee_side": "auto" },
          "model": { "name": "demo-knee", "version": "0.1" },
          "segmentation": { "execution_provider": "CPU" },
          "volumes_mm3": { "femur": 1000 },
          "qc": { "flags": [] },
          "steps": [ { "index": 1, "name": "Loading input", "state": "finished", "duration_s": 0.1 } ]
        }
        """;

    private static Job CompletedJob(params string[] artifacts) => new()
    {
        Id = Guid.Parse("6f3c1c1e-0000-4000-8000-000000000001"),
        Owner = "pi@lab",
        SubjectId = "S-007",
        KneeSide = "left",
        Status = JobStatus.Completed,
        CreatedUtc = new DateTime(2026, 11, 20, 9, 0, 0, DateTimeKind.Utc),
        StartedUtc = new DateTime(2026, 11, 20, 9, 0, 5, DateTimeKind.Utc),
        FinishedUtc = new DateTime(2026, 11, 20, 9, 1, 35, DateTimeKind.Utc),
        Notes = "baseline visit #knee-oa",
        Artifacts = [.. artifacts.Select(a => new Artifact { Name = a, SizeBytes = 2048 })],
    };

    [Fact]
    public async Task A_full_stats_json_shows_summary_qc_volumes_thickness_bscore_nsm_and_downloads()
    {
        var doc = Render<JobResults>(new Dictionary<string, object?>
        {
            ["Job"] = CompletedJob("results.zip", "segmentation.nii.gz", "stats.json"),
            ["Stats"] = ResultStats.Parse(FullStats),
        });

        Assert.Equal("S-007", Text(doc, "[data-testid=summary-subject]"));
        Assert.Equal("left", Text(doc, "[data-testid=summary-knee]"));
        Assert.Equal("demo-knee version 1.2.0", Text(doc, "[data-testid=summary-model]"));
        Assert.Equal("CPUExecutionProvider", Text(doc, "[data-testid=summary-provider]"));
        Assert.Equal("pi@lab", Text(doc, "[data-testid=summary-owner]"));
        Assert.Contains("(1 min 30 s)", Text(doc, "[data-testid=summary-duration]"), StringComparison.Ordinal);
        Assert.Equal("baseline visit #knee-oa", Text(doc, "[data-testid=summary-notes]"));
        Assert.Equal("12.50", doc.QuerySelector("[data-step-name='Fitting shape model'] td:last-child")!.TextContent);

        IElement flag = doc.QuerySelector("[data-qc=SMALL_STRUCTURE]")!;
        Assert.Contains("kw-qc-warning", flag.ClassName, StringComparison.Ordinal);
        Assert.Contains("The patella is smaller than expected.", flag.TextContent, StringComparison.Ordinal);

        IElement femoral = doc.QuerySelector("[data-testid=volumes] tr[data-structure=femoral_cartilage]")!;
        Assert.Equal("Femoral cartilage", femoral.Children[0].TextContent);
        Assert.Equal("3,120.3", femoral.Children[1].TextContent);
        Assert.Equal("3.120", femoral.Children[2].TextContent);
        Assert.Contains("background:#e63c3c", femoral.QuerySelector(".kw-swatch")!.GetAttribute("style"), StringComparison.Ordinal);

        IElement mtc = doc.QuerySelector("[data-testid=thickness] tr[data-region=medial_tibial_cartilage]")!;
        Assert.Equal(["Medial tibial cartilage", "1.75", "0.30", "1.70", "1.20", "2.30", "1900"], mtc.Children.Select(c => c.TextContent));
        Assert.Equal(2, doc.QuerySelectorAll("[data-testid=thickness-chart] .kw-tc-row").Length);
        Assert.Equal("2.10 mm", doc.QuerySelector("[data-testid=thickness-chart] [data-region=femoral_cartilage] .kw-tc-value")!.TextContent);

        IElement bscore = doc.QuerySelector("[data-testid=bscore-scale]")!;
        Assert.Equal("femur", bscore.GetAttribute("data-bone"));
        Assert.Equal("1.37", bscore.GetAttribute("data-value"));
        Assert.Contains("0 average healthy", bscore.TextContent, StringComparison.Ordinal);
        Assert.Contains("2 not healthy", bscore.TextContent, StringComparison.Ordinal);

        Assert.Equal("0.532 mm", Text(doc, "[data-testid=nsm-assd]"));
        Assert.Contains("4", doc.QuerySelector("[data-testid=nsm]")!.TextContent, StringComparison.Ordinal);
        Assert.Empty(doc.QuerySelectorAll("[data-testid=not-computed]"));

        Assert.Equal("/v1/jobs/6f3c1c1e-0000-4000-8000-000000000001/artifacts/results.zip", doc.QuerySelector("[data-testid=download-all]")!.GetAttribute("href"));
        Assert.Equal(["results.zip", "segmentation.nii.gz", "stats.json"], doc.QuerySelectorAll("[data-artifact]").Select(a => a.GetAttribute("data-artifact")));
    }

    [Fact]
    public async Task Sections_the_job_did_not_compute_say_so_and_show_no_values()
    {
        var doc = Render<JobResults>(new Dictionary<string, object?>
        {
            ["Job"] = CompletedJob("stats.json"),
            ["Stats"] = ResultStats.Parse(SegmentationOnlyStats),
        });

        string[] notComputed = [.. doc.QuerySelectorAll("[data-testid=not-computed]").Select(e => e.GetAttribute("data-what")!)];
        Assert.Equal(["Cartilage thickness", "BScore", "The neural shape model"], notComputed);
        Assert.Contains("not computed in this job", doc.QuerySelector("[data-what=BScore]")!.TextContent, StringComparison.Ordinal);
        Assert.Null(doc.QuerySelector("[data-testid=thickness]"));
        Assert.Null(doc.QuerySelector("[data-testid=bscore-scale]"));
        Assert.Null(doc.QuerySelector("[data-testid=nsm]"));
        Assert.NotNull(doc.QuerySelector("[data-testid=qc-none]"));
        Assert.Null(doc.QuerySelector("[data-testid=download-all]"));
        Assert.Equal("demo-knee version 0.1", Text(doc, "[data-testid=summary-model]"));
    }

    [Fact]
    public async Task A_job_without_stats_json_says_why_and_still_lists_its_files()
    {
        var doc = Render<JobResults>(new Dictionary<string, object?>
        {
            ["Job"] = CompletedJob("results.zip"),
            ["Stats"] = null,
            ["StatsError"] = "This job has no stats.json, so its metrics cannot be shown.",
        });
        Assert.Contains("no stats.json", Text(doc, "[data-testid=stats-missing]"), StringComparison.Ordinal);
        Assert.Null(doc.QuerySelector("[data-testid=volumes]"));
        Assert.NotNull(doc.QuerySelector("[data-artifact='results.zip']"));
        Assert.Equal("no model ran", Text(doc, "[data-testid=summary-model]"));
    }

    [Theory]
    [InlineData("1.5", "overall", 1.5)]
    [InlineData("{\"value\": -0.25, \"bone\": \"femur\"}", "femur", -0.25)]
    [InlineData("{\"femur\": {\"value\": 2.75}}", "femur", 2.75)]
    public void BScore_is_read_as_a_number_an_object_or_one_value_per_bone(string json, string bone, double value)
    {
        ResultStats stats = ResultStats.Parse($"{{\"bscore\": {json}}}");
        Assert.Equal([new KeyValuePair<string, double>(bone, value)], stats.BScore!);
    }

    [Fact]
    public async Task The_bscore_marker_sits_between_the_0_and_2_ticks_in_proportion()
    {
        var doc = Render<BScoreScale>(new Dictionary<string, object?> { ["Bone"] = "femur", ["Value"] = 1.0 });
        // Scale -1..4 over x 10..390: 0 at 86, 2 at 238, 1 at 162.
        IElement[] ticks = [.. doc.QuerySelectorAll("line")];
        Assert.Equal(["86", "238"], ticks.Select(t => t.GetAttribute("x1")));
        Assert.Equal("156,14 168,14 162,24", doc.QuerySelector("[data-testid=bscore-marker]")!.GetAttribute("points"));
    }

    private static string Text<T>(IRenderedComponent<T> doc, string selector)
        where T : Microsoft.AspNetCore.Components.IComponent =>
        (doc.QuerySelector(selector) ?? throw new Xunit.Sdk.XunitException($"No element matches {selector}.")).TextContent;
}
