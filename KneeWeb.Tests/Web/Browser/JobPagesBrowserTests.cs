using System.Text.Json;
using KneeWeb.Tests.TestData;
using Microsoft.Playwright;
using Xunit;

namespace KneeWeb.Tests.Web.Browser;

/// <summary>A person's path through the site in real Chromium against a real server process.</summary>
[Collection(BrowserCollection.Name)]
[Trait("Category", "browser")]
public sealed class JobPagesBrowserTests(BrowserFixture fixture) : IAsyncLifetime
{
    private readonly TempFolder data = new("kneeweb-browser");
    private readonly TempFolder inputs = new("kneeweb-inputs");
    private readonly List<string> consoleErrors = [];
    private ServerProcess server = null!;
    private IBrowserContext context = null!;
    private IPage page = null!;

    public async Task InitializeAsync()
    {
        server = await ServerProcess.StartAsync(data.Path, new Dictionary<string, string>
        {
            // Long enough to watch steps change in the page, short enough for CI.
            ["KneeWeb__Jobs__DiagnosticStepDelay"] = "00:00:00.700",
        });
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
    public async Task Upload_a_nifti_watch_live_progress_reach_Completed_and_download_stats_json()
    {
        string input = TestVolumes.WriteRamp(inputs.Path, "knee.nii.gz");
        await page.GotoAsync("/");
        await WaitForInteractiveAsync();
        await page.GetByTestId("file-input").SetInputFilesAsync(input);
        await Assertions.Expect(page.GetByTestId("chosen-file")).ToContainTextAsync("knee.nii.gz");
        await page.GetByTestId("subject").Locator("input, textarea").Or(page.GetByTestId("subject")).First.FillAsync("S-042");
        await page.GetByTestId("start").ClickAsync();

        await page.WaitForURLAsync(new System.Text.RegularExpressions.Regex("/jobs/[0-9a-f-]{36}$"), new() { Timeout = 120_000 });
        Guid id = Guid.Parse(page.Url[^36..]);

        // Record, in the page, when each step text appears (epoch ms on this machine's clock), once
        // the page is live: what a page shows while it is still connecting is its load, not a live update.
        await page.Locator("main[data-interactive='true']").WaitForAsync(new() { Timeout = 120_000 });
        double observingSinceMs = await page.EvaluateAsync<double>(@"() => {
            window.__steps = [];
            window.__statuses = [];
            const remember = (list, el) => {
                if (!el) return;
                const text = el.textContent;
                if (list.length === 0 || list[list.length - 1].text !== text)
                    list.push({ text, at: performance.timeOrigin + performance.now() });
            };
            const record = () => {
                remember(window.__steps, document.querySelector('[data-testid=current-step]'));
                remember(window.__statuses, document.querySelector('[data-testid=status]'));
            };
            record();
            new MutationObserver(record).observe(document.body, { subtree: true, childList: true, characterData: true });
            return performance.timeOrigin + performance.now();
        }");

        await Assertions.Expect(page.GetByTestId("status").First).ToHaveTextAsync("Completed", new() { Timeout = 120_000 });
        await Assertions.Expect(page.GetByTestId("percent")).ToHaveTextAsync("100%");
        await Assertions.Expect(page.Locator("[data-step='3'][data-state='skipped']")).ToBeVisibleAsync();

        // A job still going when the page was watched was shown Running there. One that a fast machine finished
        // before that has no live phase to see; the half-size sample in ResultPagesBrowserTests always has one.
        using HttpClient api = server.CreateClient();
        using (JsonDocument job = JsonDocument.Parse(await api.GetStringAsync($"/v1/jobs/{id}")))
        {
            double finishedMs = new DateTimeOffset(job.RootElement.GetProperty("finished_utc").GetDateTime().ToUniversalTime()).ToUnixTimeMilliseconds();
            JsonElement statuses = await page.EvaluateAsync<JsonElement>("() => window.__statuses");
            if (finishedMs > observingSinceMs)
            {
                Assert.Contains(statuses.EnumerateArray(), s => s.GetProperty("text").GetString()!.Contains("Running", StringComparison.Ordinal));
            }
        }

        // The page showed each step that ran (how soon is `KneeWeb.Benchmarks -- latency`'s business, not a test's).
        using JsonDocument events = JsonDocument.Parse(await api.GetStringAsync($"/v1/jobs/{id}/events"));
        JsonElement seen = await page.EvaluateAsync<JsonElement>("() => window.__steps");
        foreach (JsonElement e in events.RootElement.EnumerateArray().Where(e => e.GetProperty("kind").GetString() == "step-started"))
        {
            string step = e.GetProperty("step").GetString()!;
            double startedMs = new DateTimeOffset(e.GetProperty("timestamp_utc").GetDateTime().ToUniversalTime()).ToUnixTimeMilliseconds();
            if (startedMs < observingSinceMs)
            {
                // Started before the page was being watched: its display time can't be measured.
                continue;
            }

            JsonElement shown = seen.EnumerateArray().FirstOrDefault(s => s.GetProperty("text").GetString()!.Contains(step, StringComparison.Ordinal));
            Assert.True(shown.ValueKind != JsonValueKind.Undefined, $"The page never showed step '{step}'. Seen: {seen}");
        }

        ILocator link = page.Locator("[data-artifact='stats.json']");
        await Assertions.Expect(link).ToBeVisibleAsync();
        IDownload download = await page.RunAndWaitForDownloadAsync(() => link.ClickAsync());
        string path = inputs.File("downloaded-stats.json");
        await download.SaveAsAsync(path);
        using JsonDocument stats = JsonDocument.Parse(await File.ReadAllTextAsync(path));
        Assert.Equal(id.ToString(), stats.RootElement.GetProperty("job_id").GetString());
        Assert.Equal("S-042", stats.RootElement.GetProperty("options").GetProperty("subject_id").GetString());
        Assert.Equal([24, 20, 12], stats.RootElement.GetProperty("input").GetProperty("dims").EnumerateArray().Select(d => d.GetInt32()));
        Assert.True(consoleErrors.Count == 0, "Browser errors:\n" + string.Join("\n", consoleErrors));
    }

    [Fact]
    public async Task A_text_file_renamed_nii_gz_shows_INVALID_FORMAT_message_and_hint()
    {
        // The upload is refused with 400 on purpose: that response is the point of this test.
        string input = inputs.File("scan.nii.gz");
        await File.WriteAllTextAsync(input, "patient notes, not an image\n");
        await page.GotoAsync("/");
        await WaitForInteractiveAsync();
        await page.GetByTestId("file-input").SetInputFilesAsync(input);
        await Assertions.Expect(page.GetByTestId("chosen-file")).ToContainTextAsync("scan.nii.gz");
        await page.GetByTestId("start").ClickAsync();

        await Assertions.Expect(page.GetByTestId("error-code")).ToHaveTextAsync("INVALID_FORMAT", new() { Timeout = 120_000 });
        await Assertions.Expect(page.GetByTestId("error-message")).ToContainTextAsync("not a readable knee MRI volume");
        await Assertions.Expect(page.GetByTestId("error-detail")).ToContainTextAsync("scan.nii.gz");
        await Assertions.Expect(page.GetByTestId("error-hint")).ToContainTextAsync("Upload a NIfTI");
        Assert.EndsWith("/", page.Url, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_DICOM_zip_with_two_series_offers_the_choice_and_the_chosen_series_is_analysed()
    {
        string folder = inputs.File("dicom");
        KneeWeb.Tests.Imaging.Io.PythonTools.Run($"OUT = r'{folder}'\nTWO = True\n" + KneeWeb.Tests.Imaging.Io.DicomTests.Generator);
        string zip = inputs.File("visit.zip");
        System.IO.Compression.ZipFile.CreateFromDirectory(folder, zip);

        await page.GotoAsync("/");
        await WaitForInteractiveAsync();
        await page.GetByTestId("file-input").SetInputFilesAsync(zip);
        await Assertions.Expect(page.GetByTestId("chosen-file")).ToContainTextAsync("visit.zip");
        await page.GetByTestId("start").ClickAsync();

        await Assertions.Expect(page.GetByTestId("error-code")).ToHaveTextAsync("DICOM_ERROR", new() { Timeout = 120_000 });
        await Assertions.Expect(page.GetByTestId("error-detail")).ToContainTextAsync("2 series");
        await page.GetByTestId("series-choice").ClickAsync();
        await page.Locator(".mud-popover-open .mud-list-item", new() { HasTextString = "T2 SAG" }).ClickAsync();
        // The select stores the series asynchronously on the server: Start only once it shows the choice,
        // or a busy machine can handle Start first.
        await Assertions.Expect(page.GetByTestId("series-choice")).ToContainTextAsync("T2 SAG");
        await page.GetByTestId("start").ClickAsync();

        await page.WaitForURLAsync(new System.Text.RegularExpressions.Regex("/jobs/[0-9a-f-]{36}$"), new() { Timeout = 120_000 });
        await Assertions.Expect(page.GetByTestId("status").First).ToHaveTextAsync("Completed", new() { Timeout = 120_000 });
        using HttpClient api = server.CreateClient();
        using JsonDocument stats = JsonDocument.Parse(await api.GetStringAsync($"/v1/jobs/{page.Url[^36..]}/artifacts/stats.json"));
        Assert.Equal("T2 SAG", stats.RootElement.GetProperty("input").GetProperty("metadata").GetProperty("SeriesDescription").GetString());
    }

    [Fact]
    public async Task The_jobs_page_lists_jobs_live_and_filters_by_subject()
    {
        using HttpClient api = server.CreateClient();
        string input = TestVolumes.WriteRamp(inputs.Path);
        await page.GotoAsync("/jobs");
        await WaitForInteractiveAsync();
        await Assertions.Expect(page.GetByText("No jobs match")).ToBeVisibleAsync();

        Guid a = await ApiClient.SubmitAsync(api, input, new { subject_id = "ALPHA-1" });
        Guid b = await ApiClient.SubmitAsync(api, input, new { subject_id = "BETA-2" });
        // New jobs appear without a reload, and their status follows them live.
        await Assertions.Expect(page.Locator($"a[data-job='{a}']")).ToBeVisibleAsync(new() { Timeout = 120_000 });
        await Assertions.Expect(page.Locator($"a[data-job='{b}']")).ToBeVisibleAsync(new() { Timeout = 120_000 });
        await Assertions.Expect(page.Locator($"tr:has(a[data-job='{b}']) [data-testid=status]")).ToHaveTextAsync("Completed", new() { Timeout = 120_000 });

        ILocator subject = page.GetByTestId("subject-filter");
        await subject.FillAsync("BETA");
        await subject.PressAsync("Tab");
        await Assertions.Expect(page.Locator("[data-testid=jobs-table] a[data-job]")).ToHaveCountAsync(1);
        await Assertions.Expect(page.Locator($"a[data-job='{b}']")).ToBeVisibleAsync();
        // The filter lives in the address: reloading it shows the same list.
        await page.WaitForURLAsync(new System.Text.RegularExpressions.Regex("subject=BETA"));
        await page.ReloadAsync();
        await WaitForInteractiveAsync();
        await Assertions.Expect(page.GetByTestId("subject-filter")).ToHaveValueAsync("BETA");
        await Assertions.Expect(page.Locator("[data-testid=jobs-table] a[data-job]")).ToHaveCountAsync(1);
        Assert.True(consoleErrors.Count == 0, "Browser errors:\n" + string.Join("\n", consoleErrors));
    }

    [Fact]
    public async Task A_phone_reaches_jobs_and_cohort_through_the_menu_button()
    {
        await page.SetViewportSizeAsync(390, 844);
        await page.GotoAsync("/");
        await WaitForInteractiveAsync();
        // On a phone the drawer is closed; the app bar's menu button opens it.
        await Assertions.Expect(page.GetByTestId("nav-jobs")).Not.ToBeInViewportAsync();
        await page.GetByTestId("nav-toggle").ClickAsync();
        await page.GetByTestId("nav-jobs").ClickAsync();
        await page.WaitForURLAsync(new System.Text.RegularExpressions.Regex("/jobs$"));
        await Assertions.Expect(page.Locator("h1")).ToHaveTextAsync("Jobs");
        await page.GetByTestId("nav-toggle").ClickAsync();
        await page.GetByTestId("nav-cohort").ClickAsync();
        await page.WaitForURLAsync(new System.Text.RegularExpressions.Regex("/cohort$"));
        await Assertions.Expect(page.Locator("h1")).ToHaveTextAsync("Cohort");
        Assert.True(consoleErrors.Count == 0, "Browser errors:\n" + string.Join("\n", consoleErrors));
    }

    private async Task WaitForInteractiveAsync()
    {
        // Blazor Server is interactive once its circuit is up; until then clicks do nothing.
        // The layout marks that moment; the upload page also marks when its script module is loaded.
        await page.Locator("main[data-interactive='true']").WaitForAsync(new() { Timeout = 120_000 });
        if (await page.GetByTestId("drop-zone").CountAsync() > 0)
        {
            await page.Locator("[data-testid=drop-zone][data-ready='true']").WaitForAsync(new() { Timeout = 120_000 });
        }
    }
}
