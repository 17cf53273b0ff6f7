using KneeWeb.Inference;

namespace KneeWeb.Pipeline;

/// <summary>
/// The server's inference set-up: ONNX Runtime (loaded once, or the reason it could not be), the
/// model registry and the predictor. Built once per process; a missing runtime is a stated
/// condition, not a crash: jobs that need it fail with CONFIG_ERROR and the reason.
/// </summary>
public sealed class SegmentationEngine
{
    private readonly Lazy<(OrtRuntime? Runtime, string? Error)> runtime;
    private readonly Lazy<ModelRegistry> registry;
    private readonly Lazy<SegmentationPredictor?> predictor;

    public SegmentationEngine(string modelsFolder, string? runtimeLibraryPath = null)
    {
        ModelsFolder = Path.GetFullPath(modelsFolder);
        runtime = new Lazy<(OrtRuntime?, string?)>(() =>
        {
            try
            {
                return (OrtRuntime.Load(runtimeLibraryPath), null);
            }
            catch (ModelConfigurationException ex)
            {
                return (null, ex.Message);
            }
        });
        registry = new Lazy<ModelRegistry>(() => new ModelRegistry(ModelsFolder, Runtime));
        predictor = new Lazy<SegmentationPredictor?>(() => Runtime is null ? null : new SegmentationPredictor(Runtime));
    }

    public string ModelsFolder { get; }

    public OrtRuntime? Runtime => runtime.Value.Runtime;

    /// <summary>Why ONNX Runtime is not available, or null when it is.</summary>
    public string? RuntimeError => runtime.Value.Error;

    public IReadOnlyList<ModelEntry> Models => registry.Value.Models;

    /// <summary>
    /// Providers a job can actually run on here: the CPU, and CUDA only where its provider library
    /// is installed (the runtime lists every provider it was built with, usable or not).
    /// </summary>
    public IReadOnlyList<string> ExecutionProviders => Runtime is null
        ? []
        : Runtime.IsCudaProviderPresent ? ["CUDAExecutionProvider", "CPUExecutionProvider"] : ["CPUExecutionProvider"];

    /// <summary>Model names a job may choose (enabled ones), in the registry's order.</summary>
    public IReadOnlyList<string> SelectableModels()
    {
        var names = new List<string>();
        foreach (ModelEntry model in Models)
        {
            if (model.Enabled)
            {
                names.Add(model.Name);
            }
        }

        return names;
    }

    /// <summary>
    /// The model a job will use: the one it names, or the first enabled one. Null when the job
    /// names none and none is installed (the segmentation steps are then skipped, with that reason).
    /// </summary>
    /// <exception cref="InvalidJobOptionsException">The named model is unknown or disabled, or the runtime is missing.</exception>
    public ModelEntry? Resolve(string? name)
    {
        ModelEntry? model;
        if (string.IsNullOrWhiteSpace(name))
        {
            model = null;
            foreach (ModelEntry candidate in Models)
            {
                if (candidate.Enabled)
                {
                    model = candidate;
                    break;
                }
            }

            if (model is null)
            {
                return null;
            }
        }
        else
        {
            model = registry.Value.Find(name)
                ?? throw new InvalidJobOptionsException($"There is no segmentation model named '{name}'. Installed: {string.Join(", ", NamesOf(Models))}.");
            if (!model.Enabled)
            {
                throw new InvalidJobOptionsException($"The model '{name}' is disabled: {model.DisabledReason}");
            }
        }

        if (Runtime is null)
        {
            throw new InvalidJobOptionsException($"ONNX Runtime is not available on this server, so no model can run: {RuntimeError}");
        }

        return model;
    }

    public SegmentationPredictor Predictor =>
        predictor.Value ?? throw new InvalidJobOptionsException($"ONNX Runtime is not available on this server: {RuntimeError}");

    private static List<string> NamesOf(IReadOnlyList<ModelEntry> models)
    {
        var names = new List<string>(models.Count);
        foreach (ModelEntry m in models)
        {
            names.Add(m.Name);
        }

        return names;
    }
}
