using AngleSharp.Dom;
using Bunit;
using KneeWeb.Components.Pages.Cohort;
using KneeWeb.Data;
using KneeWeb.Setup;
using KneeWeb.Tests.TestData;
using Microsoft.AspNetCore.Components;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Xunit;

namespace KneeWeb.Tests.Components;

/// <summary>The Cohort page over completed jobs with real stats.json files: filters, export link, sorting, comparing.</summary>
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

        page.WaitForAssertion(() => Assert.Equal([visit2.Id.ToString()], page.FindAll("[data-testid=cohort-table] tbody tr").Select(r => r.GetAttribute("data-job")!)), TimeSpan.FromSeconds(5));
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

    private static List<string> Subjects(IRenderedComponent<CohortPage> page) =>
        [.. page.FindAll("[data-testid=cohort-table] tbody tr").Select(r => r.GetAttribute("data-subject")!)];

    private async Task<Job> CompletedAsync(string subject, string day)
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
        File.Copy(TestFiles.PathOf("Results/stats-nsm.json"), Path.Combine(folder, "stats.json"));
        return job;
    }
}
