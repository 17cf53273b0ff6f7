using KneeWeb.Imaging.ShapeModel;
using KneeWeb.Inference;
using KneeWeb.Inference.ModelBuilding;
using Xunit;

namespace KneeWeb.Tests.Imaging.ShapeModel;

/// <summary>The committed demo shape model (models/nsm/) on ONNX Runtime from the NuGet package, shared by a test class.</summary>
public sealed class ShapeModelFixture : IDisposable
{
    private readonly IDisposable owner;

    public ShapeModelFixture()
    {
        // The NuGet package (Microsoft.ML.OnnxRuntime) puts the native library beside the tests.
        Runtime = OrtRuntime.Load();
        string? models = ModelRegistry.FindDefaultFolder();
        Assert.True(models is not null, "models/ not found above the test folder");
        ModelsFolder = models!;
        SidecarPath = Path.Combine(NsmModels.Folder(ModelsFolder), NsmModelBuilder.Name + ".json");
        Assert.True(File.Exists(SidecarPath), $"{SidecarPath} is missing: rebuild it with `KneeWeb models build-nsm --out models/nsm`.");
        (Model, owner) = NsmModels.Load(Runtime, ModelsFolder);
    }

    public OrtRuntime Runtime { get; }

    public string ModelsFolder { get; }

    public string SidecarPath { get; }

    public NsmModel Model { get; }

    public void Dispose() => owner.Dispose();
}
