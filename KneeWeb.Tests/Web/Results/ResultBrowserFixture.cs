using Microsoft.Playwright;
using Xunit;

namespace KneeWeb.Tests.Web.Results;

/// <summary>
/// Headless Debian Chromium for the viewer tests. NiiVue needs WebGL2: with --disable-gpu, Chromium
/// renders WebGL2 on ANGLE's SwiftShader (Vulkan) backend when asked with --use-angle=swiftshader
/// and --enable-unsafe-swiftshader (newer Chromium refuses the software fallback otherwise);
/// --use-gl=swiftshader leaves no WebGL2 context at all in Chromium 156.
/// </summary>
public sealed class ResultBrowserFixture : IAsyncLifetime
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

    public async Task DisposeAsync()
    {
        if (Browser is not null)
        {
            await Browser.DisposeAsync();
        }

        playwright?.Dispose();
    }
}

[CollectionDefinition(Name)]
public sealed class ResultBrowserCollection : ICollectionFixture<ResultBrowserFixture>
{
    public const string Name = "result-browser";
}
