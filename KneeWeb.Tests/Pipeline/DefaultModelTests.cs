using System.Text.Json.Nodes;
using KneeWeb.Inference.ModelBuilding;
using KneeWeb.Pipeline;
using KneeWeb.Tests.TestData;
using Xunit;

namespace KneeWeb.Tests.Pipeline;

/// <summary>The configured default model is used when a job names none, and offered first; absent or disabled, the first enabled one is.</summary>
[Trait("Category", "unit")]
public sealed class DefaultModelTests : IDisposable
{
    private readonly TempFolder folder = new("kneeweb-default-model");

    public DefaultModelTests()
    {
        DemoModel.Write(folder.Path);
        // A second valid model: the demo network under another name (same bytes, same sha256).
        File.Copy(Path.Combine(folder.Path, DemoModel.Name + ".onnx"), Path.Combine(folder.Path, "zeta-knee.onnx"));
        JsonObject sidecar = JsonNode.Parse(File.ReadAllText(Path.Combine(folder.Path, DemoModel.Name + ".json")))!.AsObject();
        sidecar["name"] = "zeta-knee";
        File.WriteAllText(Path.Combine(folder.Path, "zeta-knee.json"), sidecar.ToJsonString());
    }

    public void Dispose() => folder.Dispose();

    [Fact]
    public void The_configured_default_is_resolved_and_offered_first()
    {
        var engine = new SegmentationEngine(folder.Path, defaultModel: "zeta-knee");
        Assert.Equal(["zeta-knee", DemoModel.Name], engine.SelectableModels());
        Assert.Equal("zeta-knee", engine.Resolve(null)!.Name);
        Assert.Equal(DemoModel.Name, engine.Resolve(DemoModel.Name)!.Name);
    }

    [Fact]
    public void An_absent_default_falls_back_to_the_first_enabled_model()
    {
        var engine = new SegmentationEngine(folder.Path, defaultModel: "phantom-knee");
        Assert.Equal([DemoModel.Name, "zeta-knee"], engine.SelectableModels());
        Assert.Equal(DemoModel.Name, engine.Resolve(null)!.Name);
    }

    [Fact]
    public void A_disabled_default_falls_back_to_the_first_enabled_model()
    {
        File.WriteAllText(Path.Combine(folder.Path, "zeta-knee.json"), "{ not json");
        var engine = new SegmentationEngine(folder.Path, defaultModel: "zeta-knee");
        Assert.Equal([DemoModel.Name], engine.SelectableModels());
        Assert.Equal(DemoModel.Name, engine.Resolve(null)!.Name);
    }
}
