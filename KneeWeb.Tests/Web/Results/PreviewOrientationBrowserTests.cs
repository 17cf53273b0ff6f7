using System.Text.Json;
using System.Text.RegularExpressions;
using KneeWeb.Imaging.Io;
using KneeWeb.Imaging.Phantom;
using KneeWeb.Tests.Web.Browser;
using Microsoft.Playwright;
using Xunit;

namespace KneeWeb.Tests.Web.Results;

/// <summary>
/// The job page's live preview and the volume viewer's sagittal view of the same phantom job agree on where the
/// anatomy is: the femur above the tibia and the patella in front of the femur (anterior to the right, as NiiVue
/// draws a sagittal slice). Pixels are told apart by their label colour's hue, which blending with grey keeps.
/// </summary>
[Trait("Category", "browser")]
[Collection(BrowserCollection.Name)]
public sealed class PreviewOrientationBrowserTests(BrowserFixture fixture) : ServerPageTest(fixture, "orientation-browser")
{
    private const string PhantomModel = "phantom-knee-small";

    // Slow enough between steps to see the preview while the job still runs.
    protected override IDictionary<string, string> ServerSettings => new Dictionary<string, string> { ["KneeWeb__Jobs__DiagnosticStepDelay"] = "00:00:00.500" };

    protected override void PrepareDataFolder() => InstallRepoModels(PhantomModel);

    [Fact]
    public async Task The_preview_and_the_viewers_sagittal_view_show_the_femur_above_and_the_patella_in_front()
    {
        // The phantom on the small model's grid (192 x 192 x 80): its k axis is sagittal, i runs posterior, j inferior.
        string input = Inputs.File("phantom.nii.gz");
        VolumeIo.Write(KneePhantom.Generate(PhantomOptions.Small(1)).Image, input);
        using HttpClient api = Server.CreateClient();
        Guid id = await ApiClient.SubmitAsync(api, input, new { model = PhantomModel, subject_id = "ORIENT-1" });

        await Page.GotoAsync($"/jobs/{id:D}");
        await Page.Locator("main[data-interactive='true']").WaitForAsync(new() { Timeout = 120_000 });
        // Every preview the page shows, until the job ends.
        await Page.EvaluateAsync(@"() => {
            window.__previews = [];
            const record = () => {
                const img = document.querySelector('[data-testid=preview] img');
                const plane = document.querySelector('[data-testid=preview-plane]');
                if (img && !window.__previews.some(p => p.src === img.src)) window.__previews.push({ src: img.getAttribute('src'), plane: plane?.textContent });
            };
            record();
            new MutationObserver(record).observe(document.body, { subtree: true, childList: true, attributes: true });
        }");
        await Assertions.Expect(Page.GetByTestId("status").First).ToHaveTextAsync("Completed", new() { Timeout = 300_000 });
        JsonElement previews = await Page.EvaluateAsync<JsonElement>("() => window.__previews");
        Assert.True(previews.GetArrayLength() > 0, "The job page showed no preview while the job ran.");
        JsonElement last = previews[previews.GetArrayLength() - 1];
        Assert.Equal("sagittal", last.GetProperty("plane").GetString());
        string previewPng = last.GetProperty("src").GetString()!["data:image/png;base64,".Length..];

        // The viewer: sagittal, overlay opaque.
        await Assertions.Expect(Page.Locator("[data-testid=viewer-status][data-state=ready]")).ToHaveCountAsync(1, new() { Timeout = 120_000 });
        await Page.GetByTestId("view-sagittal").ClickAsync();
        await Page.GetByTestId("opacity").FocusAsync();
        await Page.Keyboard.PressAsync("End");
        await Assertions.Expect(Page.GetByTestId("opacity-value")).ToHaveTextAsync("100%", new() { Timeout = 120_000 });
        ILocator canvas = Page.GetByTestId("viewer-canvas");
        await canvas.ScrollIntoViewIfNeededAsync();

        Landmarks inPreview = await LandmarksAsync(previewPng);
        Landmarks inViewer = default;
        // NiiVue redraws asynchronously after the clicks: read until the patella's colour is on the canvas.
        for (int attempt = 0; attempt < 120 && !(inViewer.Patella.N > 20 && inViewer.Femur.N > 20 && inViewer.Tibia.N > 20); attempt++)
        {
            await Task.Delay(500);
            inViewer = await LandmarksAsync(Convert.ToBase64String(await canvas.ScreenshotAsync()));
        }

        foreach ((string where, Landmarks l) in new[] { ("preview", inPreview), ("viewer", inViewer) })
        {
            Assert.True(l.Femur.N > 20 && l.Tibia.N > 20 && l.Patella.N > 20, $"{where}: too few labelled pixels to compare ({l}).");
            Assert.True(l.Femur.Y < l.Tibia.Y, $"{where}: the femur is not above the tibia ({l}).");
            Assert.True(l.Patella.X > l.Femur.X, $"{where}: the patella is not to the right (anterior) of the femur ({l}).");
        }

        Assert.True(ConsoleErrors.Count == 0, "Browser errors:\n" + string.Join("\n", ConsoleErrors));
    }

    private readonly record struct Spot(double X, double Y, int N);

    private readonly record struct Landmarks(Spot Femur, Spot Tibia, Spot Patella);

    /// <summary>
    /// Centroids (as fractions of width and height) of the femur, tibia and patella colours in a PNG. A label colour
    /// L blended with grey v as a*L + (1-a)*v keeps (r-g)/(g-b): femur (230,220,170) 0.2, tibia (200,170,110) 0.5,
    /// patella (170,200,120) -0.375; grey and the red/cyan cartilage and crosshair fall outside these bands.
    /// </summary>
    private async Task<Landmarks> LandmarksAsync(string pngBase64)
    {
        JsonElement r = await Page.EvaluateAsync<JsonElement>(@"async (b64) => {
            const img = new Image();
            img.src = 'data:image/png;base64,' + b64;
            await img.decode();
            const c = document.createElement('canvas');
            c.width = img.width; c.height = img.height;
            const ctx = c.getContext('2d');
            ctx.drawImage(img, 0, 0);
            const d = ctx.getImageData(0, 0, c.width, c.height).data;
            const acc = { femur: [0, 0, 0], tibia: [0, 0, 0], patella: [0, 0, 0] };
            for (let i = 0; i < d.length; i += 4) {
                const rg = d[i] - d[i + 1], gb = d[i + 1] - d[i + 2];
                if (gb < 12) continue;
                const q = rg / gb;
                const k = q > 0.08 && q < 0.32 ? 'femur' : q > 0.4 && q < 0.65 ? 'tibia' : q > -0.55 && q < -0.25 ? 'patella' : null;
                if (!k) continue;
                const p = i / 4;
                acc[k][0] += (p % c.width) / c.width; acc[k][1] += Math.floor(p / c.width) / c.height; acc[k][2]++;
            }
            const spot = a => ({ x: a[2] ? a[0] / a[2] : -1, y: a[2] ? a[1] / a[2] : -1, n: a[2] });
            return { femur: spot(acc.femur), tibia: spot(acc.tibia), patella: spot(acc.patella) };
        }", pngBase64);
        Spot Read(string name) => new(r.GetProperty(name).GetProperty("x").GetDouble(), r.GetProperty(name).GetProperty("y").GetDouble(), r.GetProperty(name).GetProperty("n").GetInt32());
        return new Landmarks(Read("femur"), Read("tibia"), Read("patella"));
    }
}
