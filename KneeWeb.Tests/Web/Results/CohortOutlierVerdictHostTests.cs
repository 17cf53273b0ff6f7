using System.Text.Json;
using AngleSharp.Dom;
using AngleSharp.Html.Parser;
using KneeWeb.Jobs.Cohort;
using KneeWeb.Tests.Jobs.Cohort;
using KneeWeb.Tests.Security;
using Xunit;

namespace KneeWeb.Tests.Web.Results;

/// <summary>
/// In the real host, signed in with a cookie as a browser is: a job the cohort check flags COHORT_OUTLIER (its
/// stats.json has no QC flag) is served as "review" by the job page, the jobs list and the cohort API alike, and
/// the job page names the metric that drove the flag; its unflagged neighbour is "pass" everywhere.
/// </summary>
[Trait("Category", "host")]
public sealed class CohortOutlierVerdictHostTests : IDisposable
{
    private const string Driver = "Medial tibial cartilage thickness (mm)";
    private readonly KneeWebFactory factory = new();

    public void Dispose() => factory.Dispose();

    [Fact]
    public async Task An_outlier_is_review_on_the_job_page_the_jobs_list_and_the_cohort_api()
    {
        const string tag = "hostoutlier";
        (Guid planted, Guid neighbour) = await KneeCohort.SeedOutlierAsync(factory.Services, tag);
        using HttpClient browser = await SecuritySite.SignInWithCookieAsync(factory, TestAccounts.AdminName, TestAccounts.AdminPassword);
        var parser = new HtmlParser();

        using (IDocument job = await parser.ParseDocumentAsync(await browser.GetStringAsync($"/jobs/{planted:D}")))
        {
            IElement head = job.QuerySelector("[data-testid=job-status-line] [data-testid=qc-verdict]") ?? throw new Xunit.Sdk.XunitException("No verdict on the job page.");
            Assert.Equal("review", head.GetAttribute("data-verdict"));
            Assert.Contains("QC: review, cohort outlier", head.TextContent, StringComparison.Ordinal);
            IElement flag = job.QuerySelector($"[data-testid=qc-flags] [data-qc={CohortOutliers.FlagCode}]") ?? throw new Xunit.Sdk.XunitException("No COHORT_OUTLIER flag in the QC list.");
            Assert.Contains(Driver, flag.TextContent, StringComparison.Ordinal);
        }

        using (IDocument other = await parser.ParseDocumentAsync(await browser.GetStringAsync($"/jobs/{neighbour:D}")))
        {
            Assert.Equal("pass", other.QuerySelector("[data-testid=job-status-line] [data-testid=qc-verdict]")?.GetAttribute("data-verdict"));
        }

        using (IDocument list = await parser.ParseDocumentAsync(await browser.GetStringAsync($"/jobs?subject={tag}")))
        {
            Assert.Equal("review", VerdictInRow(list, planted));
            Assert.Contains(Driver, RowOf(list, planted).QuerySelector("[data-testid=qc-verdict]")!.GetAttribute("title"), StringComparison.Ordinal);
            Assert.Equal("pass", VerdictInRow(list, neighbour));
        }

        using HttpClient api = factory.CreateClient();
        using JsonDocument review = JsonDocument.Parse(await api.GetStringAsync($"/v1/cohort?subject={tag}&verdict=review"));
        Assert.Equal([planted.ToString("D")], review.RootElement.EnumerateArray().Select(r => r.GetProperty("job_id").GetString()));
    }

    private static IElement RowOf(IDocument list, Guid id) =>
        list.QuerySelector($"a[data-job='{id}']")?.Closest("tr") ?? throw new Xunit.Sdk.XunitException($"No row for job {id} in the jobs list.");

    private static string? VerdictInRow(IDocument list, Guid id) => RowOf(list, id).QuerySelector("[data-testid=qc-verdict]")?.GetAttribute("data-verdict");
}
