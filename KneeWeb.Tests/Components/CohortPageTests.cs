using AngleSharp.Dom;
using Bunit;
using KneeWeb.Components.Pages.Cohort;
using KneeWeb.Data;
using KneeWeb.Jobs;
using KneeWeb.Jobs.Cohort;
using KneeWeb.Setup;
using KneeWeb.Tests.TestData;
using Microsoft.AspNetCore.Components;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Xunit;

namespace KneeWeb.Tests.Components;

/// <summary>The Cohort page over completed jobs with real stats.json files recorded in the metrics table: filters, export link, sorting, columns, comparing.</summary>
[Trait("Category", "component")]
[Collection(ComponentHostCollection.Name)]
public sealed class CohortPageTests(ComponentHostFixture fixture) : ComponentTestContext
{
    private readonly string tag = "co" + Guid.NewGuid().ToString("N")[..8];

    public override async Task InitializeAsync() => await UseHostAsync(fixture.Host);

    [Fact]
    public async Task Typing_a_subject_filters_the_rows_and_the_csv_export_follows()
    {
        Job visit1 = await CompletedAsync($"{tag}-knee-1", "2026-01-10");
        Job visit2 = await CompletedAsync($"{tag}-knee-2", "2026-06-10");
        Context.Services.GetRequiredService<NavigationManager>().NavigateTo($"/cohort?tag={tag}");
        IRenderedComponent<CohortPage> page = Render<CohortPage>();
        page.WaitForAssertion(() => Assert.Equal(2, page.FindAll("[data-testid=cohort-table] tbody tr").Count));
        Assert.Equal(tag, page.Find("input[data-testid=cohort-tag]").GetAttribute("value"));

        page.Find("input[data-testid=cohort-subject]").Input($"{tag}-knee-2");

        page.WaitForAssertion(() => Assert.Equal([visit2.Id.ToString()], page.FindAll("[data-testid=cohort-table] tbody tr").Select(r => r.GetAttribute("data-job")!)));
        string export = page.Find("[data-testid=export-csv]").GetAttribute("href")!;
        Assert.StartsWith("/v1/cohort.csv?", export, StringComparison.Ordinal);
        Assert.Contains($"subject={tag}-knee-2", export, StringComparison.Ordinal);
        Assert.Contains($"tag={tag}", export, StringComparison.Ordinal);
        Assert.Contains("Export CSV (1 rows)", page.Find("[data-testid=export-csv]").Text(), StringComparison.Ordinal);
        Assert.DoesNotContain(visit1.Id.ToString(), page.Find("[data-testid=cohort-table]").OuterHtml, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_header_click_sorts_and_says_which_way()
    {
        await CompletedAsync($"{tag}-b", "2026-02-01");
        await CompletedAsync($"{tag}-a", "2026-03-01");
        Context.Services.GetRequiredService<NavigationManager>().NavigateTo($"/cohort?tag={tag}");
        IRenderedComponent<CohortPage> page = Render<CohortPage>();
        page.WaitForAssertion(() => Assert.Equal([$"{tag}-a", $"{tag}-b"], Subjects(page)));

        page.Find("button[data-sort=subject]").Click();
        page.WaitForAssertion(() => Assert.Equal([$"{tag}-a", $"{tag}-b"], Subjects(page)));
        Assert.Equal("ascending", page.Find("button[data-sort=subject]").Closest("th")!.GetAttribute("aria-sort"));
        page.Find("button[data-sort=subject]").Click();
        page.WaitForAssertion(() => Assert.Equal([$"{tag}-b", $"{tag}-a"], Subjects(page)));
        Assert.Equal("descending", page.Find("button[data-sort=subject]").Closest("th")!.GetAttribute("aria-sort"));
    }

    [Fact]
    public async Task Choosing_two_jobs_compares_them()
    {
        await CompletedAsync($"{tag}-v1", "2026-01-10");
        await CompletedAsync($"{tag}-v2", "2026-06-10");
        Context.Services.GetRequiredService<NavigationManager>().NavigateTo($"/cohort?tag={tag}");
        IRenderedComponent<CohortPage> page = Render<CohortPage>();
        page.WaitForAssertion(() => Assert.Equal(2, page.FindAll("[data-testid=cohort-table] tbody tr").Count));
        Assert.Empty(page.FindAll("[data-testid=compare]"));

        Pick(page, "compare-a", $"{tag}-v1 · 2026-01-10 12:00 · demo-knee");
        Pick(page, "compare-b", $"{tag}-v2 · 2026-06-10 12:00 · demo-knee");

        page.WaitForAssertion(() => Assert.NotNull(page.Find("[data-testid=compare]")));
        // Both visits carry the same golden stats: every change is zero.
        IElement bscore = page.Find("[data-testid=compare-table] tr[data-metric=bscore]");
        Assert.Equal("0", bscore.QuerySelector("[data-delta]")!.GetAttribute("data-delta"));
    }

    [Fact]
    public async Task The_verdict_filter_shows_the_qc_fail_job_and_the_export_follows()
    {
        Job pass = await CompletedAsync($"{tag}-ok", "2026-03-01", QcFlags("info"));
        Job fail = await CompletedAsync($"{tag}-junk", "2026-03-02", QcFlags("error"));
        Context.Services.GetRequiredService<NavigationManager>().NavigateTo($"/cohort?tag={tag}&verdict=fail");
        IRenderedComponent<CohortPage> page = Render<CohortPage>();

        page.WaitForAssertion(() => Assert.Equal([fail.Id.ToString()], page.FindAll("[data-testid=cohort-table] tbody tr").Select(r => r.GetAttribute("data-job")!)));
        Assert.Equal("fail", page.Find($"tr[data-job='{fail.Id}'] [data-col=qc_verdict] [data-verdict]").GetAttribute("data-verdict"));
        Assert.Contains("verdict=fail", page.Find("[data-testid=export-csv]").GetAttribute("href")!, StringComparison.Ordinal);
        Assert.DoesNotContain(pass.Id.ToString(), page.Markup, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Default_columns_then_a_chosen_column_is_shown_and_remembered_in_local_storage()
    {
        await CompletedAsync($"{tag}-a", "2026-02-01");
        Context.Services.GetRequiredService<NavigationManager>().NavigateTo($"/cohort?tag={tag}");
        IRenderedComponent<CohortPage> page = Render<CohortPage>();
        page.WaitForAssertion(() => Assert.Single(page.FindAll("[data-testid=cohort-table] tbody tr")));
        Assert.Equal(["subject", "created", "knee", "verdict", .. CohortMetrics.DefaultKeys], page.FindAll("th button[data-sort]").Select(b => b.GetAttribute("data-sort")!));

        page.Find("input[data-column=volume_mm3_femur]").Change(true);

        page.WaitForAssertion(() => Assert.NotNull(page.Find("[data-col=volume_mm3_femur]")));
        Assert.Equal("98,765", page.Find("[data-col=volume_mm3_femur]").TextContent);
        JSRuntimeInvocation saved = Assert.Single(Context.JSInterop.Invocations, i => i.Identifier == "localStorage.setItem");
        Assert.StartsWith(CohortPage.ColumnsStorageKey, (string)saved.Arguments[0]!, StringComparison.Ordinal);
        Assert.Contains("volume_mm3_femur", (string)saved.Arguments[1]!, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_stored_column_choice_is_applied_when_the_page_opens()
    {
        await CompletedAsync($"{tag}-a", "2026-02-01");
        Context.JSInterop.Setup<string?>("localStorage.getItem", _ => true).SetResult("bscore,nsm_assd_mm|notes");
        Context.Services.GetRequiredService<NavigationManager>().NavigateTo($"/cohort?tag={tag}");
        IRenderedComponent<CohortPage> page = Render<CohortPage>();

        page.WaitForAssertion(() => Assert.Equal(["subject", "created", "knee", "verdict", "notes", "bscore", "nsm_assd_mm"], page.FindAll("th button[data-sort]").Select(b => b.GetAttribute("data-sort")!)));
        Assert.Equal("0.88", page.Find("[data-col=nsm_assd_mm]").TextContent);
    }

    [Fact]
    public async Task An_excluded_job_is_hidden_until_asked_for_and_too_few_jobs_say_so()
    {
        Job kept = await CompletedAsync($"{tag}-kept", "2026-02-01");
        Job excluded = await CompletedAsync($"{tag}-excluded", "2026-02-02");
        await fixture.Host.Services.GetRequiredService<JobStore>().WriteAsync(async db =>
            (await db.Jobs.FindAsync(excluded.Id))!.ExcludeFromCohort("admin", "motion", DateTime.UtcNow));
        Context.Services.GetRequiredService<NavigationManager>().NavigateTo($"/cohort?tag={tag}");
        IRenderedComponent<CohortPage> page = Render<CohortPage>();

        page.WaitForAssertion(() => Assert.Equal([kept.Id.ToString()], page.FindAll("[data-testid=cohort-table] tbody tr").Select(r => r.GetAttribute("data-job")!)));
        Assert.Contains(page.FindAll("[data-testid=outlier-status]"), p => p.TextContent.Contains("needs at least 20 completed QC-pass jobs", StringComparison.Ordinal));

        IElement toggle = page.Find("[data-testid=cohort-excluded]");
        (toggle.TagName == "INPUT" ? toggle : toggle.QuerySelector("input")!).Change(true);

        page.WaitForAssertion(() => Assert.Equal(2, page.FindAll("[data-testid=cohort-table] tbody tr").Count));
        Assert.NotNull(page.Find($"tr[data-job='{excluded.Id}'] [data-testid=excluded]"));
        Assert.Contains("excluded=true", page.Find("[data-testid=export-csv]").GetAttribute("href")!, StringComparison.Ordinal);
    }

    private static Func<string, string> QcFlags(string severity) =>
        stats => stats.Replace("\"severity\": \"warning\"", $"\"severity\": \"{severity}\"", StringComparison.Ordinal);

    private static List<string> Subjects(IRenderedComponent<CohortPage> page) =>
        [.. page.FindAll("[data-testid=cohort-table] tbody tr").Select(r => r.GetAttribute("data-subject")!)];

    private async Task<Job> CompletedAsync(string subject, string day, Func<string, string>? edit = null)
    {
        Job job = await AddJobAsync(fixture.Host, j =>
        {
            j.SubjectId = subject;
            j.Status = JobStatus.Completed;
            j.Percent = 100;
            j.Tags = tag;
            j.CreatedUtc = DateTime.Parse(day + "T12:00:00Z", System.Globalization.CultureInfo.InvariantCulture, System.Globalization.DateTimeStyles.AdjustToUniversal);
        });
        string folder = Path.Combine(fixture.Host.Services.GetRequiredService<IOptions<KneeWebOptions>>().Value.JobsPath, job.Id.ToString("D"));
        Directory.CreateDirectory(folder);
        await File.WriteAllTextAsync(Path.Combine(folder, "stats.json"), (edit ?? (s => s))(TestFiles.ReadText("Results/stats-nsm.json")));
        // What completing the job does: its metrics row, from its stats.json.
        Assert.NotNull(await fixture.Host.Services.GetRequiredService<JobMetricsRecorder>().RecordAsync(job.Id));
        return job;
    }
}
