using System.Text.Json;
using KneeWeb.Tests.TestData;
using Microsoft.Playwright;
using Xunit;

namespace KneeWeb.Tests.Web.Browser;

/// <summary>A person's path through the site in real Chromium against a real server process.</summary>
[Collection(BrowserCollection.Name)]
[Trait("Category", "browser")]
public sealed class JobPagesBrowserTests(BrowserFixture fixture) : ServerPageTest(fixture, "job-pages-browser")
{
    protected override IDictionary<string, string> ServerSettings => new Dictionary<string, string>
    {
        // Long enough to watch steps change in the page, short enough for CI.
        ["KneeWeb__Jobs__DiagnosticStepDelay"] = "00:00:00.700",
    };

    [Fact]
    public async Task Upload_a_nifti_watch_live_progress_reach_Completed_and_download_stats_json()
    {
        string input = TestVolumes.WriteRamp(Inputs.Path, "knee.nii.gz");
        await Page.GotoAsync("/");
        await WaitForInteractiveAsync();
        await Page.GetByTestId("file-input").SetInputFilesAsync(input);
        await Assertions.Expect(Page.GetByTestId("chosen-file")).ToContainTextAsync("knee.nii.gz");
        await Page.GetByTestId("subject").Locator("input, textarea").Or(Page.GetByTestId("subject")).First.FillAsync("S-042");
        await Page.GetByTestId("start").ClickAsync();

        await Page.WaitForURLAsync(new System.Text.RegularExpressions.Regex("/jobs/[0-9a-f-]{36}$"), new() { Timeout = 120_000 });
        Guid id = Guid.Parse(Page.Url[^36..]);

        // Record, in the page, when each step text appears (epoch ms on this machine's clock), once
        // the page is live: what a page shows while it is still connecting is its load, not a live update.
        await Page.Locator("main[data-interactive='true']").WaitForAsync(new() { Timeout = 120_000 });
        double observingSinceMs = await Page.EvaluateAsync<double>(@"() => {
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

        await Assertions.Expect(Page.GetByTestId("status").First).ToHaveTextAsync("Completed", new() { Timeout = 120_000 });
        await Assertions.Expect(Page.GetByTestId("percent")).ToHaveTextAsync("100%");
        await Assertions.Expect(Page.Locator("[data-step='3'][data-state='skipped']")).ToBeVisibleAsync();

        // A job still going when the page was watched was shown Running there. One that a fast machine finished
        // before that has no live phase to see; the half-size sample in ResultPagesBrowserTests always has one.
        using HttpClient api = Server.CreateClient();
        using (JsonDocument job = JsonDocument.Parse(await api.GetStringAsync($"/v1/jobs/{id}")))
        {
            double finishedMs = new DateTimeOffset(job.RootElement.GetProperty("finished_utc").GetDateTime().ToUniversalTime()).ToUnixTimeMilliseconds();
            JsonElement statuses = await Page.EvaluateAsync<JsonElement>("() => window.__statuses");
            if (finishedMs > observingSinceMs)
            {
                Assert.Contains(statuses.EnumerateArray(), s => s.GetProperty("text").GetString()!.Contains("Running", StringComparison.Ordinal));
            }
        }

        // The page showed each step that ran (how soon is `KneeWeb.Benchmarks -- latency`'s business, not a test's).
        using JsonDocument events = JsonDocument.Parse(await api.GetStringAsync($"/v1/jobs/{id}/events"));
        JsonElement seen = await Page.EvaluateAsync<JsonElement>("() => window.__steps");
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

        ILocator link = Page.Locator("[data-artifact='stats.json']");
        await Assertions.Expect(link).ToBeVisibleAsync();
        IDownload download = await Page.RunAndWaitForDownloadAsync(() => link.ClickAsync());
        string path = Inputs.File("downloaded-stats.json");
        await download.SaveAsAsync(path);
        using JsonDocument stats = JsonDocument.Parse(await File.ReadAllTextAsync(path));
        Assert.Equal(id.ToString(), stats.RootElement.GetProperty("job_id").GetString());
        Assert.Equal("S-042", stats.RootElement.GetProperty("options").GetProperty("subject_id").GetString());
        Assert.Equal([24, 20, 12], stats.RootElement.GetProperty("input").GetProperty("dims").EnumerateArray().Select(d => d.GetInt32()));
        Assert.True(ConsoleErrors.Count == 0, "Browser errors:\n" + string.Join("\n", ConsoleErrors));
    }

    [Fact]
    public async Task A_text_file_renamed_nii_gz_shows_INVALID_FORMAT_message_and_hint()
    {
        // The upload is refused with 400 on purpose: that response is the point of this test.
        string input = Inputs.File("scan.nii.gz");
        await File.WriteAllTextAsync(input, "patient notes, not an image\n");
        await Page.GotoAsync("/");
        await WaitForInteractiveAsync();
        await Page.GetByTestId("file-input").SetInputFilesAsync(input);
        await Assertions.Expect(Page.GetByTestId("chosen-file")).ToContainTextAsync("scan.nii.gz");
        await Page.GetByTestId("start").ClickAsync();

        await Assertions.Expect(Page.GetByTestId("error-code")).ToHaveTextAsync("INVALID_FORMAT", new() { Timeout = 120_000 });
        await Assertions.Expect(Page.GetByTestId("error-message")).ToContainTextAsync("not a readable knee MRI volume");
        await Assertions.Expect(Page.GetByTestId("error-detail")).ToContainTextAsync("scan.nii.gz");
        await Assertions.Expect(Page.GetByTestId("error-hint")).ToContainTextAsync("Upload a NIfTI");
        Assert.EndsWith("/", Page.Url, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_DICOM_zip_with_two_series_offers_the_choice_and_the_chosen_series_is_analysed()
    {
        string folder = Inputs.File("dicom");
        KneeWeb.Tests.Imaging.Io.PythonTools.Run($"OUT = r'{folder}'\nTWO = True\n" + KneeWeb.Tests.Imaging.Io.DicomTests.Generator);
        string zip = Inputs.File("visit.zip");
        System.IO.Compression.ZipFile.CreateFromDirectory(folder, zip);

        await Page.GotoAsync("/");
        await WaitForInteractiveAsync();
        await Page.GetByTestId("file-input").SetInputFilesAsync(zip);
        await Assertions.Expect(Page.GetByTestId("chosen-file")).ToContainTextAsync("visit.zip");
        await Page.GetByTestId("start").ClickAsync();

        await Assertions.Expect(Page.GetByTestId("error-code")).ToHaveTextAsync("DICOM_ERROR", new() { Timeout = 120_000 });
        await Assertions.Expect(Page.GetByTestId("error-detail")).ToContainTextAsync("2 series");
        await Page.GetByTestId("series-choice").ClickAsync();
        await Page.Locator(".mud-popover-open .mud-list-item", new() { HasTextString = "T2 SAG" }).ClickAsync();
        // The select stores the series asynchronously on the server: Start only once it shows the choice,
        // or a busy machine can handle Start first.
        await Assertions.Expect(Page.GetByTestId("series-choice")).ToContainTextAsync("T2 SAG");
        await Page.GetByTestId("start").ClickAsync();

        await Page.WaitForURLAsync(new System.Text.RegularExpressions.Regex("/jobs/[0-9a-f-]{36}$"), new() { Timeout = 120_000 });
        await Assertions.Expect(Page.GetByTestId("status").First).ToHaveTextAsync("Completed", new() { Timeout = 120_000 });
        using HttpClient api = Server.CreateClient();
        using JsonDocument stats = JsonDocument.Parse(await api.GetStringAsync($"/v1/jobs/{Page.Url[^36..]}/artifacts/stats.json"));
        Assert.Equal("T2 SAG", stats.RootElement.GetProperty("input").GetProperty("metadata").GetProperty("SeriesDescription").GetString());
    }

    [Fact]
    public async Task The_jobs_page_lists_jobs_live_and_filters_by_subject()
    {
        using HttpClient api = Server.CreateClient();
        string input = TestVolumes.WriteRamp(Inputs.Path);
        await Page.GotoAsync("/jobs");
        await WaitForInteractiveAsync();
        await Assertions.Expect(Page.GetByText("No jobs match")).ToBeVisibleAsync();

        Guid a = await ApiClient.SubmitAsync(api, input, new { subject_id = "ALPHA-1" });
        Guid b = await ApiClient.SubmitAsync(api, input, new { subject_id = "BETA-2" });
        // New jobs appear without a reload, and their status follows them live.
        await Assertions.Expect(Page.Locator($"a[data-job='{a}']")).ToBeVisibleAsync(new() { Timeout = 120_000 });
        await Assertions.Expect(Page.Locator($"a[data-job='{b}']")).ToBeVisibleAsync(new() { Timeout = 120_000 });
        await Assertions.Expect(Page.Locator($"tr:has(a[data-job='{b}']) [data-testid=status]")).ToHaveTextAsync("Completed", new() { Timeout = 120_000 });

        ILocator subject = Page.GetByTestId("subject-filter");
        await subject.FillAsync("BETA");
        await subject.PressAsync("Tab");
        await Assertions.Expect(Page.Locator("[data-testid=jobs-table] a[data-job]")).ToHaveCountAsync(1);
        await Assertions.Expect(Page.Locator($"a[data-job='{b}']")).ToBeVisibleAsync();
        // The filter lives in the address: reloading it shows the same list.
        await Page.WaitForURLAsync(new System.Text.RegularExpressions.Regex("subject=BETA"));
        await Page.ReloadAsync();
        await WaitForInteractiveAsync();
        await Assertions.Expect(Page.GetByTestId("subject-filter")).ToHaveValueAsync("BETA");
        await Assertions.Expect(Page.Locator("[data-testid=jobs-table] a[data-job]")).ToHaveCountAsync(1);
        Assert.True(ConsoleErrors.Count == 0, "Browser errors:\n" + string.Join("\n", ConsoleErrors));
    }

    [Fact]
    public async Task A_phone_reaches_jobs_and_cohort_through_the_menu_button()
    {
        await Page.SetViewportSizeAsync(390, 844);
        await Page.GotoAsync("/");
        await WaitForInteractiveAsync();
        // On a phone the drawer is closed; the app bar's menu button opens it.
        await Assertions.Expect(Page.GetByTestId("nav-jobs")).Not.ToBeInViewportAsync();
        await Page.GetByTestId("nav-toggle").ClickAsync();
        await Page.GetByTestId("nav-jobs").ClickAsync();
        await Page.WaitForURLAsync(new System.Text.RegularExpressions.Regex("/jobs$"));
        await Assertions.Expect(Page.Locator("h1")).ToHaveTextAsync("Jobs");
        await Page.GetByTestId("nav-toggle").ClickAsync();
        await Page.GetByTestId("nav-cohort").ClickAsync();
        await Page.WaitForURLAsync(new System.Text.RegularExpressions.Regex("/cohort$"));
        await Assertions.Expect(Page.Locator("h1")).ToHaveTextAsync("Cohort");
        Assert.True(ConsoleErrors.Count == 0, "Browser errors:\n" + string.Join("\n", ConsoleErrors));
    }
}
