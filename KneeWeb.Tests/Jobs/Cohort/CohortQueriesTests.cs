using KneeWeb.Data;
using KneeWeb.Imaging.Segmentation;
using KneeWeb.Jobs.Cohort;
using Xunit;

namespace KneeWeb.Tests.Jobs.Cohort;

/// <summary>
/// The cohort over 6,000 jobs in a real SQLite file: filters, order and paging run in SQL, so the
/// oldest matching jobs are found (the old table read the newest 5,000 and filtered afterwards).
/// </summary>
[Trait("Category", "unit")]
public sealed class CohortQueriesTests : IAsyncLifetime
{
    private const int JobCount = 6000;
    private static readonly DateTime Start = new(2020, 1, 1, 8, 0, 0, DateTimeKind.Utc);
    private CohortDatabase db = null!;

    /// <summary>Indexes of the jobs that match subject "trial-a", tag "knee-oa", model "knee-b" and verdict fail: some among the oldest 1,000, some among the newest.</summary>
    private readonly int[] matching = [3, 17, 250, 999, 4000, 5998];

    private readonly Dictionary<int, Guid> ids = [];

    public async Task InitializeAsync()
    {
        db = await CohortDatabase.CreateAsync();
        var jobs = new List<Job>(JobCount);
        for (int i = 0; i < JobCount; i++)
        {
            bool match = matching.Contains(i);
            // Near misses: the right subject with another model, the right model with a tag that only starts the same, a pass verdict.
            string subject = match || i % 7 == 0 ? $"TRIAL-A-{i:D4}" : $"S-{i:D4}";
            string tags = match ? "baseline,knee-oa" : i % 5 == 0 ? "knee-oa-2" : "baseline";
            Job job = CohortDatabase.CompletedJob(subject, Start.AddHours(i), tags);
            var m = new JobMetrics
            {
                JobId = job.Id,
                ModelName = match || i % 3 == 0 ? "knee-b" : "knee-a",
                ModelVersion = "1.0",
                SubjectId = subject,
                KneeSide = i % 2 == 0 ? "right" : "left",
                VisitUtc = job.CreatedUtc,
                RecordedUtc = job.CreatedUtc,
                FemoralCartilageThicknessMm = 2 + (i % 100 / 100.0),
                MedialTibialCartilageThicknessMm = i % 11 == 0 ? null : 1.5 + (i % 50 / 100.0),
                FemurVolumeMm3 = 90_000 + i,
                BScore = (i % 40 / 10.0) - 2,
            };
            JobMetricsMapping.SetQc(m, match || i % 13 == 0 ? [("STRUCTURE_MISSING", "error"), ("VOLUME_OUT_OF_RANGE", "warning")] : [("HOLES_FILLED", "info")]);
            job.Metrics = m;
            jobs.Add(job);
            ids[i] = job.Id;
        }

        await db.Store.WriteAsync(async ctx =>
        {
            ctx.Jobs.AddRange(jobs);
            await ctx.SaveChangesAsync();
        });
    }

    public Task DisposeAsync()
    {
        db.Dispose();
        return Task.CompletedTask;
    }

    private static CohortFilter Matching => new(Subject: "trial-a", Tag: "#Knee-OA", Model: "KNEE-B") { Verdict = QcVerdict.Fail };

    [Fact]
    public async Task The_oldest_matching_jobs_are_found_and_paging_in_sql_visits_each_exactly_once()
    {
        var queries = new CohortQueries(db.Store);

        CohortSlice oldestFirst = await queries.PageAsync(Matching, "created", descending: false, skip: 0, take: 2);
        Assert.Equal(matching.Length, oldestFirst.Total);
        Assert.Equal([ids[3], ids[17]], oldestFirst.Rows.Select(r => r.Id));
        Assert.All(oldestFirst.Rows, r => Assert.Equal(QcVerdict.Fail, r.Verdict));

        // Newest first, two per page: the last page holds the two oldest.
        var seen = new List<Guid>();
        for (int skip = 0; ; skip += 2)
        {
            CohortSlice page = await queries.PageAsync(Matching, "created", descending: true, skip, take: 2);
            Assert.Equal(matching.Length, page.Total);
            if (page.Rows.Count == 0)
            {
                break;
            }

            seen.AddRange(page.Rows.Select(r => r.Id));
        }

        Assert.Equal(matching.Reverse().Select(i => ids[i]), seen);

        List<CohortRow> csvRows = await queries.ListAsync(Matching);
        Assert.Equal(matching.Select(i => ids[i]), csvRows.Select(r => r.Id));
    }

    [Fact]
    public async Task Every_filter_counts_in_sql_over_all_6000_jobs()
    {
        var queries = new CohortQueries(db.Store);
        Assert.Equal(JobCount, (await queries.PageAsync(new CohortFilter(), take: 1)).Total);
        int tagged = Enumerable.Range(0, JobCount).Count(i => matching.Contains(i));
        Assert.Equal(tagged, (await queries.PageAsync(new CohortFilter(Tag: "knee-oa"), take: 1)).Total);
        Assert.Equal(Enumerable.Range(0, JobCount).Count(i => !matching.Contains(i) && i % 5 == 0), (await queries.PageAsync(new CohortFilter(Tag: "knee-oa-2"), take: 1)).Total);
        int fails = Enumerable.Range(0, JobCount).Count(i => matching.Contains(i) || i % 13 == 0);
        Assert.Equal(fails, (await queries.PageAsync(new CohortFilter { Verdict = QcVerdict.Fail }, take: 1)).Total);
        Assert.Equal(JobCount - fails, (await queries.PageAsync(new CohortFilter { Verdict = QcVerdict.Pass }, take: 1)).Total);
        // The oldest 1,000 jobs only: a date window that the newest 5,000 never reach.
        CohortSlice early = await queries.PageAsync(new CohortFilter(FromUtc: Start, ToUtc: Start.AddHours(999)) { Verdict = QcVerdict.Fail }, "created", descending: false, take: 1000);
        Assert.Equal(Enumerable.Range(0, 1000).Count(i => matching.Contains(i) || i % 13 == 0), early.Total);
        Assert.Equal(ids[0], early.Rows[0].Id);
        // A LIKE wildcard typed as a subject is a character, not a pattern.
        Assert.Equal(0, (await queries.PageAsync(new CohortFilter(Subject: "S_0"), take: 1)).Total);
    }

    [Fact]
    public async Task Sorting_by_a_metric_runs_in_sql_with_jobs_without_it_last()
    {
        var queries = new CohortQueries(db.Store);
        CohortSlice ascending = await queries.PageAsync(new CohortFilter(), "thickness_mean_mm_medial_tibial_cartilage", descending: false, skip: 0, take: 5);
        Assert.All(ascending.Rows, r => Assert.Equal(1.5, r.Metrics!.MedialTibialCartilageThicknessMm));
        // The oldest of the ties first after the value (ties break newest first), and no job without the value before the last page.
        int withValue = Enumerable.Range(0, JobCount).Count(i => i % 11 != 0);
        CohortSlice tail = await queries.PageAsync(new CohortFilter(), "thickness_mean_mm_medial_tibial_cartilage", descending: true, skip: withValue - 1, take: 3);
        Assert.NotNull(tail.Rows[0].Metrics!.MedialTibialCartilageThicknessMm);
        Assert.Null(tail.Rows[1].Metrics!.MedialTibialCartilageThicknessMm);
        Assert.Null(tail.Rows[2].Metrics!.MedialTibialCartilageThicknessMm);
        CohortSlice worst = await queries.PageAsync(new CohortFilter(), "verdict", descending: true, take: 1);
        Assert.Equal(QcVerdict.Fail, worst.Rows[0].Verdict);
    }

    [Fact]
    public async Task An_excluded_job_is_left_out_unless_asked_for()
    {
        var queries = new CohortQueries(db.Store);
        await db.Store.WriteAsync(async ctx =>
        {
            Job job = await ctx.Jobs.FindAsync(ids[17]) ?? throw new InvalidOperationException();
            job.ExcludeFromCohort("pi@lab", "motion artefact", DateTime.UtcNow);
        });

        CohortSlice without = await queries.PageAsync(Matching, "created", descending: false, take: 10);
        Assert.DoesNotContain(ids[17], without.Rows.Select(r => r.Id));
        Assert.Equal(matching.Length - 1, without.Total);
        CohortSlice with = await queries.PageAsync(Matching with { IncludeExcluded = true }, "created", descending: false, take: 10);
        Assert.True(with.Rows.Single(r => r.Id == ids[17]).Excluded);
        string csv = CohortQueries.ToCsv(await queries.ListAsync(Matching with { IncludeExcluded = true }));
        Assert.Contains($"{ids[17]:D},", csv, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_csv_has_the_verdict_the_flags_and_units_in_every_metric_header()
    {
        var queries = new CohortQueries(db.Store);
        await db.Store.WriteAsync(async ctx =>
        {
            Job job = await ctx.Jobs.FindAsync(ids[3]) ?? throw new InvalidOperationException();
            job.Notes = "=HYPERLINK(\"http://x\")";
        });

        string csv = CohortQueries.ToCsv(await queries.ListAsync(Matching));
        string[] lines = csv.Split("\r\n", StringSplitOptions.RemoveEmptyEntries);
        string[] header = lines[0].Split(',');
        int verdict = Array.IndexOf(header, "qc_verdict");
        int flags = Array.IndexOf(header, "qc_flags");
        Assert.True(verdict > 0 && flags > 0, lines[0]);
        Assert.Equal(matching.Length + 1, lines.Length);
        Assert.All(lines.Skip(1), l => Assert.Equal("fail", l.Split(',')[verdict]));
        Assert.Equal("STRUCTURE_MISSING; VOLUME_OUT_OF_RANGE", lines[1].Split(',')[flags]);
        foreach (string metric in header.SkipWhile(h => h != "cohort_outlier_drivers").Skip(1))
        {
            Assert.True(metric.Contains("_mm", StringComparison.Ordinal) || metric == "bscore", $"{metric} has no unit");
        }

        Assert.Contains("volume_mm3_femur", header);
        Assert.Contains("thickness_mean_mm_femoral_cartilage", header);
        Assert.Contains("\"'=HYPERLINK(\"\"http://x\"\")\"", lines[1], StringComparison.Ordinal);
    }
}
