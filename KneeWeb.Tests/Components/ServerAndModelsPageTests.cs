using Bunit;
using KneeWeb.Components.Pages;
using Xunit;

namespace KneeWeb.Tests.Components;

/// <summary>The Models and Server pages against the host's real model registry, queue and disk.</summary>
[Trait("Category", "component")]
[Collection(ComponentHostCollection.Name)]
public sealed class ServerAndModelsPageTests(ComponentHostFixture fixture) : ComponentTestContext
{
    public override async Task InitializeAsync() => await UseHostAsync(fixture.Host);

    [Fact]
    public void Models_shows_a_broken_model_disabled_with_its_reason()
    {
        IRenderedComponent<ModelsPage> page = Render<ModelsPage>();
        AngleSharp.Dom.IElement row = page.Find("[data-testid=models-table] tr[data-model=broken-knee]");
        Assert.Equal("false", row.GetAttribute("data-enabled"));
        Assert.Equal("disabled", row.QuerySelector("[data-testid=model-state]")!.Text());
        Assert.False(string.IsNullOrWhiteSpace(row.QuerySelector("[data-testid=disabled-reason]")!.TextContent));
        Assert.Contains("<name>.onnx", page.Markup.Replace("&lt;", "<", StringComparison.Ordinal).Replace("&gt;", ">", StringComparison.Ordinal), StringComparison.Ordinal);
    }

    [Fact]
    public void Server_shows_version_queue_disk_and_models()
    {
        IRenderedComponent<ServerPage> page = Render<ServerPage>();
        page.WaitForAssertion(() => Assert.NotNull(page.Find("[data-testid=server-info]")));
        string info = page.Find("[data-testid=server-info]").Text();
        Assert.Contains("waiting", info, StringComparison.Ordinal);
        Assert.Contains("running (up to", info, StringComparison.Ordinal);
        Assert.Matches(@"Free disk\s*(\d+\.\d GB|unknown)", info);
        Assert.Contains("broken-knee", page.Find("[data-testid=server-models]").Text(), StringComparison.Ordinal);
        Assert.Contains("disabled:", page.Find("[data-testid=server-models]").Text(), StringComparison.Ordinal);
    }
}
