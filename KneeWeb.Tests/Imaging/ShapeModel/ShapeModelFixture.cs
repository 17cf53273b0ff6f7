using KneeWeb.Imaging.ShapeModel;
using KneeWeb.Inference;
using KneeWeb.Inference.ModelBuilding;
using Xunit;

namespace KneeWeb.Tests.Imaging.ShapeModel;

/// <summary>The committed demo shape model (models/nsm/) on ONNX Runtime from node_modules, shared by a test class.</summary>
public sealed class ShapeModelFixture : IDisposable
{
    private readonly IDisposable owner;

    public ShapeModelFixture()
    {
        string? library = OrtRuntime.FindDefaultLibrary();
        Assert.True(
            library is not null,
            "ONNX Runtime's native library was not found: run `npm install --ignore-scripts --no-audit --no-fund` in the repository root (npm package onnxruntime-node@1.30.0), or set KNEEWEB_ONNXRUNTIME.");
        Runtime = OrtRuntime.Load(library);
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
