using System.Text.Json;
using System.Text.Json.Nodes;
using Bunit;
using KneeWeb.Components.Pages.Upload;
using KneeWeb.Tests.Inference.NnUnet;
using KneeWeb.Tests.TestData;
using KneeWeb.Tests.Web;
using Microsoft.AspNetCore.Components.Forms;
using Xunit;

namespace KneeWeb.Tests.Components;

/// <summary>
/// The Upload page's test-time mirroring choice against a host with two imported nnU-Net models:
/// one whose checkpoint allows mirroring axes, one that allows none. The choice shows only for
/// the first and travels in the options the page uploads.
/// </summary>
[Trait("Category", "component")]
public sealed class UploadMirroringTests : ComponentTestContext
{
    private readonly TempFolder models = new("kneeweb-upload-mirroring-models");
    private KneeWebFactory? host;

    public override async Task InitializeAsync()
    {
        NnUnetFixtures.Import(NnUnetFixtures.Plain, models.Path, "mirrored-knee");
        NnUnetFixtures.Import(NnUnetFixtures.Plain, models.Path, "unmirrored-knee");
        // As a checkpoint trained without mirroring augmentation says: no axes to mirror along.
        string sidecar = models.File("unmirrored-knee.json");
        JsonNode json = JsonNode.Parse(await File.ReadAllTextAsync(sidecar))!;
        json["nn_unet"]!["mirror_axes"] = new JsonArray();
        await File.WriteAllTextAsync(sidecar, json.ToJsonString());
        host = new KneeWebFactory(new Dictionary<string, string?> { ["KneeWeb:ModelsPath"] = models.Path });
        await UseHostAsync(host);
    }

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        if (host is not null)
        {
            await host.DisposeAsync();
        }

        models.Dispose();
    }

    [Fact]
    public void Mirroring_shows_for_a_model_that_allows_it_and_reaches_the_uploaded_options()
    {
        BunitJSModuleInterop module = Context.JSInterop.SetupModule("./js/upload.js");
        IRenderedComponent<UploadPage> page = Render<UploadPage>();
        page.WaitForAssertion(() => Assert.Equal("true", page.Find("[data-testid=drop-zone]").GetAttribute("data-ready")));

        Pick(page, "model", "mirrored-knee");
        page.WaitForAssertion(() => Assert.Equal("As the model says", page.Find("[data-testid=mirroring]").TextContent));
        Pick(page, "mirroring", "Off (faster)");
        page.WaitForAssertion(() => Assert.Equal("Off (faster)", page.Find("[data-testid=mirroring]").TextContent));

        page.FindComponent<InputFile>().UploadFiles(InputFileContent.CreateFromText("not an image", "knee.nii.gz"));
        page.WaitForAssertion(() => Assert.False(page.Find("[data-testid=start]").HasAttribute("disabled")));
        page.Find("[data-testid=start]").Click();
        page.WaitForAssertion(() => Assert.Single(module.Invocations["upload"]));
        (string model, string mirroring) = Sent(module.Invocations["upload"][0]);
        Assert.Equal(("mirrored-knee", "off"), (model, mirroring));

        // A model without mirroring axes: no choice to make, and the hidden choice goes back to the model's.
        Pick(page, "model", "unmirrored-knee");
        page.WaitForAssertion(() => Assert.Empty(page.FindAll("[data-testid=mirroring]")));
        page.WaitForAssertion(() => Assert.False(page.Find("[data-testid=start]").HasAttribute("disabled")));
        page.Find("[data-testid=start]").Click();
        page.WaitForAssertion(() => Assert.Equal(2, module.Invocations["upload"].Count));
        Assert.Equal(("unmirrored-knee", "model"), Sent(module.Invocations["upload"][1]));
    }

    /// <summary>The model and mirroring of the options JSON the page handed to upload.js.</summary>
    private static (string Model, string Mirroring) Sent(JSRuntimeInvocation invocation)
    {
        string options = invocation.Arguments.OfType<string>().Single(a => a.Contains("\"mirroring\"", StringComparison.Ordinal));
        using JsonDocument doc = JsonDocument.Parse(options);
        return (doc.RootElement.GetProperty("model").GetString()!, doc.RootElement.GetProperty("mirroring").GetString()!);
    }
}
