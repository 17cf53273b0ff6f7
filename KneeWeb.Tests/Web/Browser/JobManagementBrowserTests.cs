using System.Net;
using System.Text.Json;
using System.Text.RegularExpressions;
using KneeWeb.Imaging.Segmentation;
using KneeWeb.Tests.TestData;
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
public sealed class JobManagementBrowserTests(BrowserFixture fixture, ITestOutputHelper output) : IAsyncLifetime
{
    private readonly TempFolder data = new("kneeweb-manage-browser");
    private readonly TempFolder inputs = new("kneeweb-inputs");
    private readonly List<string> consoleErrors = [];
    private ServerProcess server = null!;
    private IBrowserContext context = null!;
    private IPage page = null!;

    public async Task InitializeAsync()
    {
        // The demo model segments a junk ramp image into next to nothing: structures go missing, QC fails.
        string models = Path.Combine(data.Path, "models");
        Directory.CreateDirectory(models);
        string? repoModels = KneeWeb.Inference.ModelRegistry.FindDefaultFolder();
        Assert.True(repoModels is not null, "models/ with the committed models not found above the test folder");
        foreach (string file in Directory.GetFiles(repoModels, "demo-knee.*"))
        {
            File.Copy(file, Path.Combine(models, Path.GetFileName(file)));
        }

        server = await ServerProcess.StartAsync(data.Path);
        (context, page) = await fixture.OpenPageAsync(server.BaseAddress, consoleErrors);
    }

    public async Task DisposeAsync()
    {
        await context.DisposeAsync();
        await server.DisposeAsync();
        data.Dispose();
        inputs.Dispose();
    }

    [Fact]
    public async Task A_qc_fail_job_shows_its_verdict_above_the_fold_at_1280_by_900()
    {
        using HttpClient api = server.CreateClient();
        Guid id = await CompletedJobAsync(api, "JUNK-1");
        QcVerdict verdict = await VerdictAsync(api, id);
        Assert.True(verdict == QcVerdict.Fail, $"The junk job was expected to fail QC, it is {verdict}.");

        await page.SetViewportSizeAsync(1280, 900);
        await page.GotoAsync($"/jobs/{id}");
        await WaitForInteractiveAsync();

        ILocator head = page.Locator("[data-testid=job-status-line] [data-testid=qc-verdict]");
        await Assertions.Expect(head).ToHaveAttributeAsync("data-verdict", "fail");
        await Assertions.Expect(head).ToContainTextAsync(new Regex("^QC: fail, \\d+ errors?"));
        LocatorBoundingBoxResult box = (await head.BoundingBoxAsync())!;
        output.WriteLine($"verdict at y = {box.Y:0} px, height {box.Height:0} px");
        Assert.InRange(box.Y + box.Height, 0, 900);
        // The result section's own verdict and the error that made it are also above the fold.
        ILocator top = page.Locator("[data-testid=result-top] [data-testid=qc-verdict]");
        Assert.InRange((await top.BoundingBoxAsync())!.Y, 0, 900 - 1);
        Assert.InRange((await page.Locator("[data-testid=qc-top] li.kw-qc-error").First.BoundingBoxAsync())!.Y, 0, 900 - 1);
        // Fail is drawn in the theme's error colour.
        string colour = await head.EvaluateAsync<string>("e => getComputedStyle(e).backgroundColor");
        string error = await page.EvaluateAsync<string>("() => { const d = document.createElement('div'); d.style.color = 'var(--mud-palette-error)'; document.body.append(d); const c = getComputedStyle(d).color; d.remove(); return c; }");
        Assert.Equal(error, colour);

        // The jobs list says the same in its QC column.
        await page.GotoAsync("/jobs");
        await WaitForInteractiveAsync();
        await Assertions.Expect(page.Locator($"tr:has(a[data-job='{id}']) [data-testid=qc-verdict]")).ToHaveAttributeAsync("data-verdict", "fail");
        Assert.True(consoleErrors.Count == 0, "Browser errors:\n" + string.Join("\n", consoleErrors));
    }

    [Fact]
    public async Task Exclude_and_delete_ask_first_keep_the_job_on_no_and_act_on_yes()
    {
        using HttpClient api = server.CreateClient();
        Guid id = await CompletedJobAsync(api, "KEEP-OR-GO");
        await page.GotoAsync($"/jobs/{id}");
        await WaitForInteractiveAsync();
        ILocator actions = page.Locator("[data-testid=job-status-line]");

        // Exclude: "No, keep it" changes nothing.
        await actions.GetByTestId("exclude").ClickAsync();
        await page.GetByTestId("confirm-no").ClickAsync();
        await Assertions.Expect(page.GetByTestId("confirm-message")).ToHaveCountAsync(0);
        Assert.Equal(JsonValueKind.Null, (await ApiClient.GetJobAsync(api, id)).GetProperty("cohort_exclusion").ValueKind);

        await actions.GetByTestId("exclude").ClickAsync();
        await page.Locator("[data-testid=confirm-reason] input, input[data-testid=confirm-reason]").First.FillAsync("motion");
        await page.GetByTestId("confirm-yes").ClickAsync();
        await Assertions.Expect(page.GetByTestId("excluded-note")).ToContainTextAsync("motion");
        Assert.Equal("motion", (await ApiClient.GetJobAsync(api, id)).GetProperty("cohort_exclusion").GetProperty("reason").GetString());

        // Delete: "No, keep it" keeps the job and its page.
        await actions.GetByTestId("delete").ClickAsync();
        await Assertions.Expect(page.GetByTestId("confirm-message")).ToContainTextAsync("cannot be undone");
        await page.GetByTestId("confirm-no").ClickAsync();
        await Assertions.Expect(page.GetByTestId("confirm-message")).ToHaveCountAsync(0);
        using (HttpResponseMessage kept = await api.GetAsync($"/v1/jobs/{id}"))
        {
            Assert.Equal(HttpStatusCode.OK, kept.StatusCode);
        }

        await actions.GetByTestId("delete").ClickAsync();
        await page.GetByTestId("confirm-yes").ClickAsync();
        await page.WaitForURLAsync(new Regex("/jobs$"));
        using (HttpResponseMessage gone = await api.GetAsync($"/v1/jobs/{id}"))
        {
            Assert.Equal(HttpStatusCode.NotFound, gone.StatusCode);
        }

        Assert.False(Directory.Exists(Path.Combine(data.Path, "jobs", id.ToString("D"))));
        Assert.True(consoleErrors.Count == 0, "Browser errors:\n" + string.Join("\n", consoleErrors));
    }

    [Fact]
    public async Task At_390_px_every_area_is_reachable_through_the_menu()
    {
        await page.SetViewportSizeAsync(390, 844);
        await page.GotoAsync("/jobs");
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
            ILocator link = page.Locator(await MenuAsync() + $" [data-testid={testId}]");
            await Assertions.Expect(link).Not.ToBeInViewportAsync();
            await OpenMenuAsync();
            await Assertions.Expect(link).ToBeInViewportAsync();
            await link.ClickAsync();
            await page.WaitForURLAsync(url => new Uri(url).AbsolutePath == path);
            await Assertions.Expect(page.Locator("h1").First).ToContainTextAsync(heading);
            output.WriteLine($"{testId}: reached {path}");
        }

        // Nothing is wider than the phone.
        Assert.True(await page.EvaluateAsync<bool>("() => document.documentElement.scrollWidth <= window.innerWidth + 1"), "The page scrolls sideways at 390 px.");
        Assert.True(consoleErrors.Count == 0, "Browser errors:\n" + string.Join("\n", consoleErrors));
    }

    /// <summary>The menu holding the destinations: the drawer, or the native menu of a static (form post) page.</summary>
    private async Task<string> MenuAsync() =>
        await page.Locator("[data-testid=static-nav]").CountAsync() > 0 ? "[data-testid=static-nav]" : "[data-testid=nav-drawer]";

    /// <summary>The app bar's menu button on interactive pages; the native menu on static (form post) pages.</summary>
    private async Task OpenMenuAsync()
    {
        if (await page.Locator("[data-testid=static-nav]").CountAsync() > 0)
        {
            await page.Locator("[data-testid=static-nav] > summary").ClickAsync();
            return;
        }

        await page.Locator("main[data-interactive='true']").WaitForAsync(new() { Timeout = 120_000 });
        await page.GetByTestId("nav-toggle").ClickAsync();
    }

    private async Task<Guid> CompletedJobAsync(HttpClient api, string subject)
    {
        string input = TestVolumes.WriteRamp(inputs.Path, $"{subject}.nii.gz");
        Guid id = await ApiClient.SubmitAsync(api, input, new { subject_id = subject });
        Assert.Equal("Completed", (await ApiClient.WaitForEndAsync(api, id, TimeSpan.FromMinutes(3))).GetProperty("status").GetString());
        return id;
    }

    /// <summary>The verdict of the job's own stats.json, by the rule every page uses.</summary>
    private static async Task<QcVerdict> VerdictAsync(HttpClient api, Guid id)
    {
        using JsonDocument stats = JsonDocument.Parse(await api.GetStringAsync($"/v1/jobs/{id}/artifacts/stats.json"));
        Assert.True(stats.RootElement.TryGetProperty("qc", out JsonElement qc), "The job's stats.json has no qc section.");
        return QcVerdicts.FromSeverityNames(qc.GetProperty("flags").EnumerateArray().Select(f => f.GetProperty("severity").GetString()));
    }

    private async Task WaitForInteractiveAsync()
    {
        // Blazor Server is interactive once its circuit is up; until then clicks do nothing.
        if (await page.Locator("[data-testid=static-nav]").CountAsync() == 0)
        {
            await page.Locator("main[data-interactive='true']").WaitForAsync(new() { Timeout = 120_000 });
        }
    }
}
