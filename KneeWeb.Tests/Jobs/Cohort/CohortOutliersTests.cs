using KneeWeb.Data;
using KneeWeb.Imaging.Segmentation;
using KneeWeb.Jobs.Cohort;
using KneeWeb.Setup;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging.Abstractions;
using Xunit;

namespace KneeWeb.Tests.Jobs.Cohort;

/// <summary>
/// Cohort outliers on synthetic metrics: knees whose numbers move together with their size, and one
/// whose medial tibial cartilage is far thicker than its size explains. The planted one is flagged,
/// with that metric first among its drivers; too few jobs flag nothing and say why.
/// </summary>
[Trait("Category", "unit")]
public sealed class CohortOutliersTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void A_planted_outlier_is_flagged_with_the_metric_that_drove_it(int seed)
    {
        List<JobMetrics> rows = KneeCohort.Of(40, seed);
        JobMetrics planted = rows[17];
        // Within the cohort's range on its own (1.6 x 1.15 = 1.84 mm happens), but 60 % thicker than this knee's size explains.
        planted.MedialTibialCartilageThicknessMm *= 1.6;

        OutlierAnalysis analysis = CohortOutliers.Analyse(rows, minJobs: 20, threshold: 6);

        Assert.True(analysis.Scored, analysis.Message);
        OutlierScore flagged = Assert.Single(analysis.Scores, s => s.IsOutlier);
        Assert.Equal(planted.JobId, flagged.JobId);
        Assert.Equal("thickness_mean_mm_medial_tibial_cartilage", flagged.Drivers[0].Metric.Key);
        Assert.Contains("Medial tibial cartilage thickness (mm)", flagged.Drivers[0].ToString(), StringComparison.Ordinal);
        Assert.Contains("1 sits far from the rest", analysis.Message, StringComparison.Ordinal);

        // Deterministic: the same rows, the same scores.
        OutlierAnalysis again = CohortOutliers.Analyse(rows, minJobs: 20, threshold: 6);
        Assert.Equal(analysis.Scores.Select(s => s.Score), again.Scores.Select(s => s.Score));
    }

    [Fact]
    public void A_cohort_without_an_outlier_flags_nothing()
    {
        OutlierAnalysis analysis = CohortOutliers.Analyse(KneeCohort.Of(60, 7), minJobs: 20, threshold: 6);
        Assert.True(analysis.Scored);
        Assert.DoesNotContain(analysis.Scores, s => s.IsOutlier);
    }

    [Fact]
    public void Fewer_jobs_than_the_minimum_flag_nothing_and_say_so()
    {
        List<JobMetrics> rows = KneeCohort.Of(12, 4);
        rows[3].MedialTibialCartilageThicknessMm *= 3;

        OutlierAnalysis analysis = CohortOutliers.Analyse(rows, minJobs: 20, threshold: 6);

        Assert.False(analysis.Scored);
        Assert.Empty(analysis.Scores);
        Assert.Contains("at least 20", analysis.Message, StringComparison.Ordinal);
        Assert.Contains("has 12", analysis.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_service_marks_the_outlier_as_review_in_the_table_never_fail_and_only_over_qc_pass_included_jobs()
    {
        using CohortDatabase db = await CohortDatabase.CreateAsync();
        db.Options.Value.Cohort.OutlierMinJobs = 20;
        List<JobMetrics> rows = KneeCohort.Of(30, 11);
        rows[5].MedialTibialCartilageThicknessMm *= 1.6;
        // A failed job and an excluded one with absurd numbers must not enter the model or be flagged.
        JobMetrics failed = KneeCohort.Knee(new Random(99), 1);
        failed.FemurVolumeMm3 = 10;
        JobMetricsMapping.SetQc(failed, [("STRUCTURE_MISSING", "error")]);
        JobMetrics excluded = KneeCohort.Knee(new Random(98), 1);
        excluded.TibiaVolumeMm3 = 10;
        await db.Store.WriteAsync(async ctx =>
        {
            foreach (JobMetrics m in rows.Append(failed).Append(excluded))
            {
                Job job = CohortDatabase.CompletedJob("S", DateTime.UtcNow);
                job.Id = m.JobId;
                job.Metrics = m;
                if (m == excluded)
                {
                    job.ExcludeFromCohort("pi@lab", "test", DateTime.UtcNow);
                }

                ctx.Jobs.Add(job);
            }

            await ctx.SaveChangesAsync();
        });

        var service = new CohortOutlierService(db.Store, db.Options, NullLogger<CohortOutlierService>.Instance);
        OutlierAnalysis? analysis = await service.RefreshAsync("knee-b");

        Assert.NotNull(analysis);
        Assert.Equal(30, analysis.Jobs);
        List<JobMetrics> stored = await db.Store.ReadAsync(ctx => ctx.JobMetrics.AsNoTracking().ToListAsync());
        JobMetrics outlier = Assert.Single(stored, m => m.IsCohortOutlier);
        Assert.Equal(rows[5].JobId, outlier.JobId);
        Assert.Equal(QcVerdict.Pass, outlier.QcVerdict);
        Assert.Equal(QcVerdict.Review, outlier.Verdict);
        Assert.StartsWith("Medial tibial cartilage thickness (mm)", outlier.CohortOutlierDrivers, StringComparison.Ordinal);
        Assert.Null(stored.Single(m => m.JobId == failed.JobId).CohortOutlierScore);
        Assert.Null(stored.Single(m => m.JobId == excluded.JobId).CohortOutlierScore);

        List<string> status = await service.StatusAsync(["knee-b", "other"]);
        Assert.Contains("30 QC-pass jobs compared; 1 flagged COHORT_OUTLIER", status[0], StringComparison.Ordinal);
        Assert.Contains("needs at least 20 completed QC-pass jobs, has 0", status[1], StringComparison.Ordinal);
    }
}
