using System.Security.Cryptography;
using System.Text.Json;
using System.Text.RegularExpressions;
using KneeWeb.Imaging;
using KneeWeb.Imaging.Io;
using KneeWeb.Tests.Inference;
using KneeWeb.Tests.TestData;
using Microsoft.Playwright;
using KneeWeb.Tests.Web.Browser;
using Xunit;

namespace KneeWeb.Tests.Web.Results;

/// <summary>
/// Result, viewer and cohort pages in real Chromium (WebGL2 on SwiftShader) against a real server process with the
/// committed models: the phantom segmentation model and the femur shape model for the sample job, the demo model for the rest.
/// </summary>
[Collection(BrowserCollection.Name)]
[Trait("Category", "browser")]
public sealed class ResultPagesBrowserTests(BrowserFixture fixture, Xunit.Abstractions.ITestOutputHelper output) : ServerPageTest(fixture, "results-browser")
{    private readonly System.Diagnostics.Stopwatch clock = System.Diagnostics.Stopwatch.StartNew();

    /// <summary>Where the time of a long browser test goes (shown with the test's output).</summary>
    private void Phase(string name) => output.WriteLine($"{clock.Elapsed.TotalSeconds,7:0.0} s  {name}");

    protected override IDictionary<string, string> ServerSettings => new Dictionary<string, string>
    {
        // Slow enough to open the job page before inference starts and to watch its preview.
        ["KneeWeb__Jobs__DiagnosticStepDelay"] = "00:00:00.300",
        // "Try a sample" on the phantom's 192x192x80 grid: the whole analysis in seconds on a CI machine.
        ["KneeWeb__Samples__PhantomCoarsening"] = "2",
    };

    protected override void PrepareDataFolder()
    {
        // demo-knee: the default model of the API jobs below; phantom-knee-small: chosen on the Upload page for the sample.
        string repoModels = InstallRepoModels("demo-knee", PhantomModel);
        string nsmModels = KneeWeb.Inference.ModelBuilding.NsmModels.Folder(Path.Combine(Data.Path, "models"));
        Directory.CreateDirectory(nsmModels);
        foreach (string file in Directory.GetFiles(KneeWeb.Inference.ModelBuilding.NsmModels.Folder(repoModels), "femur-nsm-demo.*"))
        {
            File.Copy(file, Path.Combine(nsmModels, Path.GetFileName(file)));
        }
    }

    private const string PhantomModel = "phantom-knee-small";

    /// <summary>
    /// The done-when path of the result pages, on one phantom job started with "Try a sample" with the
    /// phantom model and the bone shape model chosen on the Upload page: followed live, every stats.json
    /// metric on its page (the shape model's fit and BScore included), bone volumes near the phantom's
    /// truth, working downloads, then the viewers' controls, the keyboard, the 1280 px layout, the shape
    /// model's mesh overlaid and toggled, and a deleted segmentation, all on that same job.
    /// </summary>
    [Fact]
    public async Task A_sample_from_the_upload_page_is_followed_live_and_its_result_page_shows_stats_json_viewers_and_downloads()
    {
        Phase("start");
        // The phantom's true labels on the sample's grid (seed 1, half size), made while the browser works.
        Task<Dictionary<string, double>> truthVolumes = Task.Run(PhantomBoneVolumes);
        // Try a sample: the phantom is generated on the server while the page shows that it works on it.
        await Page.GotoAsync("/");
        await WaitForInteractiveAsync();
        await Page.GetByTestId("subject").FillAsync("SAMPLE-1");
        // A bad tag is refused before any work, with the catalog error on the page.
        await Page.GetByTestId("tags").FillAsync("demo, not/allowed");
        await Page.GetByTestId("try-sample").ClickAsync();
        await Assertions.Expect(Page.GetByTestId("error-code")).ToHaveTextAsync("CONFIG_ERROR");
        await Assertions.Expect(Page.GetByTestId("error-detail")).ToContainTextAsync("not/allowed");
        // That refusal is the one expected error response (and Chromium's console line about it); nothing else.
        Assert.All(ConsoleErrors, e => Assert.Contains("400", e, StringComparison.Ordinal));
        ConsoleErrors.Clear();
        await Page.GetByTestId("tags").FillAsync("Demo, phantom run");
        await ChooseAsync("Segmentation model", PhantomModel);
        await ChooseAsync("Neural shape model", "Bone only");
        await KeepScreenshotAsync("upload");
        await Page.GetByTestId("try-sample").ClickAsync();
        await Assertions.Expect(Page.GetByTestId("sample-progress")).ToBeVisibleAsync();
        await Page.WaitForURLAsync(new Regex("/jobs/[0-9a-f-]{36}$"), new() { Timeout = 120_000 });
        Guid id = Guid.Parse(Page.Url[^36..]);
        await WaitForInteractiveAsync();

        Phase("on the job page");
        // Live: record every progress value and preview image the page shows until the job ends.
        await Page.EvaluateAsync(@"() => {
            window.__percents = new Set();
            window.__previews = new Set();
            const record = () => {
                const bar = document.querySelector('.kw-progress [role=progressbar]');
                if (bar) window.__percents.add(bar.getAttribute('aria-valuenow'));
                const img = document.querySelector('[data-testid=preview] img');
                if (img) window.__previews.add(img.getAttribute('src'));
            };
            record();
            new MutationObserver(record).observe(document.body, { subtree: true, childList: true, attributes: true, characterData: true });
        }");
        await Assertions.Expect(Page.GetByTestId("job-tags")).ToContainTextAsync("phantom-run");

        // While it segments, the preview sits beside the step progress, inside a 1280 px window.
        ILocator preview = Page.GetByTestId("preview");
        await Assertions.Expect(preview).ToBeVisibleAsync(new() { Timeout = 120_000 });
        LocatorBoundingBoxResult previewBox = (await preview.BoundingBoxAsync())!;
        LocatorBoundingBoxResult progressBox = (await Page.Locator(".kw-live-progress").BoundingBoxAsync())!;
        Assert.True(previewBox.X >= progressBox.X + progressBox.Width - 1, $"The preview ({previewBox.X}) is not beside the progress (ends at {progressBox.X + progressBox.Width}).");
        Assert.True(previewBox.Y < progressBox.Y + progressBox.Height, "The preview is below the progress, not beside it.");
        Assert.True(previewBox.X + previewBox.Width <= 1280, "The preview overflows a 1280 px wide window.");
        await Assertions.Expect(Page.GetByTestId("status").First).ToHaveTextAsync("Completed", new() { Timeout = 180_000 });
        int percents = await Page.EvaluateAsync<int>("() => window.__percents.size");
        int previews = await Page.EvaluateAsync<int>("() => window.__previews.size");
        Assert.True(percents >= 3, $"The page showed {percents} progress value(s) while the job ran; live progress should show several.");
        Assert.True(previews >= 1, "No segmentation preview was shown while the job ran.");

        Phase("job completed");
        // Every metric of stats.json is on the page.
        using JsonDocument statsDoc = JsonDocument.Parse(await GetTextAsync($"/v1/jobs/{id}/artifacts/stats.json"));
        JsonElement stats = statsDoc.RootElement;
        JsonElement model = stats.GetProperty("model");
        await Assertions.Expect(Page.GetByTestId("summary-model")).ToHaveTextAsync($"{model.GetProperty("name").GetString()} version {model.GetProperty("version").GetString()}");
        await Assertions.Expect(Page.GetByTestId("summary-provider")).ToHaveTextAsync(stats.GetProperty("segmentation").GetProperty("execution_provider").GetString()!);
        await Assertions.Expect(Page.GetByTestId("summary-subject")).ToHaveTextAsync("SAMPLE-1");
        await Assertions.Expect(Page.GetByTestId("summary-tags")).ToHaveTextAsync(new Regex("demo\\s*phantom-run"));
        Phase("summary shown");
        // The tables are read in one round trip each (cell by cell costs seconds on a loaded CI machine).
        Dictionary<string, string[]> volumeRows = await TableAsync("volumes", "data-structure");
        foreach (JsonProperty volume in stats.GetProperty("volumes_mm3").EnumerateObject())
        {
            Assert.True(volumeRows.TryGetValue(volume.Name, out string[]? cells), $"No volume row for {volume.Name}.");
            Assert.Equal(volume.Value.GetDouble().ToString("#,0.0", Inv), cells[1]);
        }

        Dictionary<string, string[]> thicknessRows = await TableAsync("thickness", "data-region");
        foreach (JsonProperty region in stats.GetProperty("thickness_mm").EnumerateObject())
        {
            Assert.True(thicknessRows.TryGetValue(region.Name, out string[]? cells), $"No thickness row for {region.Name}.");
            string[] keys = ["mean", "sd", "median", "p5", "p95"];
            for (int i = 0; i < keys.Length; i++)
            {
                JsonElement v = region.Value.GetProperty(keys[i]);
                Assert.Equal(v.ValueKind == JsonValueKind.Number ? v.GetDouble().ToString("0.00", Inv) : "–", cells[i + 1]);
            }

            Assert.Equal(region.Value.GetProperty("n").GetInt64().ToString(Inv), cells[6]);
        }

        JsonElement[] flags = [.. stats.GetProperty("qc").GetProperty("flags").EnumerateArray()];
        await Assertions.Expect(Page.Locator("[data-testid=qc-flags] li")).ToHaveCountAsync(flags.Length);
        foreach (JsonElement flag in flags)
        {
            await Assertions.Expect(Page.Locator($"[data-testid=qc-flags] li[data-qc='{flag.GetProperty("code").GetString()}']").Filter(new() { HasText = flag.GetProperty("message").GetString() })).ToHaveCountAsync(1);
        }

        Dictionary<string, string[]> stepRows = await TableAsync("step-durations", "data-step-name");
        foreach (JsonElement step in stats.GetProperty("steps").EnumerateArray())
        {
            Assert.True(stepRows.TryGetValue(step.GetProperty("name").GetString()!, out string[]? cells), $"No duration row for step {step.GetProperty("name").GetString()}.");
            Assert.Contains(step.GetProperty("state").GetString()!, cells[1], StringComparison.Ordinal);
            Assert.Equal(step.GetProperty("duration_s").GetDouble().ToString("0.00", Inv), cells[2]);
        }

        await Assertions.Expect(Page.GetByTestId("input-dims")).ToHaveTextAsync(string.Join(" × ", stats.GetProperty("input").GetProperty("dims").EnumerateArray().Select(d => d.GetInt32().ToString(Inv))) + " voxels");
        foreach (JsonProperty stat in stats.GetProperty("image_stats").EnumerateObject())
        {
            await Assertions.Expect(Page.Locator($"[data-testid=image-stats] [data-stat='{stat.Name}']")).ToHaveTextAsync(stat.Value.GetDouble().ToString("0.####", Inv));
        }

        await Assertions.Expect(Page.GetByTestId("segmentation-tiles")).ToContainTextAsync($"{stats.GetProperty("segmentation").GetProperty("tiles").GetInt32()} in batches of");
        Dictionary<string, string[]> meshRows = await TableAsync("mesh-stats", "data-mesh");
        foreach (JsonProperty meshStat in stats.GetProperty("meshes").EnumerateObject())
        {
            Assert.True(meshRows.TryGetValue(meshStat.Name, out string[]? cells), $"No mesh row for {meshStat.Name}.");
            Assert.Equal(meshStat.Value.GetProperty("vertices").GetInt64().ToString("#,0", Inv), cells[1]);
        }

        Phase("stats.json tables checked");
        Assert.Equal(PhantomModel, model.GetProperty("name").GetString());

        // The shape model ran on this job's femur: its fit and BScore as stats.json gives them.
        JsonElement nsm = stats.GetProperty("nsm");
        double bscore = stats.GetProperty("bscore").GetDouble();
        Assert.True(double.IsFinite(bscore), $"stats.json bscore is {bscore}.");
        output.WriteLine($"BScore {bscore:0.000}, ASSD {nsm.GetProperty("assd_mm")} mm, {nsm.GetProperty("iterations")} iterations, fit {nsm.GetProperty("fit_time_s")} s");
        ILocator scale = Page.GetByTestId("bscore-scale");
        await Assertions.Expect(scale).ToHaveAttributeAsync("data-value", bscore.ToString("0.00", Inv));
        await Assertions.Expect(scale.Locator("svg")).ToHaveAccessibleNameAsync(new Regex($"^BScore: {Regex.Escape(bscore.ToString("0.00", Inv))};"));
        await Assertions.Expect(Page.GetByTestId("bscore-reference")).ToContainTextAsync($"healthy SD {stats.GetProperty("bscore_reference").GetProperty("healthy_sd").GetDouble().ToString("0.000", Inv)}");
        JsonElement nsmModel = nsm.GetProperty("model");
        await Assertions.Expect(Page.GetByTestId("nsm-model")).ToHaveTextAsync($"{nsmModel.GetProperty("name").GetString()} version {nsmModel.GetProperty("version").GetString()}");
        Assert.Equal("femur-nsm-demo", nsmModel.GetProperty("name").GetString());
        await Assertions.Expect(Page.GetByTestId("nsm-mode")).ToHaveTextAsync("bone only");
        await Assertions.Expect(Page.GetByTestId("nsm-assd")).ToHaveTextAsync(nsm.GetProperty("assd_mm").GetDouble().ToString("0.000", Inv) + " mm");
        await Assertions.Expect(Page.GetByTestId("nsm-iterations")).ToHaveTextAsync(nsm.GetProperty("iterations").GetInt32().ToString(Inv));
        await Assertions.Expect(Page.GetByTestId("nsm-mesh").Locator("a")).ToHaveTextAsync(new Regex("femur_nsm\\.vtk$"));

        Phase("shape model metrics checked");
        // The segmentation is right: the bones' volumes on the page are within 10% of the phantom's.
        foreach ((string bone, double truth) in await truthVolumes)
        {
            string volumeText = await Page.Locator($"[data-testid=volumes] tr[data-structure='{bone}'] td").Nth(1).InnerTextAsync();
            double onPage = double.Parse(volumeText, System.Globalization.NumberStyles.Number, Inv);
            output.WriteLine($"{bone}: {onPage:0} mm3 on the page, {truth:0} mm3 in the phantom ({(onPage / truth) - 1:+0.0%;-0.0%})");
            Assert.True(Math.Abs(onPage - truth) <= 0.1 * truth, $"The {bone} volume on the page, {onPage:0} mm3, is not within 10% of the phantom's {truth:0} mm3.");
        }

        Phase("metrics checked");
        // Downloads: results.zip through its link, and a mesh, are the bytes the job recorded.
        using JsonDocument artifacts = JsonDocument.Parse(await GetTextAsync($"/v1/jobs/{id}/artifacts"));
        string Sha(string name) => artifacts.RootElement.EnumerateArray().First(a => a.GetProperty("name").GetString() == name).GetProperty("sha256").GetString()!;
        IDownload zip = await Page.RunAndWaitForDownloadAsync(() => Page.GetByTestId("download-all").ClickAsync());
        Assert.Equal("results.zip", zip.SuggestedFilename);
        Assert.Equal(Sha("results.zip"), Convert.ToHexStringLower(SHA256.HashData(await File.ReadAllBytesAsync(await zip.PathAsync()))));
        IAPIResponse mesh = await Page.APIRequest.GetAsync($"/v1/jobs/{id}/artifacts/meshes/femur.vtk");
        Assert.Equal(200, mesh.Status);
        Assert.Equal(Sha("meshes/femur.vtk"), Convert.ToHexStringLower(SHA256.HashData(await mesh.BodyAsync())));

        Phase("downloads checked");
        // The volume viewer draws the MRI and the overlay.
        ILocator canvas = Page.GetByTestId("viewer-canvas");
        await WaitForStateAsync("volume-viewer");
        await canvas.ScrollIntoViewIfNeededAsync();
        Pixels shown = await WaitForPixelsAsync(canvas, p => p.Colored > 200);
        Assert.True(shown.NonBlack > shown.Total / 20 && shown.Colored > 200, $"The viewer canvas is (nearly) blank or has no overlay: {shown}.");

        Phase("volume viewer drawn");
        // Opacity changes the rendered image: 0 takes the overlay away, 1 paints it solid (bone colours are pale, so compare pixels, not colourfulness).
        ILocator opacity = Page.GetByTestId("opacity");
        byte[] half = await canvas.ScreenshotAsync();
        // From the keyboard, as a person would: Home and End move a range input to its ends.
        await opacity.FocusAsync();
        await Page.Keyboard.PressAsync("Home");
        await Assertions.Expect(Page.Locator("[data-testid=volume-viewer] output")).ToHaveTextAsync("0%", new() { Timeout = 120_000 });
        double toClear = await WaitForDifferenceAsync(canvas, half, 0.01);
        Assert.True(toClear >= 0.01, $"Opacity 0.5 to 0 changed only {toClear:P2} of the viewer canvas.");
        byte[] clear = await canvas.ScreenshotAsync();
        await Page.Keyboard.PressAsync("End");
        await Assertions.Expect(Page.Locator("[data-testid=volume-viewer] output")).ToHaveTextAsync("100%", new() { Timeout = 120_000 });
        double toSolid = await WaitForDifferenceAsync(canvas, clear, 0.01);
        Assert.True(toSolid >= 0.01, $"Opacity 0 to 1 changed only {toSolid:P2} of the viewer canvas.");

        Phase("opacity checked");
        // Label toggles: hiding the femur takes its colour away, showing it brings it back. (One label: every
        // toggle re-uploads the overlay, which software WebGL on a 2-core CI machine takes seconds to draw.)
        byte[] allLabels = await canvas.ScreenshotAsync();
        await Page.GetByTestId("label-toggle-1").UncheckAsync();
        double hiddenChange = await WaitForDifferenceAsync(canvas, allLabels, 0.005);
        Assert.True(hiddenChange >= 0.005, $"Hiding the femur label changed only {hiddenChange:P2} of the viewer canvas.");
        byte[] noFemur = await canvas.ScreenshotAsync();
        await Page.GetByTestId("label-toggle-1").CheckAsync();
        double femurChange = await WaitForDifferenceAsync(canvas, noFemur, 0.005);
        Assert.True(femurChange >= 0.005, $"Showing the femur again changed only {femurChange:P2} of the viewer canvas.");
        Pixels beforeWindow = await PixelsAsync(canvas);
        byte[] beforeWindowPng = await canvas.ScreenshotAsync();

        Phase("labels checked");
        // Window/level: a narrow window brightens the MRI.
        ILocator windowMax = Page.GetByTestId("window-max");
        await windowMax.FillAsync("100");
        await windowMax.PressAsync("Tab");
        double windowChange = await WaitForDifferenceAsync(canvas, beforeWindowPng, 0.01);
        Pixels bright = await PixelsAsync(canvas);
        Assert.True(windowChange >= 0.01 && bright.NonBlack > beforeWindow.NonBlack, $"Narrowing the window did not brighten the image ({windowChange:P2} changed): {beforeWindow} then {bright}.");

        Phase("window checked");
        // The crosshair names the label under it.
        LocatorBoundingBoxResult box = (await canvas.BoundingBoxAsync())!;
        // Multiplanar tiles sit in a row at 1280 px: the first is the axial slice.
        await canvas.ClickAsync(new() { Position = new Position { X = box.Width * 0.12f, Y = box.Height * 0.5f } });
        ILocator under = Page.GetByTestId("crosshair-label");
        await Assertions.Expect(under).ToBeVisibleAsync();
        string labelValue = (await under.GetAttributeAsync("data-label"))!;
        string expected = labelValue == "0" ? "background" : KneeWeb.Components.Shared.LabelLegend.All.First(l => l.Value.ToString(Inv) == labelValue).DisplayName;
        await Assertions.Expect(under).ToHaveTextAsync(expected);

        Phase("volume viewer controls checked");
        // The mesh viewer draws the meshes with the shape model's reconstruction (the job's femur_nsm.vtk) overlaid.
        await WaitForStateAsync("mesh-viewer");
        ILocator meshCanvas = Page.GetByTestId("mesh-canvas");
        await meshCanvas.ScrollIntoViewIfNeededAsync();
        Pixels drawn = await WaitForPixelsAsync(meshCanvas, p => p.NonWhite > p.Total / 50);
        Assert.True(drawn.NonWhite > drawn.Total / 50, $"The mesh canvas is (nearly) blank: {drawn}.");
        await Assertions.Expect(Page.GetByTestId("thickness-legend")).ToBeVisibleAsync();
        await Assertions.Expect(Page.GetByTestId("nsm-overlay-note")).ToHaveCountAsync(0);
        Assert.Contains(artifacts.RootElement.EnumerateArray(), a => a.GetProperty("name").GetString()!.EndsWith(nsm.GetProperty("mesh").GetString()!, StringComparison.Ordinal));
        ILocator nsmToggle = Page.GetByTestId("nsm-toggle");
        await Assertions.Expect(nsmToggle).ToBeCheckedAsync();
        await Assertions.Expect(nsmToggle).ToHaveAccessibleNameAsync(new Regex("Shape model reconstruction"));
        byte[] withNsm = await meshCanvas.ScreenshotAsync();
        await nsmToggle.UncheckAsync();
        double nsmChange = await WaitForDifferenceAsync(meshCanvas, withNsm, 0.002);
        Assert.True(nsmChange >= 0.002, $"Hiding the shape model's mesh changed {nsmChange:P2} of the mesh canvas.");

        Phase("shape model overlay checked");
        // With the reconstruction and the cartilage hidden (they cover the coloured bone surface), hiding the thickness colours changes the picture.
        ILocator cartilageToggles = Page.Locator("[data-testid=mesh-viewer] .kw-mesh-list li").Filter(new() { HasTextRegex = new Regex("cartilage", RegexOptions.IgnoreCase) }).Locator("input[type=checkbox]");
        int cartilageMeshes = await cartilageToggles.CountAsync();
        Assert.True(cartilageMeshes >= 1, "The mesh viewer lists no cartilage mesh.");
        for (int i = 0; i < cartilageMeshes; i++)
        {
            await cartilageToggles.Nth(i).UncheckAsync();
        }

        await Task.Delay(500);
        byte[] coloured = await meshCanvas.ScreenshotAsync();
        await Page.GetByTestId("thickness-toggle").UncheckAsync();
        double thicknessChange = await WaitForDifferenceAsync(meshCanvas, coloured, 0.002);
        Assert.True(thicknessChange >= 0.002, $"Hiding the thickness colours changed {thicknessChange:P2} of the mesh canvas.");
        await Page.GetByTestId("thickness-toggle").CheckAsync();
        for (int i = 0; i < cartilageMeshes; i++)
        {
            await cartilageToggles.Nth(i).CheckAsync();
        }

        // And the reconstruction comes back.
        byte[] withoutNsm = await meshCanvas.ScreenshotAsync();
        await nsmToggle.CheckAsync();
        double nsmBack = await WaitForDifferenceAsync(meshCanvas, withoutNsm, 0.002);
        Assert.True(nsmBack >= 0.002, $"Showing the shape model's mesh again changed {nsmBack:P2} of the mesh canvas.");

        Phase("mesh viewer checked");
        // Keyboard: the main controls are reached with Tab, in page order, and each has an accessible name.
        string[] controls =
        [
            "view-multiplanar", "view-axial", "view-render", "view-reset", "label-toggle-1", "label-toggle-9", "opacity", "window-min", "window-max",
            "viewer-canvas", "mesh-reset", "mesh-toggle-0", "mesh-canvas", "thickness-toggle", "nsm-toggle", "download-all",
        ];
        HashSet<string> reached = await TabThroughAsync(controls.Length * 8);
        string[] unreached = [.. controls.Where(c => !reached.Contains(c))];
        Assert.True(unreached.Length == 0, $"Not reachable with Tab: {string.Join(", ", unreached)} (reached: {string.Join(", ", reached)}).");
        foreach (string control in controls)
        {
            await Assertions.Expect(Page.GetByTestId(control)).ToHaveAccessibleNameAsync(new Regex("\\w{2,}"));
        }

        Phase("keyboard checked");
        // Readable at 1280 px (the shape model's section included): no horizontal scroll on the result page, nor on the cohort with this job's many columns.
        await AssertNoHorizontalScrollAsync("the result page");

        await KeepScreenshotAsync("result-page");
        Phase("layout checked");
        await Page.GotoAsync("/jobs");
        await WaitForInteractiveAsync();
        await Assertions.Expect(Page.Locator($"tr:has(a[data-job='{id}']) [data-testid=job-row-tags] .kw-tag")).ToHaveTextAsync(["demo", "phantom-run"]);
        await Page.GotoAsync("/cohort?tag=phantom-run");
        await WaitForInteractiveAsync();
        await Assertions.Expect(Page.GetByTestId("cohort-tag")).ToHaveValueAsync("phantom-run");
        await Assertions.Expect(Page.Locator("[data-testid=cohort-table] tbody tr")).ToHaveCountAsync(1);
        await Assertions.Expect(Page.Locator($"[data-testid=cohort-table] tr[data-job='{id}'] [data-col=bscore]")).ToHaveTextAsync(bscore.ToString("0.00", Inv));
        await AssertNoHorizontalScrollAsync("the cohort page");

        await KeepScreenshotAsync("cohort");
        Phase("cohort checked");
        // The segmentation file deleted from the job folder: the viewer says so and shows the MRI alone.
        File.Delete(Path.Combine(Data.Path, "jobs", id.ToString("D"), "segmentation.nii.gz"));
        await Page.GotoAsync($"/jobs/{id}");
        await WaitForInteractiveAsync();
        await Assertions.Expect(Page.GetByTestId("segmentation-missing")).ToContainTextAsync("segmentation.nii.gz) is missing from the job folder");
        await Assertions.Expect(Page.Locator("[data-missing='segmentation.nii.gz']")).ToBeVisibleAsync();
        await Assertions.Expect(Page.GetByTestId("label-toggles")).ToHaveCountAsync(0);
        await WaitForStateAsync("volume-viewer");
        Pixels alone = await WaitForPixelsAsync(canvas, p => p.NonBlack > p.Total / 20);
        Assert.True(alone.NonBlack > alone.Total / 20, $"Without its segmentation the viewer canvas is blank: {alone}.");

        await KeepScreenshotAsync("segmentation-missing");
        Phase("missing segmentation checked");
        Assert.True(ConsoleErrors.Count == 0, "Browser errors:\n" + string.Join("\n", ConsoleErrors));
    }

    [Fact]
    public async Task The_cohort_filter_narrows_the_table_and_the_csv_export_holds_the_filtered_rows()
    {
        using HttpClient api = Server.CreateClient();
        string input = TestVolumes.WriteRamp(Inputs.Path);
        Guid a = await ApiClient.SubmitAsync(api, input, new { subject_id = "GAMMA-1", notes = "baseline", tags = "baseline" });
        Guid b = await ApiClient.SubmitAsync(api, input, new { subject_id = "DELTA-2", notes = "follow-up", tags = "follow-up, visit-2" });
        Guid c = await ApiClient.SubmitAsync(api, input, new { subject_id = "DELTA-2", notes = "baseline", tags = "baseline" });
        foreach (Guid id in new[] { a, b, c })
        {
            Assert.Equal("Completed", (await ApiClient.WaitForEndAsync(api, id, TimeSpan.FromMinutes(2))).GetProperty("status").GetString());
        }

        await Page.GotoAsync("/cohort");
        await WaitForInteractiveAsync();
        await Assertions.Expect(Page.Locator("[data-testid=cohort-table] tbody tr")).ToHaveCountAsync(3);

        ILocator subject = Page.GetByTestId("cohort-subject");
        await subject.FillAsync("delta");
        await subject.PressAsync("Tab");
        await Assertions.Expect(Page.Locator("[data-testid=cohort-table] tbody tr")).ToHaveCountAsync(2);
        ILocator tag = Page.GetByTestId("cohort-tag");
        // Tags match exactly: part of a tag finds nothing, the whole tag finds its job.
        await tag.FillAsync("follow");
        await tag.PressAsync("Tab");
        await Assertions.Expect(Page.GetByTestId("cohort-empty")).ToBeVisibleAsync();
        await tag.FillAsync("Follow-Up");
        await tag.PressAsync("Tab");
        await Assertions.Expect(Page.Locator("[data-testid=cohort-table] tbody tr")).ToHaveCountAsync(1);
        await Assertions.Expect(Page.Locator($"tr[data-job='{b}']")).ToBeVisibleAsync();

        IDownload download = await Page.RunAndWaitForDownloadAsync(() => Page.GetByTestId("export-csv").ClickAsync());
        string path = Inputs.File("cohort.csv");
        await download.SaveAsAsync(path);
        string[] lines = (await File.ReadAllTextAsync(path)).TrimStart('\uFEFF').Split("\r\n", StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(2, lines.Length);
        Assert.StartsWith("job_id,subject_id,", lines[0], StringComparison.Ordinal);
        Assert.StartsWith($"{b:D},DELTA-2,", lines[1], StringComparison.Ordinal);
        // A 24 x 20 x 12 ramp is no knee: its structures are missing (QC errors), so its verdict is fail, in the table and in the CSV.
        await Assertions.Expect(Page.Locator($"tr[data-job='{b}'] [data-col=qc_verdict] [data-verdict]")).ToHaveAttributeAsync("data-verdict", "fail");
        await Assertions.Expect(Page.Locator($"tr[data-job='{b}'] [data-col=qc_verdict]")).ToHaveTextAsync("fail");
        string[] header = lines[0].Split(',');
        Assert.Equal("fail", lines[1].Split(',')[Array.IndexOf(header, "qc_verdict")]);
        Assert.Contains("STRUCTURE_MISSING", lines[1].Split(',')[Array.IndexOf(header, "qc_flags")], StringComparison.Ordinal);

        // Sorting by a header is reachable from the keyboard.
        await tag.FillAsync("");
        await tag.PressAsync("Tab");
        await Assertions.Expect(Page.Locator("[data-testid=cohort-table] tbody tr")).ToHaveCountAsync(2);
        await Assertions.Expect(Page.Locator("[data-testid=cohort-table] tbody tr").First).ToHaveAttributeAsync("data-job", c.ToString());
        await Page.Locator("button[data-sort=created]").FocusAsync();
        await Page.Keyboard.PressAsync("Enter");
        await Assertions.Expect(Page.Locator("[data-testid=cohort-table] tbody tr").First).ToHaveAttributeAsync("data-job", b.ToString());

        // Two visits of DELTA-2 side by side.
        await CompareAsync("compare-a", c);
        await CompareAsync("compare-b", b);
        await Assertions.Expect(Page.GetByTestId("compare")).ToContainTextAsync("DELTA-2");
        await Assertions.Expect(Page.Locator("[data-testid=compare-table] tr[data-metric]").First).ToBeVisibleAsync();
        Assert.True(ConsoleErrors.Count == 0, "Browser errors:\n" + string.Join("\n", ConsoleErrors));
    }

    private static readonly System.Globalization.CultureInfo Inv = System.Globalization.CultureInfo.InvariantCulture;

    /// <summary>GET through the page's own context (its cookies), as the page's links are fetched.</summary>
    private async Task<string> GetTextAsync(string url)
    {
        IAPIResponse response = await Page.APIRequest.GetAsync(url);
        Assert.True(response.Ok, $"GET {url} answered {response.Status}.");
        return await response.TextAsync();
    }

    /// <summary>With KNEEWEB_SCREENSHOTS=folder set, keeps a full-page screenshot (to look at the pages a test walked through).</summary>
    private async Task KeepScreenshotAsync(string name)
    {
        if (Environment.GetEnvironmentVariable("KNEEWEB_SCREENSHOTS") is { Length: > 0 } folder)
        {
            Directory.CreateDirectory(folder);
            await Page.ScreenshotAsync(new() { Path = Path.Combine(folder, name + ".png"), FullPage = true });
            // The layout scrolls inside main, so the page screenshot shows one screenful: keep the result sections too.
            foreach (string section in new[] { "result-summary", "bscore", "nsm", "qc-flags", "cohort-table" })
            {
                if (await Page.GetByTestId(section).CountAsync() == 1)
                {
                    await Page.GetByTestId(section).ScreenshotAsync(new() { Path = Path.Combine(folder, $"{name}-{section}.png") });
                }
            }
        }
    }

    private async Task WaitForStateAsync(string viewer)
    {
        try
        {
            await Assertions.Expect(Page.Locator($"[data-testid={viewer}][data-state=ready]")).ToBeVisibleAsync(new() { Timeout = 120_000 });
        }
        catch (PlaywrightException e)
        {
            string text = await Page.GetByTestId(viewer).InnerTextAsync();
            throw new Xunit.Sdk.XunitException($"The {viewer} did not become ready: {e.Message}\n{viewer}: {text}\nBrowser errors:\n{string.Join("\n", ConsoleErrors)}\nConsole:\n{string.Join("\n", ConsoleLog)}");
        }
    }

    /// <summary>Presses Tab from the top of the page, collecting the data-testid of each focused element.</summary>
    private async Task<HashSet<string>> TabThroughAsync(int presses)
    {
        await Page.EvaluateAsync("() => { window.scrollTo(0, 0); document.activeElement?.blur(); }");
        await Page.Locator("h1").First.FocusAsync();
        var reached = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < presses; i++)
        {
            await Page.Keyboard.PressAsync("Tab");
            string? testId = await Page.EvaluateAsync<string?>("() => document.activeElement?.getAttribute('data-testid') ?? document.activeElement?.closest('[data-testid]')?.getAttribute('data-testid') ?? null");
            if (testId is not null)
            {
                reached.Add(testId);
            }
        }

        return reached;
    }

    private async Task AssertNoHorizontalScrollAsync(string where)
    {
        int scrollWidth = await Page.EvaluateAsync<int>("() => document.documentElement.scrollWidth");
        int viewport = await Page.EvaluateAsync<int>("() => window.innerWidth");
        Assert.True(viewport == 1280, $"The browser window is {viewport} px wide, not 1280.");
        Assert.True(scrollWidth <= 1280, $"{where} scrolls sideways at 1280 px: document.scrollWidth is {scrollWidth}.");
    }

    /// <summary>The cells' texts (whitespace collapsed, as ToHaveText compares) of a result table's rows, keyed by a row attribute; waits for the table's first row.</summary>
    private async Task<Dictionary<string, string[]>> TableAsync(string testId, string keyAttribute)
    {
        string rows = $"[data-testid={testId}] tr[{keyAttribute}]";
        await Assertions.Expect(Page.Locator(rows).First).ToBeAttachedAsync();
        return await Page.EvaluateAsync<Dictionary<string, string[]>>(@"([rows, key]) => {
            const table = {};
            for (const tr of document.querySelectorAll(rows)) {
                table[tr.getAttribute(key)] = [...tr.querySelectorAll('td')].map(td => td.textContent.replace(/\s+/g, ' ').trim());
            }
            return table;
        }", new[] { rows, keyAttribute });
    }

    /// <summary>Volumes (mm3) of femur, tibia and patella in the sample's phantom: "Try a sample" analyses seed 1 at half size here.</summary>
    private static Dictionary<string, double> PhantomBoneVolumes()
    {
        KneeWeb.Imaging.Phantom.PhantomResult phantom = KneeWeb.Imaging.Phantom.KneePhantom.Generate(KneeWeb.Imaging.Phantom.PhantomOptions.Small(1) with { IncludeImage = false });
        Vec3d spacingMm = phantom.Labels.Geometry.SpacingMm;
        double voxelMm3 = spacingMm.X * spacingMm.Y * spacingMm.Z;
        byte[] labels = (byte[])phantom.Labels.Voxels;
        long[] counts = new long[256];
        foreach (byte label in labels)
        {
            counts[label]++;
        }

        var volumes = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (byte bone in new[] { KneeWeb.Imaging.Segmentation.KneeLabels.Femur, KneeWeb.Imaging.Segmentation.KneeLabels.Tibia, KneeWeb.Imaging.Segmentation.KneeLabels.Patella })
        {
            volumes[KneeWeb.Imaging.Segmentation.KneeLabels.Name(bone)] = counts[bone] * voxelMm3;
        }

        return volumes;
    }

    /// <summary>Picks an option of a MudSelect on the Upload page, found by its accessible name.</summary>
    private async Task ChooseAsync(string dropdown, string option)
    {
        await Page.GetByLabel(dropdown, new() { Exact = true }).First.ClickAsync();
        await Page.Locator(".mud-popover-open .mud-list-item", new() { HasTextString = option }).ClickAsync();
        // The list closes before the server stores the value (MudSelect awaits the browser in between), so a
        // click that follows at once can be handled first on a busy machine: wait until the select shows it.
        await Assertions.Expect(Page.GetByRole(AriaRole.Combobox, new() { Name = dropdown, Exact = true })).ToContainTextAsync(option);
    }

    /// <summary>Picks the job with the given id in one of the Cohort page's compare selects.</summary>
    private async Task CompareAsync(string select, Guid job)
    {
        await Page.GetByTestId(select).ClickAsync();
        await Page.Locator($".mud-popover-open .mud-list-item[data-job='{job}']").ClickAsync();
        await Assertions.Expect(Page.Locator(".mud-popover-open .mud-list-item")).ToHaveCountAsync(0);
    }

    /// <summary>Waits until at least <paramref name="atLeast"/> of the canvas's pixels differ from <paramref name="before"/>; returns the last fraction.</summary>
    private async Task<double> WaitForDifferenceAsync(ILocator canvas, byte[] before, double atLeast)
    {
        double last = 0;
        for (int attempt = 0; attempt < 40 && last < atLeast; attempt++)
        {
            await Task.Delay(250);
            byte[] now = await canvas.ScreenshotAsync();
            last = await Page.EvaluateAsync<double>(@"async ([a, b]) => {
                const load = async (b64) => { const img = new Image(); img.src = 'data:image/png;base64,' + b64; await img.decode(); return img; };
                const [ia, ib] = [await load(a), await load(b)];
                if (ia.width !== ib.width || ia.height !== ib.height) return 1;
                const data = (img) => { const c = document.createElement('canvas'); c.width = img.width; c.height = img.height; const x = c.getContext('2d'); x.drawImage(img, 0, 0); return x.getImageData(0, 0, c.width, c.height).data; };
                const [da, db] = [data(ia), data(ib)];
                let differing = 0;
                for (let i = 0; i < da.length; i += 4) {
                    if (Math.abs(da[i] - db[i]) + Math.abs(da[i + 1] - db[i + 1]) + Math.abs(da[i + 2] - db[i + 2]) > 30) differing++;
                }
                return differing / (da.length / 4);
            }", new[] { Convert.ToBase64String(before), Convert.ToBase64String(now) });
        }

        return last;
    }

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
        JsonElement r = await Page.EvaluateAsync<JsonElement>(@"async (b64) => {
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
