using System.Net;
using System.Text.Json;
using System.Text.RegularExpressions;
using KneeWeb.Imaging.Segmentation;
using Microsoft.Playwright;
using Xunit;
using Xunit.Abstractions;

namespace KneeWeb.Tests.Web.Browser;

/// <summary>
/// What a PI sees first and does with a job, in real Chromium against a real server process: a QC-fail job's
/// verdict above the fold at 1280 x 900, delete and exclude behind a confirmation (keeping the job on "no"),
/// and every area of the site reachable through the menu on a 390 px phone.
/// </summary>
[Collection(BrowserCollection.Name)]
[Trait("Category", "browser")]
public sealed class JobManagementBrowserTests(BrowserFixture fixture, ITestOutputHelper output) : ServerPageTest(fixture, "manage-browser")
{
    // The demo model segments a junk ramp image into next to nothing: structures go missing, QC fails.
    protected override void PrepareDataFolder() => InstallRepoModels("demo-knee");

    [Fact]
    public async Task A_qc_fail_job_shows_its_verdict_above_the_fold_at_1280_by_900()
    {
        using HttpClient api = Server.CreateClient();
        Guid id = await CompletedJobAsync(api, "JUNK-1");
        QcVerdict verdict = await VerdictAsync(api, id);
        Assert.True(verdict == QcVerdict.Fail, $"The junk job was expected to fail QC, it is {verdict}.");

        await Page.SetViewportSizeAsync(1280, 900);
        await Page.GotoAsync($"/jobs/{id}");
        await WaitForInteractiveAsync();

        ILocator head = Page.Locator("[data-testid=job-status-line] [data-testid=qc-verdict]");
        await Assertions.Expect(head).ToHaveAttributeAsync("data-verdict", "fail");
        await Assertions.Expect(head).ToContainTextAsync(new Regex("^QC: fail, \\d+ errors?"));
        LocatorBoundingBoxResult box = (await head.BoundingBoxAsync())!;
        output.WriteLine($"verdict at y = {box.Y:0} px, height {box.Height:0} px");
        Assert.InRange(box.Y + box.Height, 0, 900);
        // The result section's own verdict and the error that made it are also above the fold.
        ILocator top = Page.Locator("[data-testid=result-top] [data-testid=qc-verdict]");
        Assert.InRange((await top.BoundingBoxAsync())!.Y, 0, 900 - 1);
        Assert.InRange((await Page.Locator("[data-testid=qc-top] li.kw-qc-error").First.BoundingBoxAsync())!.Y, 0, 900 - 1);
        // Fail is drawn in the theme's error colour.
        string colour = await head.EvaluateAsync<string>("e => getComputedStyle(e).backgroundColor");
        string error = await Page.EvaluateAsync<string>("() => { const d = document.createElement('div'); d.style.color = 'var(--mud-palette-error)'; document.body.append(d); const c = getComputedStyle(d).color; d.remove(); return c; }");
        Assert.Equal(error, colour);

        // The jobs list says the same in its QC column.
        await Page.GotoAsync("/jobs");
        await WaitForInteractiveAsync();
        await Assertions.Expect(Page.Locator($"tr:has(a[data-job='{id}']) [data-testid=qc-verdict]")).ToHaveAttributeAsync("data-verdict", "fail");
        Assert.True(ConsoleErrors.Count == 0, "Browser errors:\n" + string.Join("\n", ConsoleErrors));
    }

    [Fact]
    public async Task Exclude_and_delete_ask_first_keep_the_job_on_no_and_act_on_yes()
    {
        using HttpClient api = Server.CreateClient();
        Guid id = await CompletedJobAsync(api, "KEEP-OR-GO");
        await Page.GotoAsync($"/jobs/{id}");
        await WaitForInteractiveAsync();
        ILocator actions = Page.Locator("[data-testid=job-status-line]");

        // Exclude: "No, keep it" changes nothing.
        await actions.GetByTestId("exclude").ClickAsync();
        await Page.GetByTestId("confirm-no").ClickAsync();
        await Assertions.Expect(Page.GetByTestId("confirm-message")).ToHaveCountAsync(0);
        Assert.Equal(JsonValueKind.Null, (await ApiClient.GetJobAsync(api, id)).GetProperty("cohort_exclusion").ValueKind);

        await actions.GetByTestId("exclude").ClickAsync();
        await Page.Locator("[data-testid=confirm-reason] input, input[data-testid=confirm-reason]").First.FillAsync("motion");
        await Page.GetByTestId("confirm-yes").ClickAsync();
        await Assertions.Expect(Page.GetByTestId("excluded-note")).ToContainTextAsync("motion");
        Assert.Equal("motion", (await ApiClient.GetJobAsync(api, id)).GetProperty("cohort_exclusion").GetProperty("reason").GetString());

        // Delete: "No, keep it" keeps the job and its page.
        await actions.GetByTestId("delete").ClickAsync();
        await Assertions.Expect(Page.GetByTestId("confirm-message")).ToContainTextAsync("cannot be undone");
        await Page.GetByTestId("confirm-no").ClickAsync();
        await Assertions.Expect(Page.GetByTestId("confirm-message")).ToHaveCountAsync(0);
        using (HttpResponseMessage kept = await api.GetAsync($"/v1/jobs/{id}"))
        {
            Assert.Equal(HttpStatusCode.OK, kept.StatusCode);
        }

        await actions.GetByTestId("delete").ClickAsync();
        await Page.GetByTestId("confirm-yes").ClickAsync();
        await Page.WaitForURLAsync(new Regex("/jobs$"));
        using (HttpResponseMessage gone = await api.GetAsync($"/v1/jobs/{id}"))
        {
            Assert.Equal(HttpStatusCode.NotFound, gone.StatusCode);
        }

        Assert.False(Directory.Exists(Path.Combine(Data.Path, "jobs", id.ToString("D"))));
        Assert.True(ConsoleErrors.Count == 0, "Browser errors:\n" + string.Join("\n", ConsoleErrors));
    }

    [Fact]
    public async Task At_390_px_every_area_is_reachable_through_the_menu()
    {
        await Page.SetViewportSizeAsync(390, 844);
        await Page.GotoAsync("/jobs");
        await WaitForInteractiveAsync();
        (string TestId, string Path, string Heading)[] areas =
        [
            ("nav-upload", "/", "New analysis"),
            ("nav-cohort", "/cohort", "Cohort"),
            ("nav-models", "/models", "models"),
            ("nav-server", "/server", "Server"),
            ("nav-accounts", "/admin/users", "Accounts and groups"),
            ("nav-audit", "/admin/audit", "Audit log"),
            ("nav-jobs", "/jobs", "Jobs"),
        ];
        foreach ((string testId, string path, string heading) in areas)
        {
            // Closed on a phone: no destination is on screen until the menu opens.
            ILocator link = Page.Locator(await MenuAsync() + $" [data-testid={testId}]");
            await Assertions.Expect(link).Not.ToBeInViewportAsync();
            await OpenMenuAsync();
            await Assertions.Expect(link).ToBeInViewportAsync();
            await link.ClickAsync();
            await Page.WaitForURLAsync(url => new Uri(url).AbsolutePath == path);
            await Assertions.Expect(Page.Locator("h1").First).ToContainTextAsync(heading);
            output.WriteLine($"{testId}: reached {path}");
        }

        // Nothing is wider than the phone.
        Assert.True(await Page.EvaluateAsync<bool>("() => document.documentElement.scrollWidth <= window.innerWidth + 1"), "The page scrolls sideways at 390 px.");
        Assert.True(ConsoleErrors.Count == 0, "Browser errors:\n" + string.Join("\n", ConsoleErrors));
    }

    /// <summary>The menu holding the destinations: the drawer, or the native menu of a static (form post) page.</summary>
    private async Task<string> MenuAsync() =>
        await Page.Locator("[data-testid=static-nav]").CountAsync() > 0 ? "[data-testid=static-nav]" : "[data-testid=nav-drawer]";

    /// <summary>The app bar's menu button on interactive pages; the native menu on static (form post) pages.</summary>
    private async Task OpenMenuAsync()
    {
        if (await Page.Locator("[data-testid=static-nav]").CountAsync() > 0)
        {
            await Page.Locator("[data-testid=static-nav] > summary").ClickAsync();
            return;
        }

        await Page.Locator("main[data-interactive='true']").WaitForAsync(new() { Timeout = 120_000 });
        await Page.GetByTestId("nav-toggle").ClickAsync();
    }

    /// <summary>The verdict of the job's own stats.json, by the rule every page uses.</summary>
    private static async Task<QcVerdict> VerdictAsync(HttpClient api, Guid id)
    {
        using JsonDocument stats = JsonDocument.Parse(await api.GetStringAsync($"/v1/jobs/{id}/artifacts/stats.json"));
        Assert.True(stats.RootElement.TryGetProperty("qc", out JsonElement qc), "The job's stats.json has no qc section.");
        return QcVerdicts.FromSeverityNames(qc.GetProperty("flags").EnumerateArray().Select(f => f.GetProperty("severity").GetString()));
    }
}
