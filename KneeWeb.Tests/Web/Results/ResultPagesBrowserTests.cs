using System.Text.Json;
using KneeWeb.Imaging;
using KneeWeb.Imaging.Io;
using KneeWeb.Tests.Inference;
using KneeWeb.Tests.TestData;
using Microsoft.Playwright;
using KneeWeb.Tests.Web.Browser;
using Xunit;

namespace KneeWeb.Tests.Web.Results;

/// <summary>Result, viewer and cohort pages in real Chromium (WebGL2 on SwiftShader) against a real server process with the demo model.</summary>
[Collection(BrowserCollection.Name)]
public sealed class ResultPagesBrowserTests(BrowserFixture fixture) : IAsyncLifetime
{
    private readonly TempFolder data = new("kneeweb-results-browser");
    private readonly TempFolder inputs = new("kneeweb-inputs");
    private readonly List<string> consoleErrors = [];
    private readonly List<string> consoleLog = [];
    private ServerProcess server = null!;
    private IBrowserContext context = null!;
    private IPage page = null!;

    public async Task InitializeAsync()
    {
        string models = Path.Combine(data.Path, "models");
        Directory.CreateDirectory(models);
        string repoModels = Path.Combine(Path.GetDirectoryName(ServerProcess.LocateBinary())!, "..", "..", "..", "..", "..", "models");
        foreach (string file in Directory.GetFiles(repoModels, "demo-knee.*"))
        {
            File.Copy(file, Path.Combine(models, Path.GetFileName(file)));
        }

        server = await ServerProcess.StartAsync(data.Path, new Dictionary<string, string>
        {
            // Slow enough to open the job page before inference starts and to watch its preview.
            ["KneeWeb__Jobs__DiagnosticStepDelay"] = "00:00:00.800",
        });
        (context, page) = await fixture.OpenPageAsync(server.BaseAddress, consoleErrors, consoleLog);
    }

    public async Task DisposeAsync()
    {
        await context.DisposeAsync();
        await server.DisposeAsync();
        data.Dispose();
        inputs.Dispose();
    }

    [Fact]
    public async Task A_segmentation_job_is_followed_live_then_shows_metrics_a_non_blank_viewer_and_label_toggles_change_it()
    {
        using HttpClient api = server.CreateClient();
        (Volume image, _) = SyntheticKnee.Create(new Vec3d(0.5, 0.5, 1.0), sizeMm: 40);
        string input = inputs.File("synthetic.nii.gz");
        VolumeIo.Write(image, input);
        Guid id = await ApiClient.SubmitAsync(api, input, new { model = "demo-knee", device = "cpu", subject_id = "VIEW-1", knee_side = "left" });

        // Live: the preview shows up beside the step progress while the job runs.
        await page.GotoAsync($"/jobs/{id}");
        await WaitForInteractiveAsync();
        ILocator preview = page.GetByTestId("preview");
        await Assertions.Expect(preview).ToBeVisibleAsync(new() { Timeout = 90_000 });
        LocatorBoundingBoxResult previewBox = (await preview.BoundingBoxAsync())!;
        LocatorBoundingBoxResult progressBox = (await page.Locator(".kw-live-progress").BoundingBoxAsync())!;
        Assert.True(previewBox.X >= progressBox.X + progressBox.Width - 1, $"The preview ({previewBox.X}) is not beside the progress (ends at {progressBox.X + progressBox.Width}).");
        Assert.True(previewBox.Y < progressBox.Y + progressBox.Height, "The preview is below the progress, not beside it.");
        Assert.True(previewBox.X + previewBox.Width <= 1280, "The preview overflows a 1280 px wide window.");

        await Assertions.Expect(page.GetByTestId("status").First).ToHaveTextAsync("Completed", new() { Timeout = 120_000 });

        // Metrics from stats.json.
        await Assertions.Expect(page.GetByTestId("summary-subject")).ToHaveTextAsync("VIEW-1");
        await Assertions.Expect(page.GetByTestId("summary-model")).ToContainTextAsync("demo-knee");
        await Assertions.Expect(page.GetByTestId("summary-provider")).ToContainTextAsync(new System.Text.RegularExpressions.Regex("cpu", System.Text.RegularExpressions.RegexOptions.IgnoreCase));
        using JsonDocument stats = JsonDocument.Parse(await api.GetStringAsync($"/v1/jobs/{id}/artifacts/stats.json"));
        foreach (JsonProperty volume in stats.RootElement.GetProperty("volumes_mm3").EnumerateObject())
        {
            await Assertions.Expect(page.Locator($"[data-testid=volumes] tr[data-structure='{volume.Name}']")).ToBeVisibleAsync();
        }

        if (stats.RootElement.TryGetProperty("thickness_mm", out JsonElement thickness) && thickness.ValueKind == JsonValueKind.Object)
        {
            foreach (JsonProperty region in thickness.EnumerateObject())
            {
                ILocator row = page.Locator($"[data-testid=thickness] tr[data-region='{region.Name}']");
                await Assertions.Expect(row).ToBeVisibleAsync();
                if (region.Value.GetProperty("mean").ValueKind == JsonValueKind.Number)
                {
                    string mean = region.Value.GetProperty("mean").GetDouble().ToString("0.00", System.Globalization.CultureInfo.InvariantCulture);
                    await Assertions.Expect(row.Locator("td").Nth(1)).ToHaveTextAsync(mean);
                }
            }
        }
        else
        {
            await Assertions.Expect(page.Locator("[data-what='Cartilage thickness']")).ToContainTextAsync("not computed in this job");
        }

        await Assertions.Expect(page.Locator("[data-what='BScore']")).ToContainTextAsync("not computed in this job");
        await Assertions.Expect(page.Locator("[data-artifact='segmentation.nii.gz']")).ToBeVisibleAsync();
        bool hasMeshes = stats.RootElement.TryGetProperty("meshes", out JsonElement meshes) && meshes.ValueKind == JsonValueKind.Object && meshes.EnumerateObject().Any();
        if (!hasMeshes)
        {
            await Assertions.Expect(page.GetByTestId("no-meshes")).ToHaveTextAsync("No meshes in this job.");
        }

        // The viewer loads the MRI and the segmentation through the API and draws them.
        try
        {
            await Assertions.Expect(page.Locator("[data-testid=volume-viewer][data-state=ready]")).ToBeVisibleAsync(new() { Timeout = 60_000 });
        }
        catch (PlaywrightException e)
        {
            string viewerText = await page.GetByTestId("volume-viewer").InnerTextAsync();
            viewerText += "\nIMPORT: " + await page.EvaluateAsync<string>("async () => { try { const m = await import('/js/volume-viewer.js'); return Object.keys(m).join(); } catch (e) { return 'ERR ' + e; } }");
            throw new Xunit.Sdk.XunitException($"The viewer did not become ready: {e.Message}\nViewer: {viewerText}\nBrowser errors:\n{string.Join("\n", consoleErrors)}\nConsole:\n{string.Join("\n", consoleLog)}");
        }
        ILocator canvas = page.GetByTestId("viewer-canvas");
        await canvas.ScrollIntoViewIfNeededAsync();
        Pixels shown = await WaitForPixelsAsync(canvas, p => p.Colored > 200);
        Assert.True(shown.NonBlack > shown.Total / 20, $"The viewer canvas is (nearly) blank: {shown}.");

        // Hiding every label takes the overlay's colours away; showing them brings them back.
        for (int label = 1; label <= 9; label++)
        {
            await page.GetByTestId($"label-toggle-{label}").UncheckAsync();
        }

        Pixels hidden = await WaitForPixelsAsync(canvas, p => p.Colored < shown.Colored / 2);
        Assert.True(hidden.Colored < shown.Colored / 2, $"Hiding the labels did not change the image: {shown} then {hidden}.");
        await page.GetByTestId("label-toggle-1").CheckAsync();
        Pixels femurOnly = await WaitForPixelsAsync(canvas, p => p.Colored > hidden.Colored + 50);
        Assert.True(femurOnly.Colored > hidden.Colored, $"Showing the femur again did not change the image: {hidden} then {femurOnly}.");

        // Window/level: a narrow window brightens the MRI.
        ILocator windowMax = page.GetByTestId("window-max");
        await windowMax.FillAsync("100");
        await windowMax.PressAsync("Tab");
        Pixels bright = await WaitForPixelsAsync(canvas, p => p.NonBlack > femurOnly.NonBlack * 1.1);
        Assert.True(bright.NonBlack > femurOnly.NonBlack, $"Narrowing the window did not brighten the image: {femurOnly} then {bright}.");

        // The 3D view and back, from the keyboard.
        await page.GetByTestId("view-render").FocusAsync();
        await page.Keyboard.PressAsync("Enter");
        await Assertions.Expect(page.GetByTestId("view-render")).ToHaveAttributeAsync("aria-pressed", "true");
        await page.GetByTestId("view-multiplanar").ClickAsync();
        await Assertions.Expect(page.GetByTestId("view-multiplanar")).ToHaveAttributeAsync("aria-pressed", "true");

        // The crosshair names the label under it.
        LocatorBoundingBoxResult box = (await canvas.BoundingBoxAsync())!;
        // Multiplanar tiles sit in a row at 1280 px: the first is the axial slice.
        await canvas.ClickAsync(new() { Position = new Position { X = box.Width * 0.12f, Y = box.Height * 0.5f } });
        ILocator under = page.GetByTestId("crosshair-label");
        await Assertions.Expect(under).ToBeVisibleAsync();
        string labelValue = (await under.GetAttributeAsync("data-label"))!;
        string labelText = await under.InnerTextAsync();
        string expected = labelValue == "0" ? "background" : KneeWeb.Components.Shared.LabelLegend.All.First(l => l.Value.ToString(System.Globalization.CultureInfo.InvariantCulture) == labelValue).DisplayName;
        Assert.Equal(expected, labelText);

        if (hasMeshes)
        {
            // The mesh viewer draws the structures' meshes on its white background.
            await Assertions.Expect(page.Locator("[data-testid=mesh-viewer][data-state=ready]")).ToBeVisibleAsync(new() { Timeout = 60_000 });
            ILocator meshCanvas = page.GetByTestId("mesh-canvas");
            await meshCanvas.ScrollIntoViewIfNeededAsync();
            Pixels drawn = await WaitForPixelsAsync(meshCanvas, p => p.NonWhite > p.Total / 50);
            Assert.True(drawn.NonWhite > drawn.Total / 50, $"The mesh canvas is (nearly) blank: {drawn}.");
            await page.GetByTestId("mesh-reset").ClickAsync();

            // Bone coloured by thickness: hiding the thickness layer changes the picture.
            await Assertions.Expect(page.GetByTestId("thickness-legend")).ToBeVisibleAsync();
            await page.GetByTestId("thickness-toggle").UncheckAsync();
            Pixels plain = await WaitForPixelsAsync(meshCanvas, p => p.Colored != drawn.Colored);
            Assert.NotEqual(drawn.Colored, plain.Colored);
        }

        Assert.True(consoleErrors.Count == 0, "Browser errors:\n" + string.Join("\n", consoleErrors));
    }

    [Fact]
    public async Task The_cohort_filter_narrows_the_table_and_the_csv_export_holds_the_filtered_rows()
    {
        using HttpClient api = server.CreateClient();
        string input = TestVolumes.WriteRamp(inputs.Path);
        Guid a = await ApiClient.SubmitAsync(api, input, new { subject_id = "GAMMA-1", notes = "baseline", tags = "baseline" });
        Guid b = await ApiClient.SubmitAsync(api, input, new { subject_id = "DELTA-2", notes = "follow-up", tags = "follow-up, visit-2" });
        Guid c = await ApiClient.SubmitAsync(api, input, new { subject_id = "DELTA-2", notes = "baseline", tags = "baseline" });
        foreach (Guid id in new[] { a, b, c })
        {
            Assert.Equal("Completed", (await ApiClient.WaitForEndAsync(api, id, TimeSpan.FromMinutes(2))).GetProperty("status").GetString());
        }

        await page.GotoAsync("/cohort");
        await WaitForInteractiveAsync();
        await Assertions.Expect(page.Locator("[data-testid=cohort-table] tbody tr")).ToHaveCountAsync(3);

        ILocator subject = page.GetByTestId("cohort-subject");
        await subject.FillAsync("delta");
        await subject.PressAsync("Tab");
        await Assertions.Expect(page.Locator("[data-testid=cohort-table] tbody tr")).ToHaveCountAsync(2);
        ILocator tag = page.GetByTestId("cohort-tag");
        // Tags match exactly: part of a tag finds nothing, the whole tag finds its job.
        await tag.FillAsync("follow");
        await tag.PressAsync("Tab");
        await Assertions.Expect(page.GetByTestId("cohort-empty")).ToBeVisibleAsync();
        await tag.FillAsync("Follow-Up");
        await tag.PressAsync("Tab");
        await Assertions.Expect(page.Locator("[data-testid=cohort-table] tbody tr")).ToHaveCountAsync(1);
        await Assertions.Expect(page.Locator($"tr[data-job='{b}']")).ToBeVisibleAsync();

        IDownload download = await page.RunAndWaitForDownloadAsync(() => page.GetByTestId("export-csv").ClickAsync());
        string path = inputs.File("cohort.csv");
        await download.SaveAsAsync(path);
        string[] lines = (await File.ReadAllTextAsync(path)).TrimStart('\uFEFF').Split("\r\n", StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(2, lines.Length);
        Assert.StartsWith("job_id,subject_id,", lines[0], StringComparison.Ordinal);
        Assert.StartsWith($"{b:D},DELTA-2,", lines[1], StringComparison.Ordinal);

        // Sorting by a header is reachable from the keyboard.
        await tag.FillAsync("");
        await tag.PressAsync("Tab");
        await Assertions.Expect(page.Locator("[data-testid=cohort-table] tbody tr")).ToHaveCountAsync(2);
        await page.Locator("button[data-sort=notes]").FocusAsync();
        await page.Keyboard.PressAsync("Enter");
        await Assertions.Expect(page.Locator("[data-testid=cohort-table] tbody tr").First).ToHaveAttributeAsync("data-job", c.ToString());

        // Two visits of DELTA-2 side by side.
        await page.GetByTestId("compare-a").SelectOptionAsync(c.ToString());
        await page.GetByTestId("compare-b").SelectOptionAsync(b.ToString());
        await Assertions.Expect(page.GetByTestId("compare")).ToContainTextAsync("DELTA-2");
        await Assertions.Expect(page.Locator("[data-testid=compare-table] tr[data-metric]").First).ToBeVisibleAsync();
        Assert.True(consoleErrors.Count == 0, "Browser errors:\n" + string.Join("\n", consoleErrors));
    }

    private async Task WaitForInteractiveAsync() =>
        await page.Locator("main[data-interactive='true']").WaitForAsync(new() { Timeout = 30_000 });

    private async Task<Pixels> WaitForPixelsAsync(ILocator canvas, Func<Pixels, bool> until)
    {
        Pixels last = default;
        for (int attempt = 0; attempt < 40; attempt++)
        {
            last = await PixelsAsync(canvas);
            if (until(last))
            {
                return last;
            }

            await Task.Delay(250);
        }

        return last;
    }

    /// <summary>Counts pixels of a screenshot of the canvas: not near black, and clearly coloured (the overlay; the MRI is grey).</summary>
    private async Task<Pixels> PixelsAsync(ILocator canvas)
    {
        byte[] png = await canvas.ScreenshotAsync();
        JsonElement r = await page.EvaluateAsync<JsonElement>(@"async (b64) => {
            const img = new Image();
            img.src = 'data:image/png;base64,' + b64;
            await img.decode();
            const c = document.createElement('canvas');
            c.width = img.width; c.height = img.height;
            const ctx = c.getContext('2d');
            ctx.drawImage(img, 0, 0);
            const d = ctx.getImageData(0, 0, c.width, c.height).data;
            let colored = 0, nonBlack = 0, nonWhite = 0;
            for (let i = 0; i < d.length; i += 4) {
                const r = d[i], g = d[i + 1], b = d[i + 2];
                if (r + g + b > 30) nonBlack++;
                if (r + g + b < 720) nonWhite++;
                if (Math.max(r, g, b) - Math.min(r, g, b) > 40) colored++;
            }
            return { colored, nonBlack, nonWhite, total: d.length / 4 };
        }", Convert.ToBase64String(png));
        return new Pixels(r.GetProperty("colored").GetInt32(), r.GetProperty("nonBlack").GetInt32(), r.GetProperty("nonWhite").GetInt32(), r.GetProperty("total").GetInt32());
    }

    private readonly record struct Pixels(int Colored, int NonBlack, int NonWhite, int Total);
}
