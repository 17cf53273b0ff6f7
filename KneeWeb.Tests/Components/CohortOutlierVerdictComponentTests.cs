using AngleSharp.Dom;
using Bunit;
using KneeWeb.Components.Pages.Jobs;
using KneeWeb.Imaging.Segmentation;
using KneeWeb.Jobs;
using KneeWeb.Jobs.Cohort;
using KneeWeb.Tests.Jobs.Cohort;
using Microsoft.AspNetCore.Components;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace KneeWeb.Tests.Components;

/// <summary>
/// One verdict everywhere: a job whose stats.json holds no QC flag (pass on its own) but which the real cohort
/// check flags COHORT_OUTLIER reads "review" on the job page (status line and results), in the jobs list and in
/// the cohort's metrics row, and the result page's QC flags list names the metric that drove the flag.
/// A neighbour of the same cohort that is not flagged stays "pass".
/// </summary>
[Trait("Category", "component")]
[Collection(ComponentHostCollection.Name)]
public sealed class CohortOutlierVerdictComponentTests(ComponentHostFixture fixture) : ComponentTestContext
{
    private const string Driver = "Medial tibial cartilage thickness (mm)";

    [Fact]
    public async Task An_outlier_reads_review_on_the_job_page_with_the_driving_metric_in_its_qc_flags()
    {
        string tag = "ov" + Guid.NewGuid().ToString("N")[..8];
        (Guid planted, Guid neighbour) = await KneeCohort.SeedOutlierAsync(fixture.Host.Services, tag);
        await UseHostAsync(fixture.Host);

        IRenderedComponent<JobPage> page = Render<JobPage>(new Dictionary<string, object?> { ["Id"] = planted });
        page.WaitForAssertion(() => Assert.NotNull(page.Find("[data-testid=job-status-line] [data-testid=qc-verdict]")));
        IElement head = page.Find("[data-testid=job-status-line] [data-testid=qc-verdict]");
        Assert.Equal("review", head.GetAttribute("data-verdict"));
        Assert.Equal("true", head.GetAttribute("data-cohort-outlier"));
        Assert.StartsWith("Completed - QC: review, cohort outlier", page.Find("[data-testid=job-status-line]").Text(), StringComparison.Ordinal);
        Assert.Contains(Driver, head.GetAttribute("title"), StringComparison.Ordinal);
        Assert.Equal("review", page.Find("[data-testid=result-top] [data-testid=qc-verdict]").GetAttribute("data-verdict"));
        Assert.Contains(Driver, page.Find($"[data-qc-top={CohortOutliers.FlagCode}]").TextContent, StringComparison.Ordinal);

        // The result page's QC flags list holds the flag, as a warning, with the metric that drove it first.
        IElement flag = page.Find($"[data-testid=qc-flags] [data-qc={CohortOutliers.FlagCode}]");
        Assert.Contains("WARNING", flag.TextContent, StringComparison.Ordinal);
        Assert.StartsWith(Driver, flag.QuerySelector("[data-testid=outlier-drivers]")!.TextContent, StringComparison.Ordinal);
        Assert.Empty(page.FindAll("[data-testid=qc-none]"));

        // The same job, as the cohort's metrics row sees it: one verdict.
        List<CohortRow> cohort;
        using (KneeWeb.Data.JobVisibility.EnterSystem())
        {
            cohort = await new CohortQueries(fixture.Host.Services.GetRequiredService<JobStore>()).ListAsync(new CohortFilter(Subject: tag));
        }

        KneeWeb.Data.JobMetrics row = cohort.Single(r => r.Id == planted).Metrics!;
        Assert.Equal(row.Verdict, QcSummary.Of(row).Verdict);
        Assert.Equal("review", row.Verdict.Name());

        IRenderedComponent<JobPage> other = Render<JobPage>(new Dictionary<string, object?> { ["Id"] = neighbour });
        other.WaitForAssertion(() => Assert.Equal("pass", other.Find("[data-testid=job-status-line] [data-testid=qc-verdict]").GetAttribute("data-verdict")));
        Assert.Empty(other.FindAll($"[data-qc={CohortOutliers.FlagCode}]"));
        Assert.NotNull(other.Find("[data-testid=qc-none]"));
    }

    [Fact]
    public async Task An_outlier_reads_review_in_the_jobs_list_and_its_neighbour_pass()
    {
        string tag = "ol" + Guid.NewGuid().ToString("N")[..8];
        (Guid planted, Guid neighbour) = await KneeCohort.SeedOutlierAsync(fixture.Host.Services, tag);
        await UseHostAsync(fixture.Host);
        Context.Services.GetRequiredService<NavigationManager>().NavigateTo($"/jobs?subject={tag}");

        IRenderedComponent<JobsPage> page = Render<JobsPage>();
        page.WaitForAssertion(() => Assert.NotNull(page.Find($"a[data-job='{planted}']")));
        IElement chip = Row(page, planted).QuerySelector("[data-testid=qc-verdict]")!;
        Assert.Equal("review", chip.GetAttribute("data-verdict"));
        Assert.Equal("review", chip.Text());
        Assert.Contains(Driver, chip.GetAttribute("title"), StringComparison.Ordinal);
        Assert.Equal("pass", Row(page, neighbour).QuerySelector("[data-testid=qc-verdict]")!.GetAttribute("data-verdict"));
    }

    private static IElement Row(IRenderedComponent<JobsPage> page, Guid id) =>
        page.Find($"a[data-job='{id}']").Closest("tr") ?? throw new Xunit.Sdk.XunitException($"No row for job {id}.");
}
