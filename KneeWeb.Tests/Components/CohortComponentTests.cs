using AngleSharp.Dom;
using Bunit;
using KneeWeb.Components.Pages.Cohort;
using KneeWeb.Data;
using KneeWeb.Imaging.Segmentation;
using KneeWeb.Jobs;
using KneeWeb.Jobs.Cohort;
using KneeWeb.Tests.TestData;
using Xunit;

namespace KneeWeb.Tests.Components;

/// <summary>The cohort table and the comparison from metrics rows mapped from real stats.json documents.</summary>
[Trait("Category", "component")]
public sealed class CohortComponentTests : ComponentTestContext
{
    private static readonly string Golden = TestFiles.ReadText("Results/stats-nsm.json");

    private static CohortRow Row(string subject, string stats, int day, string? notes = null)
    {
        Job job = new()
        {
            Id = Guid.NewGuid(),
            Owner = "pi@lab",
            SubjectId = subject,
            KneeSide = "right",
            Status = JobStatus.Completed,
            CreatedUtc = new DateTime(2026, 1, day, 0, 0, 0, DateTimeKind.Utc),
            Notes = notes,
        };
        JobMetrics metrics = JobMetricsMapping.From(job, ResultStats.Parse(stats), DateTime.UtcNow);
        return new CohortRow(job.Id, subject, "right", "pi@lab", job.CreatedUtc, JobStatus.Completed, notes, metrics.ModelName, metrics);
    }

    private static List<CohortMetric> Chosen(IReadOnlyList<CohortRow> rows, params string[] keys) =>
        [.. CohortQueries.Columns(rows).Where(c => keys.Length == 0 ? CohortMetrics.DefaultKeys.Contains(c.Key) : keys.Contains(c.Key))];

    [Fact]
    public void The_default_table_shows_subject_date_knee_verdict_thickness_per_plate_and_bscore_with_units()
    {
        List<CohortRow> rows = [Row("OAI-1", Golden, 1), Row("OAI-2", Golden.Replace("\"severity\": \"warning\"", "\"severity\": \"error\"", StringComparison.Ordinal), 2)];
        var table = Render<CohortTable>(new Dictionary<string, object?> { ["Rows"] = rows, ["Columns"] = Chosen(rows) });

        string[] headers = [.. table.FindAll("thead tr:last-child th").Select(th => th.TextContent.Trim())];
        Assert.Equal(["Subject", "Visit date (UTC) ▼", "Knee", "QC verdict", "Femoral (mm)", "Medial tibial (mm)", "Lateral tibial (mm)", "Patellar (mm)", "BScore (SD)"], headers);
        Assert.Equal(["Cartilage thickness", "Shape"], table.FindAll("th[data-group]").Select(th => th.TextContent));
        Assert.All(table.FindAll("th.kw-num"), th => Assert.False(string.IsNullOrEmpty(th.GetAttribute("data-unit"))));
        Assert.Equal("review", table.Find($"tr[data-job='{rows[0].Id}'] [data-col=qc_verdict] [data-verdict]").GetAttribute("data-verdict"));
        Assert.Equal("fail", table.Find($"tr[data-job='{rows[1].Id}'] [data-col=qc_verdict] [data-verdict]").TextContent.Trim());
        Assert.Equal("1.62", table.Find($"tr[data-job='{rows[0].Id}'] [data-col=thickness_mean_mm_medial_tibial_cartilage]").TextContent);
        Assert.Equal("1.37", table.Find($"tr[data-job='{rows[0].Id}'] [data-col=bscore]").TextContent);
        Assert.Empty(table.FindAll("[data-col^=volume]"));
    }

    [Fact]
    public void Femoral_subregions_are_grouped_after_the_plates_not_sorted_among_the_bones()
    {
        string withSubregions = Golden.Replace("\"femur\": 98765.432,", "\"femur\": 98765.432, \"femoral_anterior\": 700.5, \"femoral_medial_posterior\": 650.25,", StringComparison.Ordinal);
        List<CohortRow> rows = [Row("OAI-1", withSubregions, 1)];
        List<CohortMetric> all = CohortQueries.Columns(rows);
        var table = Render<CohortTable>(new Dictionary<string, object?> { ["Rows"] = rows, ["Columns"] = all });

        string[] groups = [.. table.FindAll("th[data-group]").Select(th => th.TextContent)];
        Assert.Equal(["Cartilage thickness", "Shape", "Volume", "Femoral cartilage subregions: volume"], groups);
        string[] keys = [.. table.FindAll("th button[data-sort]").Select(b => b.GetAttribute("data-sort")!)];
        Assert.True(Array.IndexOf(keys, "volume_mm3_femoral_anterior") > Array.IndexOf(keys, "volume_mm3_lateral_meniscus"));
        Assert.Equal("Anterior (mm³)", table.Find("th button[data-sort=volume_mm3_femoral_anterior]").TextContent.Trim());
        Assert.Equal("701", table.Find("[data-col=volume_mm3_femoral_anterior]").TextContent);
    }

    [Fact]
    public void Comparing_two_visits_uses_human_names_units_and_an_absolute_change_for_bscore()
    {
        // A BScore near zero: a percentage would read "+17641 %".
        CohortRow visit1 = Row("OAI-1", Golden.Replace("\"bscore\": 1.3725", "\"bscore\": 0.0034", StringComparison.Ordinal), 1);
        CohortRow visit2 = Row("OAI-1", Golden.Replace("\"bscore\": 1.3725", "\"bscore\": 0.6032", StringComparison.Ordinal).Replace("\"mean\": 1.6205", "\"mean\": 1.4205", StringComparison.Ordinal), 28);
        var compare = Render<CompareJobs>(new Dictionary<string, object?> { ["A"] = visit1, ["B"] = visit2 });

        IElement bscore = compare.Find("tr[data-metric=bscore]");
        Assert.Equal(["BScore", "SD", "0.00", "0.60", "+0.60", "–"], bscore.Children.Select(c => c.TextContent));
        Assert.Contains("0.00 → 0.60 SD (change +0.60 SD)", compare.Find("[data-testid=compare-bscore]").TextContent, StringComparison.Ordinal);
        IElement mtc = compare.Find("tr[data-metric=thickness_mean_mm_medial_tibial_cartilage]");
        Assert.Equal(["Medial tibial cartilage thickness", "mm", "1.62", "1.42", "-0.20", "-12.3%"], mtc.Children.Select(c => c.TextContent));
        Assert.Equal("mm³", compare.Find("tr[data-metric=volume_mm3_femur]").Children[1].TextContent);
        Assert.DoesNotContain("_", string.Concat(compare.FindAll("tbody td:first-child").Select(td => td.TextContent)), StringComparison.Ordinal);
    }

    [Fact]
    public void A_percentage_is_left_out_for_a_tiny_baseline()
    {
        CohortMetric thickness = CohortMetrics.Find("thickness_mean_mm_femoral_cartilage")!;
        Assert.Null(CompareJobs.Percent(thickness, 0.02, 1.5));
        Assert.Equal(-10, CompareJobs.Percent(thickness, 2, -0.2)!.Value, 9);
        Assert.Null(CompareJobs.Percent(CohortMetrics.Find("bscore")!, 2, 1));
    }

    [Fact]
    public void A_cohort_outlier_reads_review_with_its_drivers()
    {
        CohortRow row = Row("OAI-1", Golden.Replace("\"severity\": \"warning\"", "\"severity\": \"info\"", StringComparison.Ordinal), 1);
        row.Metrics!.CohortOutlierDrivers = "Medial tibial cartilage thickness (mm) +4.1 SD";
        Assert.Equal(QcVerdict.Review, row.Verdict);
        Assert.Equal(["HOLES_FILLED", "NSM_HIGH_ASSD", CohortOutliers.FlagCode], row.QcFlagCodes);

        var table = Render<CohortTable>(new Dictionary<string, object?> { ["Rows"] = new List<CohortRow> { row }, ["Columns"] = Chosen([row]), ["Extras"] = new List<string> { "qc_flags" } });
        Assert.Equal("review", table.Find("[data-col=qc_verdict] [data-verdict]").GetAttribute("data-verdict"));
        Assert.Contains("COHORT_OUTLIER (Medial tibial cartilage thickness (mm) +4.1 SD)", table.Find("td[data-col=qc_flags]").TextContent, StringComparison.Ordinal);
    }

    [Fact]
    public void The_stored_column_choice_keeps_known_keys_only()
    {
        (IReadOnlyList<string> metrics, IReadOnlyList<string> extras) = CohortColumnChooser.Parse("bscore,volume_mm3_femur,<script>|notes,evil")!.Value;
        Assert.Equal(["bscore", "volume_mm3_femur"], metrics);
        Assert.Equal(["notes"], extras);
        Assert.Null(CohortColumnChooser.Parse(null));
        Assert.Equal("bscore|notes", CohortColumnChooser.Format(["bscore"], ["notes"]));
    }
}
