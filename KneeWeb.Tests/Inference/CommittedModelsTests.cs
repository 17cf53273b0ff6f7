using KneeWeb.Inference;
using KneeWeb.Inference.ModelBuilding;
using Xunit;

namespace KneeWeb.Tests.Inference;

[Trait("Category", "unit")]
public sealed class CommittedModelsTests(InferenceFixture fixture) : IClassFixture<InferenceFixture>
{
    [Fact]
    public void The_committed_demo_model_is_enabled_and_rebuilds_byte_for_byte()
    {
        string? folder = ModelRegistry.FindDefaultFolder();
        Assert.True(folder is not null, "models/ with demo-knee.json not found above the test folder");
        ModelEntry? entry = new ModelRegistry(folder, fixture.Runtime).Find(DemoModel.Name);
        Assert.NotNull(entry);
        Assert.True(entry.Enabled, entry.DisabledReason);

        string rebuilt = Path.Combine(fixture.Folder, "rebuilt");
        Directory.CreateDirectory(rebuilt);
        DemoModel.Write(rebuilt);
        Assert.Equal(File.ReadAllBytes(entry.ModelPath), File.ReadAllBytes(Path.Combine(rebuilt, DemoModel.Name + ".onnx")));
        Assert.Equal(File.ReadAllText(entry.SidecarPath), File.ReadAllText(Path.Combine(rebuilt, DemoModel.Name + ".json")));
    }
}
