using KneeWeb.Imaging.ShapeModel;

namespace KneeWeb.Inference.ModelBuilding;

/// <summary>Finds and loads the installed neural shape model (models/nsm/&lt;name&gt;.json + .onnx) on ONNX Runtime.</summary>
public static class NsmModels
{
    /// <summary>The shape models' folder under a models folder.</summary>
    public static string Folder(string modelsFolder) => Path.Combine(modelsFolder, "nsm");

    /// <summary>
    /// Loads the shape model: <paramref name="sidecarPath"/> when given, else models/nsm/femur-nsm-demo.json,
    /// else the only sidecar in models/nsm/. The caller disposes the returned decoder.
    /// </summary>
    /// <exception cref="NsmFailedException">No model, or one that does not load or match its sidecar.</exception>
    public static (NsmModel Model, IDisposable Owner) Load(OrtRuntime? runtime, string modelsFolder, string? sidecarPath = null)
    {
        if (runtime is null)
        {
            throw new NsmFailedException("ONNX Runtime is not available, so the shape model cannot run.");
        }

        string path = sidecarPath ?? FindSidecar(Folder(modelsFolder));
        (NsmSidecar sidecar, OnnxSdfDecoder decoder) = OnnxSdfDecoder.Load(runtime, path);
        return (new NsmModel(sidecar, decoder), decoder);
    }

    private static string FindSidecar(string folder)
    {
        string preferred = Path.Combine(folder, NsmModelBuilder.Name + ".json");
        if (File.Exists(preferred))
        {
            return preferred;
        }

        string[] sidecars = Directory.Exists(folder) ? Directory.GetFiles(folder, "*.json") : [];
        return sidecars.Length == 1
            ? sidecars[0]
            : throw new NsmFailedException(sidecars.Length == 0
                ? $"No neural shape model is installed in {folder} (build one with `KneeWeb models build-nsm --out {folder}`)."
                : $"{folder} holds {sidecars.Length} shape model sidecars and none is {NsmModelBuilder.Name}.json; name the one to use.");
    }
}
