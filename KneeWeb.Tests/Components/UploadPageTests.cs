using Bunit;
using KneeWeb.Components.Pages.Upload;
using Microsoft.AspNetCore.Components.Forms;
using Xunit;

namespace KneeWeb.Tests.Components;

/// <summary>The Upload page with the real model registry and group list: file choice, options, buttons.</summary>
[Trait("Category", "component")]
[Collection(ComponentHostCollection.Name)]
public sealed class UploadPageTests(ComponentHostFixture fixture) : ComponentTestContext
{
    public override async Task InitializeAsync() => await UseHostAsync(fixture.Host);

    [Fact]
    public void Start_waits_for_a_file_and_choosing_one_names_it()
    {
        IRenderedComponent<UploadPage> page = Render<UploadPage>();
        page.WaitForAssertion(() => Assert.Equal("true", page.Find("[data-testid=drop-zone]").GetAttribute("data-ready")));
        Assert.True(page.Find("[data-testid=start]").HasAttribute("disabled"));
        Assert.Empty(page.FindAll("[data-testid=chosen-file]"));
        Assert.Equal("file", page.Find("input[data-testid=file-input]").GetAttribute("type"));

        page.FindComponent<InputFile>().UploadFiles(InputFileContent.CreateFromText(new string('x', 3 * 1024), "knee.nii.gz"));

        page.WaitForAssertion(() => Assert.Equal("knee.nii.gz (3.0 kB)", page.Find("[data-testid=chosen-file]").Text()));
        Assert.False(page.Find("[data-testid=start]").HasAttribute("disabled"));
        Assert.False(page.Find("[data-testid=try-sample]").HasAttribute("disabled"));
    }

    [Fact]
    public void Only_enabled_models_can_be_chosen()
    {
        // The host's only model is broken (not ONNX): the registry disables it, so the page offers none.
        IRenderedComponent<UploadPage> page = Render<UploadPage>();
        Assert.NotNull(page.Find("[data-testid=model]").Closest(".mud-disabled"));
        Assert.Equal("", page.Find("[data-testid=model]").TextContent);
    }

    [Fact]
    public void The_thickness_switch_toggles_and_typed_options_stay()
    {
        IRenderedComponent<UploadPage> page = Render<UploadPage>();
        Assert.NotNull(page.Find("input[data-testid=thickness]").Closest(".mud-checked"));

        page.Find("input[data-testid=thickness]").Change(false);
        page.Find("input[data-testid=subject]").Input("S-007");

        page.WaitForAssertion(() => Assert.Null(page.Find("input[data-testid=thickness]").Closest(".mud-checked")));
        Assert.Equal("S-007", page.Find("input[data-testid=subject]").GetAttribute("value"));
        Assert.Equal("Detect", page.Find("[data-testid=knee]").TextContent);
        Assert.Equal("Off", page.Find("[data-testid=nsm]").TextContent);
        // One group (the default): no group choice to make.
        Assert.Empty(page.FindAll("[data-testid=group-choice]"));
    }
}
