using Microsoft.Playwright;
using Xunit;

namespace KneeWeb.Tests.Web.Browser;

/// <summary>
/// One Playwright driver and one headless Debian Chromium for the browser tests. Playwright's own
/// browser download cannot work here, so it launches /usr/bin/chromium (apt-get install chromium).
/// NiiVue needs WebGL2: with --disable-gpu, Chromium 156 renders it on ANGLE's SwiftShader backend
/// when asked with --use-angle=swiftshader and --enable-unsafe-swiftshader (--use-gl=swiftshader
/// leaves no WebGL2 context at all).
/// </summary>
public sealed class BrowserFixture : IAsyncLifetime
{
    public const string ChromiumPath = "/usr/bin/chromium";

    private IPlaywright? playwright;

    public IBrowser Browser { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Assert.True(File.Exists(ChromiumPath), $"Browser tests need Debian's Chromium at {ChromiumPath}: apt-get install chromium (the README's test command does this).");
        playwright = await Playwright.CreateAsync();
        Browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = ChromiumPath,
            Headless = true,
            Args =
            [
                "--no-sandbox", "--disable-gpu", "--use-angle=swiftshader", "--enable-unsafe-swiftshader", "--ignore-gpu-blocklist",
                "--disable-dev-shm-usage", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
            ],
        });
    }

    /// <summary>
    /// A fresh context and page at 1280 px on <paramref name="baseAddress"/>, signed in through the real
    /// sign-in form as the test Admin (or as <paramref name="userName"/>; not at all when
    /// <paramref name="signIn"/> is false). Console errors, page errors and responses of 400 or more go
    /// to <paramref name="errors"/>; other console lines to <paramref name="log"/>.
    /// </summary>
    public async Task<(IBrowserContext Context, IPage Page)> OpenPageAsync(Uri baseAddress, List<string> errors, List<string>? log = null, bool signIn = true, string? userName = null, string? password = null)
    {
        ArgumentNullException.ThrowIfNull(baseAddress);
        ArgumentNullException.ThrowIfNull(errors);
        IBrowserContext context = await Browser.NewContextAsync(new BrowserNewContextOptions
        {
            BaseURL = baseAddress.ToString(),
            AcceptDownloads = true,
            ViewportSize = new ViewportSize { Width = 1280, Height = 900 },
        });
        // Hang guards, not speed bounds: on a loaded machine a page may take far longer than Playwright's 30 s default.
        context.SetDefaultTimeout(120_000);
        context.SetDefaultNavigationTimeout(120_000);
        // The same for Expect(...) assertions, whose own default (5 s) failed a filter check at load average 40.
        Assertions.SetDefaultExpectTimeout(120_000);
        IPage page = await context.NewPageAsync();
        page.Console += (_, message) =>
        {
            if (message.Type == "error")
            {
                errors.Add($"{message.Text} ({message.Location})");
            }
            else
            {
                log?.Add($"{message.Type}: {message.Text}");
            }
        };
        page.PageError += (_, error) => errors.Add($"page error: {error}");
        page.Response += (_, response) =>
        {
            if (response.Status >= 400)
            {
                errors.Add($"{response.Status} {response.Url}");
            }
        };
        if (signIn)
        {
            await SignInAsync(page, userName ?? TestAccounts.AdminName, password ?? TestAccounts.AdminPassword);
        }

        return (context, page);
    }

    /// <summary>Signs in through the sign-in form and waits for the redirect to the account page.</summary>
    public static async Task SignInAsync(IPage page, string userName, string password)
    {
        ArgumentNullException.ThrowIfNull(page);
        await page.GotoAsync("/account/signin?ReturnUrl=%2Faccount");
        await page.FillAsync("[data-testid=signin-user]", userName);
        await page.FillAsync("[data-testid=signin-password]", password);
        await page.ClickAsync("[data-testid=signin-submit]");
        await page.WaitForURLAsync(url => url.EndsWith("/account", StringComparison.Ordinal), new PageWaitForURLOptions { Timeout = 120_000 });
    }

    public async Task DisposeAsync()
    {
        if (Browser is not null)
        {
            await Browser.DisposeAsync();
        }

        playwright?.Dispose();
    }
}

// Browser tests run alone, after the parallel classes: their live-update latency bounds and software
// WebGL rendering measure the site, not CPU contention from the rest of the suite.
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class BrowserCollection : ICollectionFixture<BrowserFixture>
{
    public const string Name = "browser";
}
