using System.Text.RegularExpressions;
using KneeWeb.Tests.Web.Browser;
using Microsoft.Playwright;
using Xunit;

namespace KneeWeb.Tests.Web.Results;

/// <summary>
/// The volume viewer against a real server in real Chromium when things go wrong: the live connection dropped
/// while the MRI downloads (the viewer finishes, its controls work, the reconnect notice shows and clears, and
/// the controls catch up), and a download that fails with the catalog's reason and then loads on Retry.
/// </summary>
[Trait("Category", "browser")]
[Collection(BrowserCollection.Name)]
public sealed class ViewerResilienceBrowserTests(BrowserFixture fixture, Xunit.Abstractions.ITestOutputHelper output) : ServerPageTest(fixture, "viewer-browser")
{
    private Guid job;

    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        using HttpClient api = Server.CreateClient();
        job = await CompletedJobAsync(api, "VIEWER-1");
    }

    private ILocator Viewer => Page.GetByTestId("volume-viewer");

    private ILocator Status => Page.GetByTestId("viewer-status");

    /// <summary>Holds the viewer's MRI request until released, so the test can act while the viewer loads.</summary>
    private async Task<(Task Requested, TaskCompletionSource Release)> HoldImageAsync()
    {
        var requested = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await Page.RouteAsync(new Regex($"/v1/jobs/{job:D}/input"), async route =>
        {
            requested.TrySetResult();
            await release.Task;
            await route.ContinueAsync();
        });
        return (requested.Task, release);
    }

    /// <summary>
    /// Waits for the held MRI request, up to the 2-minute hang guard: a viewer that never asks (its script failed
    /// to load, say) fails the test with what the page shows instead of hanging the run.
    /// </summary>
    private async Task RequestedAsync(Task requested)
    {
        try
        {
            await requested.WaitAsync(TimeSpan.FromMinutes(2));
        }
        catch (TimeoutException)
        {
            string shown = await Page.Locator("main").InnerTextAsync();
            throw new Xunit.Sdk.XunitException($"The viewer never requested the MRI. The page shows:\n{shown}\nBrowser errors:\n{string.Join("\n", ConsoleErrors)}");
        }
    }

    [Fact]
    public async Task The_viewer_finishes_loading_and_its_controls_work_while_the_live_connection_is_down()
    {
        // The circuit's WebSocket passes through a route the test can close; while "down", reconnects are refused.
        IWebSocketRoute? live = null;
        bool down = false;
        await Page.RouteWebSocketAsync(new Regex("/_blazor"), ws =>
        {
            live = ws;
            ws.ConnectToServer();
        });
        await Page.RouteAsync(new Regex("/_blazor/negotiate"), async route =>
        {
            if (Volatile.Read(ref down))
            {
                await route.AbortAsync("connectionrefused");
            }
            else
            {
                await route.ContinueAsync();
            }
        });
        (Task requested, TaskCompletionSource release) = await HoldImageAsync();

        await Page.GotoAsync($"/jobs/{job:D}");
        await RequestedAsync(requested);
        ILocator notice = Page.GetByTestId("reconnect-notice");
        await Assertions.Expect(notice).ToBeHiddenAsync();

        // Drop the live connection while the MRI is still on its way.
        int errorsBefore = ConsoleErrors.Count;
        Volatile.Write(ref down, true);
        await live!.CloseAsync(new() { Code = 1006, Reason = "test drops the connection" });
        await Assertions.Expect(notice).ToBeVisibleAsync(new() { Timeout = 120_000 });
        await Assertions.Expect(notice).ToContainTextAsync("reconnecting");
        release.TrySetResult();

        // The download is plain HTTP: it finishes and draws without the circuit.
        await Assertions.Expect(Status).ToHaveAttributeAsync("data-state", "ready", new() { Timeout = 120_000 });
        ILocator canvas = Page.GetByTestId("viewer-canvas");
        byte[] multiplanar = await WaitForDrawnAsync(canvas);
        // A control, still with the circuit down: the JS module hears it.
        await Page.GetByTestId("view-axial").ClickAsync();
        double axialChange = await WaitForDifferenceAsync(canvas, multiplanar, 0.02);
        Assert.True(axialChange >= 0.02, $"The Axial button changed only {axialChange:P2} of the canvas while the connection was down.");
        await Assertions.Expect(notice).ToBeVisibleAsync();
        output.WriteLine($"viewer drawn and Axial applied with the connection down ({ConsoleErrors.Count - errorsBefore} console errors from the drop)");
        foreach (string e in ConsoleErrors.Skip(errorsBefore).Distinct().Take(10))
        {
            output.WriteLine($"  {e}");
        }

        // Let the connection back: the notice clears (by itself, or with its Retry once attempts ran out).
        Volatile.Write(ref down, false);
        ILocator retry = Page.GetByTestId("reconnect-retry");
        for (int i = 0; i < 60 && await notice.IsVisibleAsync(); i++)
        {
            if (await retry.IsVisibleAsync())
            {
                await retry.ClickAsync();
            }

            await Task.Delay(1000);
        }

        await Assertions.Expect(notice).ToBeHiddenAsync(new() { Timeout = 120_000 });
        // The same circuit came back: the page kept its state, and Blazor caught up with what happened meanwhile.
        await Assertions.Expect(Viewer).ToHaveAttributeAsync("data-state", "ready", new() { Timeout = 120_000 });
        await Assertions.Expect(Page.GetByTestId("view-axial")).ToHaveAttributeAsync("aria-pressed", "true", new() { Timeout = 120_000 });
        byte[] axial = await canvas.ScreenshotAsync();
        await Page.GetByTestId("view-coronal").ClickAsync();
        await Assertions.Expect(Page.GetByTestId("view-coronal")).ToHaveAttributeAsync("aria-pressed", "true");
        double coronalChange = await WaitForDifferenceAsync(canvas, axial, 0.02);
        Assert.True(coronalChange >= 0.02, $"The Coronal button changed only {coronalChange:P2} of the canvas after reconnecting.");

        // The only console errors are the transport's own about the connection the test cut.
        string[] unexpected = [.. ConsoleErrors.Take(errorsBefore).Concat(ConsoleErrors.Skip(errorsBefore).Where(e => !IsDroppedConnection(e)))];
        Assert.True(unexpected.Length == 0, "Browser errors:\n" + string.Join("\n", unexpected) + "\nConsole:\n" + string.Join("\n", ConsoleLog));
    }

    [Fact]
    public async Task A_failed_download_says_why_with_the_catalog_reason_and_retry_loads_the_viewer()
    {
        // The stored upload goes away between the page and the download: the API answers 404 FILE_NOT_FOUND.
        string upload = Directory.GetFiles(Path.Combine(Data.Path, "uploads"), "*", SearchOption.AllDirectories).Single(f => f.EndsWith(".nii.gz", StringComparison.Ordinal));
        (Task requested, TaskCompletionSource release) = await HoldImageAsync();
        await Page.GotoAsync($"/jobs/{job:D}");
        await RequestedAsync(requested);
        File.Move(upload, upload + ".away");
        release.TrySetResult();

        ILocator error = Page.GetByTestId("viewer-error");
        await Assertions.Expect(error).ToBeVisibleAsync(new() { Timeout = 120_000 });
        await Assertions.Expect(error).ToContainTextAsync("HTTP 404");
        await Assertions.Expect(error).ToContainTextAsync("FILE_NOT_FOUND");
        await Assertions.Expect(error).ToContainTextAsync("no longer stored");
        await Assertions.Expect(Viewer).ToHaveAttributeAsync("data-state", "error", new() { Timeout = 120_000 });

        // Put back; Retry downloads again and draws.
        File.Move(upload + ".away", upload);
        await Page.UnrouteAllAsync(new() { Behavior = UnrouteBehavior.Wait });
        await Page.GetByTestId("viewer-retry").ClickAsync();
        await Assertions.Expect(Status).ToHaveAttributeAsync("data-state", "ready", new() { Timeout = 120_000 });
        await Assertions.Expect(Viewer).ToHaveAttributeAsync("data-state", "ready", new() { Timeout = 120_000 });
        await Assertions.Expect(error).ToHaveCountAsync(0);
        await WaitForDrawnAsync(Page.GetByTestId("viewer-canvas"));

        // The 404 the test caused is the only error (the fixture records it and the browser logs it).
        string[] unexpected = [.. ConsoleErrors.Where(e => !e.Contains($"/v1/jobs/{job:D}/input", StringComparison.Ordinal) && !e.Contains("404", StringComparison.Ordinal))];
        Assert.True(unexpected.Length == 0, "Browser errors:\n" + string.Join("\n", unexpected));
    }

    /// <summary>What SignalR and the browser log when the test cuts the connection and refuses reconnects.</summary>
    private static bool IsDroppedConnection(string error) =>
        Regex.IsMatch(error, "WebSocket|negotiat|connection|_blazor|Failed to fetch|ERR_CONNECTION_REFUSED|Failed to start|reconnect", RegexOptions.IgnoreCase);

    private static async Task<byte[]> WaitForDrawnAsync(ILocator canvas)
    {
        byte[] png = [];
        for (int attempt = 0; attempt < 240; attempt++)
        {
            png = await canvas.ScreenshotAsync();
            if (await NonBlackFractionAsync(canvas.Page, png) > 0.02)
            {
                return png;
            }

            await Task.Delay(250);
        }

        Assert.Fail("The viewer canvas stayed black.");
        return png;
    }

    private static async Task<double> NonBlackFractionAsync(IPage page, byte[] png) =>
        await page.EvaluateAsync<double>(@"async (b64) => {
            const img = new Image();
            img.src = 'data:image/png;base64,' + b64;
            await img.decode();
            const c = document.createElement('canvas');
            c.width = img.width; c.height = img.height;
            const ctx = c.getContext('2d');
            ctx.drawImage(img, 0, 0);
            const d = ctx.getImageData(0, 0, c.width, c.height).data;
            let n = 0;
            for (let i = 0; i < d.length; i += 4) if (d[i] + d[i + 1] + d[i + 2] > 30) n++;
            return n / (d.length / 4);
        }", Convert.ToBase64String(png));

    /// <summary>Waits (by polling screenshots, up to a hang guard) until at least <paramref name="atLeast"/> of the pixels differ.</summary>
    private async Task<double> WaitForDifferenceAsync(ILocator canvas, byte[] before, double atLeast)
    {
        double last = 0;
        for (int attempt = 0; attempt < 240; attempt++)
        {
            byte[] now = await canvas.ScreenshotAsync();
            last = await Page.EvaluateAsync<double>(@"async ([a, b]) => {
                const load = async s => { const i = new Image(); i.src = 'data:image/png;base64,' + s; await i.decode(); return i; };
                const [x, y] = [await load(a), await load(b)];
                if (x.width !== y.width || x.height !== y.height) return 1;
                const c = document.createElement('canvas'); c.width = x.width; c.height = x.height;
                const ctx = c.getContext('2d');
                ctx.drawImage(x, 0, 0); const dx = ctx.getImageData(0, 0, c.width, c.height).data;
                ctx.clearRect(0, 0, c.width, c.height);
                ctx.drawImage(y, 0, 0); const dy = ctx.getImageData(0, 0, c.width, c.height).data;
                let n = 0;
                for (let i = 0; i < dx.length; i += 4) if (Math.abs(dx[i] - dy[i]) + Math.abs(dx[i + 1] - dy[i + 1]) + Math.abs(dx[i + 2] - dy[i + 2]) > 30) n++;
                return n / (dx.length / 4);
            }", new[] { Convert.ToBase64String(before), Convert.ToBase64String(now) });
            if (last >= atLeast)
            {
                return last;
            }

            await Task.Delay(250);
        }

        return last;
    }
}
