using KneeWeb.Inference;
using Xunit;
using KneeWeb.Inference.ModelBuilding;

namespace KneeWeb.Tests.Inference;

/// <summary>The runtime from the NuGet package and a temp folder of generated models for one test class.</summary>
public sealed class InferenceFixture : IDisposable
{
    public InferenceFixture()
    {
        // The NuGet package (Microsoft.ML.OnnxRuntime) puts the native library beside the tests.
        Runtime = OrtRuntime.Load();
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
