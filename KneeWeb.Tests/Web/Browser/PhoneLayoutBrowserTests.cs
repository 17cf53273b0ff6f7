using System.Text.Json;
using Microsoft.Playwright;
using Xunit;
using Xunit.Abstractions;

namespace KneeWeb.Tests.Web.Browser;

/// <summary>
/// Issue 13: at 390 px (a phone) no page of the site scrolls sideways. Wide tables may scroll inside their
/// own box; the page itself must fit. Real Chromium against a real server with two completed jobs, so the
/// job page, its results, the cohort with two jobs compared, models and server all have their real content.
/// </summary>
[Collection(BrowserCollection.Name)]
[Trait("Category", "browser")]
public sealed class PhoneLayoutBrowserTests(BrowserFixture fixture, ITestOutputHelper output) : ServerPageTest(fixture, "phone-browser")
{
    private const int PhoneWidth = 390;

    /// <summary>Reports the page's scroll width and, when it is too wide, the widest elements that stick out.</summary>
    private const string MeasureScript = """
        (limit) => {
            const width = document.documentElement.scrollWidth;
            const wide = [];
            if (width > limit) {
                for (const e of document.querySelectorAll('body *')) {
                    const r = e.getBoundingClientRect();
                    // Only the outermost offenders: what sticks out of a parent that itself fits (a scrolling box's content does not count).
                    const p = e.parentElement?.getBoundingClientRect();
                    if (e.parentElement && getComputedStyle(e.parentElement).overflowX !== 'visible') continue;
                    if (r.right > limit + 1 && r.width > 0 && p && p.right <= limit + 1) {
                        wide.push(`${e.tagName.toLowerCase()}.${[...e.classList].join('.')} right=${Math.round(r.right)} width=${Math.round(r.width)}`);
                    }
                }
            }
            return { width, wide: wide.slice(0, 12).join('; ') };
        }
        """;

    // The small demo model finishes a ramp image quickly (its QC fails, which the pages must show too).
    protected override void PrepareDataFolder() => InstallRepoModels("demo-knee");

    [Fact]
    public async Task No_page_scrolls_sideways_at_390_px()
    {
        using HttpClient api = Server.CreateClient();
        // A long subject id without spaces is the worst case for card rows and summary values.
        Guid first = await CompletedJobAsync(api, "PHONE-SUBJECT-WITH-A-LONG-IDENTIFIER-0001");
        Guid second = await CompletedJobAsync(api, "PHONE-2");
        await Page.SetViewportSizeAsync(PhoneWidth, 844);

        var tooWide = new List<string>();
        foreach (string address in new[] { "/", "/jobs", $"/jobs/{first}", $"/jobs/{second}", "/models", "/server", "/cohort" })
        {
            await Page.GotoAsync(address);
            await WaitForInteractiveAsync();
            await CheckWidthAsync(address, tooWide);
        }

        // The compare view opens under the cohort table once two jobs are chosen.
        await ChooseAsync("compare-a", first);
        await ChooseAsync("compare-b", second);
        await Assertions.Expect(Page.GetByTestId("compare-table")).ToBeVisibleAsync();
        await CheckWidthAsync("/cohort (two jobs compared)", tooWide);

        Assert.True(tooWide.Count == 0, "Pages wider than the 390 px window:\n" + string.Join("\n", tooWide));
        Assert.True(ConsoleErrors.Count == 0, "Browser errors:\n" + string.Join("\n", ConsoleErrors));
    }

    [Fact]
    public async Task A_finished_job_card_on_a_phone_has_no_empty_progress_row()
    {
        using HttpClient api = Server.CreateClient();
        await CompletedJobAsync(api, "PHONE-CARD");
        await Page.SetViewportSizeAsync(PhoneWidth, 844);
        await Page.GotoAsync("/jobs");
        await WaitForInteractiveAsync();

        ILocator card = Page.Locator("[data-testid=jobs-table] tbody tr").First;
        await Assertions.Expect(card).ToContainTextAsync("PHONE-CARD");
        await Assertions.Expect(card.Locator("td[data-label=Status]")).ToBeVisibleAsync();
        await Assertions.Expect(card.Locator("td[data-label=Progress]")).ToBeHiddenAsync();

        // At 1280 the column is still there for every row: the table keeps its shape.
        await Page.SetViewportSizeAsync(1280, 900);
        await Assertions.Expect(card.Locator("td[data-label=Progress]")).ToBeVisibleAsync();
    }

    private async Task CheckWidthAsync(string what, List<string> tooWide)
    {
        JsonElement measure = (await Page.EvaluateAsync<JsonElement?>(MeasureScript, PhoneWidth))!.Value;
        int width = measure.GetProperty("width").GetInt32();
        output.WriteLine($"{what}: scrollWidth {width} px");
        if (width > PhoneWidth + 1)
        {
            tooWide.Add($"{what}: {width} px ({measure.GetProperty("wide").GetString()})");
        }
    }

    private async Task ChooseAsync(string select, Guid job)
    {
        await Page.GetByTestId(select).ClickAsync();
        await Page.Locator($".mud-popover-open .mud-list-item[data-job='{job}']").ClickAsync();
        await Assertions.Expect(Page.Locator(".mud-popover-open .mud-list-item")).ToHaveCountAsync(0);
    }
}
