using KneeWeb.Data;
using KneeWeb.Imaging.Segmentation;
using KneeWeb.Jobs;
using KneeWeb.Jobs.Cohort;
using KneeWeb.Tests.TestData;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging.Abstractions;
using Xunit;

namespace KneeWeb.Tests.Jobs.Cohort;

/// <summary>stats.json -> metrics row, and the start-up backfill over good, malformed and missing stats.json files in a real SQLite file.</summary>
[Trait("Category", "unit")]
public sealed class JobMetricsRecorderTests
{
    private static readonly DateTime Now = new(2026, 12, 6, 12, 0, 0, DateTimeKind.Utc);

    [Fact]
    public void The_row_carries_every_number_of_the_golden_stats_with_its_verdict_and_flags()
    {
        Job job = CohortDatabase.CompletedJob("OAI-9001", Now.AddDays(-3));
        JobMetrics m = JobMetricsMapping.From(job, ResultStats.Parse(TestFiles.ReadText("Results/stats-nsm.json")), Now);

        Assert.Equal(job.Id, m.JobId);
        Assert.Equal("demo-knee", m.ModelName);
        Assert.Equal("1.0.0", m.ModelVersion);
        Assert.Equal("right", m.KneeSide);
        Assert.Equal(job.CreatedUtc, m.VisitUtc);
        Assert.Equal(98765.432, m.FemurVolumeMm3);
        Assert.Equal(1400.5, m.LateralMeniscusVolumeMm3);
        Assert.Equal(2.0412, m.FemoralCartilageThicknessMm);
        Assert.Equal(1.6205, m.MedialTibialCartilageThicknessMm);
        Assert.Equal(1.3725, m.BScore);
        Assert.Equal(0.8765, m.NsmAssdMm);
        Assert.Equal(QcVerdict.Review, m.QcVerdict);
        Assert.Equal(1, m.QcWarnings);
        Assert.Equal(0, m.QcErrors);
        Assert.Equal("HOLES_FILLED; NSM_HIGH_ASSD", m.QcFlags);
        Assert.Null(m.FemoralAnteriorThicknessMm);
    }

    [Fact]
    public void Subregions_older_per_bone_bscores_and_an_unknown_severity_map_as_documented()
    {
        const string stats = """
            {
              "model": { "name": "knee-x" },
              "volumes_mm3": { "femoral_anterior": 800.5, "label_99": 5 },
              "thickness_mm": { "femoral_medial_weight_bearing": { "mean": 2.25 }, "patellar_cartilage": 2.5 },
              "bscore": { "femur": -0.75, "tibia": 3 },
              "qc": { "flags": [ { "code": "ODD", "severity": "catastrophic" } ] }
            }
            """;
        JobMetrics m = JobMetricsMapping.From(CohortDatabase.CompletedJob("S", Now), ResultStats.Parse(stats), Now);
        Assert.Equal(800.5, m.FemoralAnteriorVolumeMm3);
        Assert.Equal(2.25, m.FemoralMedialWeightBearingThicknessMm);
        Assert.Equal(2.5, m.PatellarCartilageThicknessMm);
        Assert.Equal(-0.75, m.BScore);
        Assert.Equal(QcVerdict.Review, m.QcVerdict);
        Assert.Equal(1, m.QcWarnings);
    }

    [Fact]
    public async Task Backfill_writes_a_row_per_readable_completed_job_skips_the_rest_and_is_idempotent()
    {
        using CohortDatabase db = await CohortDatabase.CreateAsync();
        Job good = CohortDatabase.CompletedJob("GOOD", Now.AddDays(-2));
        Job malformed = CohortDatabase.CompletedJob("BAD", Now.AddDays(-1));
        Job missing = CohortDatabase.CompletedJob("NONE", Now);
        Job duplicated = CohortDatabase.CompletedJob("DUP", Now);
        Job notAnObject = CohortDatabase.CompletedJob("ARRAY", Now);
        Job failed = CohortDatabase.CompletedJob("FAILED", Now);
        failed.Status = JobStatus.Failed;
        db.WriteStats(good.Id, TestFiles.ReadText("Results/stats-nsm.json"));
        db.WriteStats(malformed.Id, "{ \"volumes_mm3\": { \"femur\": 1 ");
        db.WriteStats(failed.Id, TestFiles.ReadText("Results/stats-nsm.json"));
        db.WriteStats(duplicated.Id, "{ \"volumes_mm3\": { \"femur\": 1, \"femur\": 2 }, \"qc\": { \"flags\": [] } }");
        db.WriteStats(notAnObject.Id, "[1, 2, 3]");
        await db.Store.WriteAsync(async ctx =>
        {
            ctx.Jobs.AddRange(good, malformed, missing, failed, duplicated, notAnObject);
            await ctx.SaveChangesAsync();
        });
        var recorder = new JobMetricsRecorder(db.Store, db.Options, TimeProvider.System, NullLogger<JobMetricsRecorder>.Instance);

        Assert.Equal(1, await recorder.BackfillAsync());
        Assert.Equal(0, await recorder.BackfillAsync());

        List<JobMetrics> rows = await db.Store.ReadAsync(ctx => ctx.JobMetrics.AsNoTracking().ToListAsync());
        JobMetrics row = Assert.Single(rows);
        Assert.Equal(good.Id, row.JobId);
        Assert.Equal("GOOD", row.SubjectId);

        // Once repaired, the job's row appears; recording it again replaces it rather than adding a second.
        db.WriteStats(malformed.Id, TestFiles.ReadText("Results/stats-nsm.json").Replace("\"bscore\": 1.3725", "\"bscore\": -0.5", StringComparison.Ordinal));
        Assert.Equal(1, await recorder.BackfillAsync());
        Assert.NotNull(await recorder.RecordAsync(malformed.Id));
        List<JobMetrics> after = await db.Store.ReadAsync(ctx => ctx.JobMetrics.AsNoTracking().ToListAsync());
        Assert.Equal(2, after.Count);
        Assert.Equal(-0.5, after.Single(m => m.JobId == malformed.Id).BScore);
    }
}
