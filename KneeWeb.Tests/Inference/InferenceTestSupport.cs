using KneeWeb.Inference;
using Xunit;
using KneeWeb.Inference.ModelBuilding;

namespace KneeWeb.Tests.Inference;

/// <summary>The runtime from node_modules and a temp folder of generated models for one test class.</summary>
public sealed class InferenceFixture : IDisposable
{
    public InferenceFixture()
    {
        string? library = OrtRuntime.FindDefaultLibrary();
        Assert.True(
            library is not null,
            "ONNX Runtime's native library was not found: run `npm install --ignore-scripts --no-audit --no-fund` in the repository root (npm package onnxruntime-node@1.30.0), or set KNEEWEB_ONNXRUNTIME.");
        Runtime = OrtRuntime.Load(library);
        Folder = Directory.CreateTempSubdirectory("kneeweb-inference-").FullName;
    }

    public OrtRuntime Runtime { get; }

    public string Folder { get; }

    public string Save(OnnxGraphBuilder graph, string fileName)
    {
        ArgumentNullException.ThrowIfNull(graph);
        string path = Path.Combine(Folder, fileName);
        graph.Save(path);
        return path;
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(Folder, recursive: true);
        }
        catch (IOException)
        {
            // A temp folder left behind is harmless.
        }
    }
}
