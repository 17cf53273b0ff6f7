using AngleSharp.Dom;
using Bunit;
using Bunit.TestDoubles;
using KneeWeb.Components.Layout;
using KneeWeb.Components.Pages.Results;
using KneeWeb.Data;
using KneeWeb.Jobs;
using KneeWeb.Security;
using Microsoft.AspNetCore.Components;
using Xunit;

namespace KneeWeb.Tests.Components;

/// <summary>
/// The result page top first (verdict and key numbers, then the viewers, then the details), units on every
/// numeric column, femoral subregions under femoral cartilage; the thickness chart and BScore scale drawn in
/// proportion; the navigation menu's destinations per role.
/// </summary>
[Trait("Category", "component")]
public sealed class ResultLayoutTests : ComponentTestContext
{
    /// <summary>Subregions and plates in a scrambled file order, a failing QC, thickness, BScore and meshes.</summary>
    private const string SubregionStats = """
        {
          "volumes_mm3": { "femoral_lateral_posterior": 310.5, "tibia": 76543.2, "femoral_anterior": 820.25, "femoral_cartilage": 4321.5, "femur": 98765.4, "lateral_meniscus": 1400.5 },
          "thickness_mm": {
            "femoral_medial_weight_bearing": { "mean": 2.4, "sd": 0.5, "median": 2.35, "p5": 1.6, "p95": 3.3, "n": 800 },
            "medial_tibial_cartilage": { "mean": 1.75, "sd": 0.3, "median": 1.7, "p5": 1.2, "p95": 2.3, "n": 1900 },
            "femoral_cartilage": { "mean": 2.1, "sd": 0.4, "median": 2.05, "p5": 1.4, "p95": 2.8, "n": 4200 },
            "femoral_anterior": { "mean": 1.9, "sd": 0.35, "median": 1.85, "p5": 1.3, "p95": 2.5, "n": 900 }
          },
          "bscore": { "femur": 2.6 },
          "meshes": { "femur": { "vertices": 1200, "triangles": 2396, "watertight": true, "area_mm2": 8123.4, "volume_mm3": 98000.1 } },
          "image_stats": { "min": 0, "max": 812.5 },
          "qc": { "flags": [
            { "code": "HOLES_FILLED", "severity": "info", "structure": "femur", "message": "Filled 12 voxels." },
            { "code": "VOLUME_OUT_OF_RANGE", "severity": "warning", "structure": "tibia", "message": "tibia volume is outside the expected range." },
            { "code": "STRUCTURE_MISSING", "severity": "error", "structure": "patella", "message": "No voxels of patella (label 3) in the segmentation." } ] },
          "steps": [ { "index": 1, "name": "Loading input", "state": "finished", "duration_s": 0.25 } ]
        }
        """;

    private static readonly Job Completed = new()
    {
        Id = Guid.Parse("6f3c1c1e-0000-4000-8000-000000000002"),
        Owner = "pi@lab",
        SubjectId = "S-100",
        Status = JobStatus.Completed,
        CreatedUtc = new DateTime(2026, 12, 1, 9, 0, 0, DateTimeKind.Utc),
        Artifacts = [new Artifact { Name = "results.zip", SizeBytes = 4096 }, new Artifact { Name = "stats.json", SizeBytes = 2048 }],
    };

    private static readonly string[] TopParts = ["qc-verdict", "qc-top", "volumes", "thickness", "bscore"];
    private static readonly string[] DetailParts = ["qc-flags", "thickness-chart", "mesh-stats", "step-durations", "result-summary", "files"];

    private IRenderedComponent<JobResults> RenderResults(string stats) =>
        Render<JobResults>(new Dictionary<string, object?>
        {
            ["Job"] = Completed,
            ["Stats"] = ResultStats.Parse(stats),
            ["Viewers"] = (RenderFragment)(b => b.AddMarkupContent(0, "<div data-testid=\"viewers-placed\">viewers</div>")),
        });

    [Fact]
    public void Verdict_and_key_numbers_come_first_then_the_viewers_then_the_details()
    {
        IRenderedComponent<JobResults> doc = RenderResults(SubregionStats);

        List<IElement> order = [.. doc.FindAll("[data-testid]")];
        int At(string testId) => order.FindIndex(e => e.GetAttribute("data-testid") == testId);
        Assert.All(TopParts, id => Assert.InRange(At(id), 0, At("viewers-placed") - 1));
        Assert.All(DetailParts, id => Assert.True(At(id) > At("viewers-placed"), id));
        Assert.True(At("qc-verdict") < At("volumes"));
        Assert.Equal(["result-top", "result-viewers", "result-details"],
            doc.Find("[data-testid=results]").Children.Select(c => c.GetAttribute("data-testid")));

        // The fail verdict is in the error colour, and the error that made it is named before any number.
        IElement verdict = doc.Find("[data-testid=result-top] [data-testid=qc-verdict]");
        Assert.Equal("fail", verdict.GetAttribute("data-verdict"));
        Assert.Equal("QC: fail, 1 error, 1 warning", verdict.Text());
        Assert.Contains("mud-chip-color-error", verdict.ClassName, StringComparison.Ordinal);
        Assert.Equal(["STRUCTURE_MISSING", "VOLUME_OUT_OF_RANGE"], doc.FindAll("[data-testid=qc-top] li[data-qc-top]").Select(l => l.GetAttribute("data-qc-top")));
        Assert.Equal("/v1/jobs/6f3c1c1e-0000-4000-8000-000000000002/artifacts/results.zip", doc.Find("[data-testid=result-top] [data-testid=download-all]").GetAttribute("href"));
    }

    [Fact]
    public void Every_numeric_column_names_its_unit()
    {
        IRenderedComponent<JobResults> doc = RenderResults(SubregionStats);
        IElement[] numeric = [.. doc.FindAll("table th.kw-num")];
        Assert.True(numeric.Length >= 13, $"only {numeric.Length} numeric columns");
        Assert.All(numeric, th => Assert.Matches(@"\((mm³|cm³|mm|mm²|s|n|a\.u\.)\)$", th.Text()));
        Assert.Equal(["Region", "Mean (mm)", "SD (mm)", "Median (mm)", "P5 (mm)", "P95 (mm)", "Points (n)"],
            doc.FindAll("[data-testid=thickness] th").Select(th => th.Text()));
    }

    [Fact]
    public void Femoral_subregions_sit_under_femoral_cartilage_in_schema_order()
    {
        IRenderedComponent<JobResults> doc = RenderResults(SubregionStats);

        Assert.Equal(["femur", "tibia", "femoral_cartilage", "femoral_anterior", "femoral_lateral_posterior", "lateral_meniscus"],
            doc.FindAll("[data-testid=volumes] tbody tr").Select(r => r.GetAttribute("data-structure")));
        Assert.Equal(["femoral_cartilage", "femoral_anterior", "femoral_medial_weight_bearing", "medial_tibial_cartilage"],
            doc.FindAll("[data-testid=thickness] tbody tr").Select(r => r.GetAttribute("data-region")));
        IElement sub = doc.Find("[data-testid=thickness] tr[data-region=femoral_medial_weight_bearing]");
        Assert.Contains("kw-subregion", sub.ClassName, StringComparison.Ordinal);
        Assert.Equal("femoral_cartilage", sub.GetAttribute("data-parent"));
        Assert.Equal(["Femoral medial weight bearing", "2.40", "0.50", "2.35", "1.60", "3.30", "800"], sub.Children.Select(c => c.TextContent));
        Assert.Null(doc.Find("[data-testid=thickness] tr[data-region=femoral_cartilage]").GetAttribute("data-parent"));
        Assert.Equal("820.3", doc.Find("[data-testid=volumes] tr[data-structure=femoral_anterior]").Children[1].TextContent);
    }

    [Fact]
    public void A_passing_job_shows_no_flag_list_at_the_top()
    {
        IRenderedComponent<JobResults> doc = RenderResults("""{ "volumes_mm3": { "femur": 1000 }, "qc": { "flags": [ { "code": "HOLES_FILLED", "severity": "info", "message": "Filled 2 voxels." } ] } }""");
        Assert.Equal("pass", doc.Find("[data-testid=qc-verdict]").GetAttribute("data-verdict"));
        Assert.Empty(doc.FindAll("[data-testid=qc-top]"));
        Assert.Single(doc.FindAll("[data-testid=qc-flags] li"));
    }

    [Fact]
    public void The_thickness_chart_draws_bars_and_whiskers_in_proportion_to_a_whole_millimetre_scale()
    {
        List<ThicknessRegion> regions =
        [
            new("femoral_cartilage", 2.1, 0.4, 2.05, 1.4, 2.8, 4200),
            new("medial_tibial_cartilage", 1.5, 0.3, 1.5, 0.6, 2.4, 1900),
            new("patellar_cartilage", null, null, null, null, null, 0),
        ];
        IRenderedComponent<ThicknessChart> chart = Render<ThicknessChart>(new Dictionary<string, object?> { ["Regions"] = regions });

        // The largest P95 (2.8 mm) rounds up to a 3 mm scale: 2.1 mm is 70 %, the 1.4-2.8 mm whisker starts at 46.7 % and spans 46.7 %.
        Assert.Equal(["0 mm", "3 mm"], chart.FindAll(".kw-tc-axis span").Select(s => s.TextContent));
        IElement femoral = chart.Find("[data-region=femoral_cartilage]");
        Assert.StartsWith("width:70%;background:#e63c3c", femoral.QuerySelector(".kw-tc-bar")!.GetAttribute("style"), StringComparison.Ordinal);
        Assert.Equal("left:46.7%;width:46.7%", femoral.QuerySelector(".kw-tc-whisker")!.GetAttribute("style"));
        Assert.Equal("2.10 mm", femoral.QuerySelector(".kw-tc-value")!.TextContent);
        Assert.StartsWith("width:50%", chart.Find("[data-region=medial_tibial_cartilage] .kw-tc-bar").GetAttribute("style"), StringComparison.Ordinal);
        Assert.Equal("Medial tibial cartilage", chart.Find("[data-region=medial_tibial_cartilage] .kw-tc-label").TextContent);
        // A plate without a mean gets no bar and says so.
        Assert.Null(chart.Find("[data-region=patellar_cartilage]").QuerySelector(".kw-tc-bar"));
        Assert.Equal("–", chart.Find("[data-region=patellar_cartilage] .kw-tc-value").TextContent);
    }

    [Fact]
    public void The_thickness_scale_never_drops_below_one_millimetre()
    {
        IRenderedComponent<ThicknessChart> chart = Render<ThicknessChart>(new Dictionary<string, object?>
        {
            ["Regions"] = new List<ThicknessRegion> { new("patellar_cartilage", 0.2, null, null, null, null, 10) },
        });
        Assert.Equal("1 mm", chart.FindAll(".kw-tc-axis span")[1].TextContent);
        Assert.StartsWith("width:20%", chart.Find(".kw-tc-bar").GetAttribute("style"), StringComparison.Ordinal);
        Assert.Empty(chart.FindAll(".kw-tc-whisker"));
    }

    [Theory]
    [InlineData(-3.2, "-3.20")]
    [InlineData(6.4, "6.40")]
    public void A_bscore_outside_the_usual_range_widens_the_scale_and_stays_on_it(double value, string shown)
    {
        IRenderedComponent<BScoreScale> scale = Render<BScoreScale>(new Dictionary<string, object?> { ["Bone"] = "overall", ["Value"] = value });
        Assert.Equal(shown, scale.Find("[data-testid=bscore-scale]").GetAttribute("data-value"));
        Assert.Empty(scale.FindAll("figcaption"));
        // The marker's tip stays inside the drawn line (x 10..390).
        string[] tip = scale.Find("[data-testid=bscore-marker]").GetAttribute("points")!.Split(' ')[2].Split(',');
        double x = double.Parse(tip[0], System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange(x, 10, 390);
        // 0 and 2 keep their order on the widened scale.
        double[] ticks = [.. scale.FindAll("line").Select(l => double.Parse(l.GetAttribute("x1")!, System.Globalization.CultureInfo.InvariantCulture))];
        Assert.True(ticks[0] < ticks[1]);
        Assert.True(value < 0 ? x < ticks[0] : x > ticks[1]);
    }

    [Fact]
    public void The_nav_menu_lists_every_area_for_an_admin()
    {
        BunitAuthorizationContext auth = Context.AddAuthorization();
        auth.SetAuthorized("admin");
        auth.SetRoles(Roles.Admin);
        IRenderedComponent<NavItems> nav = Render<NavItems>();

        Assert.Equal(["New analysis", "Jobs", "Cohort", "Models", "Server", "Accounts", "Audit log"], nav.FindAll("a").Select(a => a.Text()));
        Assert.Equal(["/", "/jobs", "/cohort", "/models", "/server", "/admin/users", "/admin/audit"], nav.FindAll("a").Select(a => a.GetAttribute("href")));
        Assert.Equal(["nav-upload", "nav-jobs", "nav-cohort", "nav-models", "nav-server", "nav-accounts", "nav-audit"],
            nav.FindAll("a").Select(a => a.GetAttribute("data-testid")));
    }

    [Fact]
    public void The_nav_menu_hides_admin_areas_from_a_member()
    {
        BunitAuthorizationContext auth = Context.AddAuthorization();
        auth.SetAuthorized("member");
        auth.SetRoles(Roles.Member);
        IRenderedComponent<NavItems> nav = Render<NavItems>();
        Assert.Equal(["/", "/jobs", "/cohort", "/models", "/server"], nav.FindAll("a").Select(a => a.GetAttribute("href")));
    }
}
