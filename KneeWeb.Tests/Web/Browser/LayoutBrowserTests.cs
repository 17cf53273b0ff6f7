using KneeWeb.Tests.TestData;
using Microsoft.Playwright;
using Xunit;
using Xunit.Abstractions;

namespace KneeWeb.Tests.Web.Browser;

/// <summary>
/// The app bar in real Chromium at a phone's and a laptop's width: exactly one menu button where someone is
/// signed in, on interactive and static (form post) pages alike and in the same place; none on sign-in;
/// the button shows the destinations; and no page scrolls sideways.
/// </summary>
[Collection(BrowserCollection.Name)]
[Trait("Category", "browser")]
public sealed class LayoutBrowserTests(BrowserFixture fixture, ITestOutputHelper output) : IAsyncLifetime
{
    // Whichever menu button the layout drew: the circuit's, or one of the static pages' two disclosures.
    private const string MenuButtons = "[data-testid=nav-toggle], [data-testid=static-nav] > summary, [data-testid=static-drawer-toggle] > summary";

    private static readonly string[] SignedInPages = ["/jobs", "/account", "/admin/users", "/admin/audit"];

    private readonly TempFolder data = new("kneeweb-layout-browser");
    private ServerProcess server = null!;

    public async Task InitializeAsync() => server = await ServerProcess.StartAsync(data.Path);

    public async Task DisposeAsync()
    {
        await server.DisposeAsync();
        data.Dispose();
    }

    [Theory]
    [InlineData(390)]
    [InlineData(1280)]
    public async Task Every_signed_in_page_has_one_menu_button_in_the_same_place_and_sign_in_has_none(int widthPx)
    {
        var errors = new List<string>();
        (IBrowserContext context, IPage page) = await fixture.OpenPageAsync(server.BaseAddress, errors, signIn: false);
        await using (context)
        {
            await page.SetViewportSizeAsync(widthPx, 844);
            await page.GotoAsync("/account/signin");
            Assert.Equal(0, await page.Locator(MenuButtons).CountAsync());
            Assert.Equal(0, await page.Locator("[data-testid=nav-drawer]").CountAsync());
            await AssertNoSidewaysScrollAsync(page, "/account/signin");

            await BrowserFixture.SignInAsync(page, TestAccounts.AdminName, TestAccounts.AdminPassword);
            LocatorBoundingBoxResult? reference = null;
            foreach (string path in SignedInPages)
            {
                await page.GotoAsync(path);
                bool interactive = await page.Locator("[data-testid=static-nav]").CountAsync() == 0;
                if (interactive)
                {
                    await page.Locator("main[data-interactive='true']").WaitForAsync();
                }

                ILocator button = page.Locator(MenuButtons).Locator("visible=true");
                await Assertions.Expect(button).ToHaveCountAsync(1);
                LocatorBoundingBoxResult box = (await button.BoundingBoxAsync())!;
                LocatorBoundingBoxResult brand = (await page.Locator(".kw-appbar .kw-brand").BoundingBoxAsync())!;
                output.WriteLine($"{widthPx} px {path} ({(interactive ? "interactive" : "static")}): menu button at x {box.X:F0}, {box.Width:F0} wide; brand at x {brand.X:F0}");
                Assert.True(box.X + box.Width <= brand.X, $"{path}: the menu button is not left of the brand.");
                // The same app bar on every page: the first page (interactive /jobs) sets where button and brand sit.
                reference ??= box;
                Assert.InRange(box.X, reference.X - 2, reference.X + 2);
                Assert.InRange(box.Width, reference.Width - 2, reference.Width + 2);
                Assert.InRange(brand.X, reference.X + reference.Width, reference.X + reference.Width + 12);

                // The button reaches the destinations: on a phone it opens them; on a wide screen they show beside
                // the page and the button hides them and brings them back. Waits on the page, not on a clock.
                if (widthPx < 960)
                {
                    Assert.False(await CohortLinkShownAsync(page), $"{path}: the destinations show before the menu is opened.");
                    await button.ClickAsync();
                    await page.WaitForFunctionAsync(CohortLinkShown);
                }
                else
                {
                    Assert.True(await CohortLinkShownAsync(page), $"{path}: no drawer beside the page.");
                    await button.ClickAsync();
                    await page.WaitForFunctionAsync($"() => !({CohortLinkShown})()");
                    await button.ClickAsync();
                    await page.WaitForFunctionAsync(CohortLinkShown);
                }

                await AssertNoSidewaysScrollAsync(page, path);
            }
        }

        Assert.True(errors.Count == 0, "Browser errors:\n" + string.Join("\n", errors));
    }

    // Some link to the cohort drawn inside the window: a closed drawer slides out of it, and a closed native menu
    // hides its content (checkVisibility; its box alone would still be computed).
    private const string CohortLinkShown = """
        () => [...document.querySelectorAll('[data-testid=nav-cohort]')].some(e => {
            const r = e.getBoundingClientRect();
            return e.checkVisibility({ visibilityProperty: true }) && r.width > 0 && r.height > 0 && r.right > 1 && r.left < window.innerWidth;
        })
        """;

    private static Task<bool> CohortLinkShownAsync(IPage page) => page.EvaluateAsync<bool>(CohortLinkShown);

    private static async Task AssertNoSidewaysScrollAsync(IPage page, string path) =>
        Assert.True(await page.EvaluateAsync<bool>("() => document.documentElement.scrollWidth <= window.innerWidth + 1"),
            $"{path} scrolls sideways at {page.ViewportSize?.Width} px.");
}
