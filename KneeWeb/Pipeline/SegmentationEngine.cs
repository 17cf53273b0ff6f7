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
    private readonly Lock registryGate = new();
    private ModelRegistry? registry;
    private readonly Lazy<SegmentationPredictor?> predictor;

    public SegmentationEngine(string modelsFolder, string? defaultModel = null)
    {
        ModelsFolder = Path.GetFullPath(modelsFolder);
        DefaultModel = string.IsNullOrWhiteSpace(defaultModel) ? null : defaultModel;
        runtime = new Lazy<(OrtRuntime?, string?)>(() =>
        {
            try
            {
                return (OrtRuntime.Load(), null);
            }
            catch (ModelConfigurationException ex)
            {
                return (null, ex.Message);
            }
        });
        // The cascade's predictor looks its previous stage up in the registry as it is now (imports reload it).
        predictor = new Lazy<SegmentationPredictor?>(() => Runtime is null ? null : new SegmentationPredictor(Runtime) { ModelResolver = name => Registry.Find(name) });
    }

    public string ModelsFolder { get; }

    /// <summary>The configured default model's name (it may be absent or disabled here; see <see cref="Resolve"/>).</summary>
    public string? DefaultModel { get; }

    public OrtRuntime? Runtime => runtime.Value.Runtime;

    /// <summary>Why ONNX Runtime is not available, or null when it is.</summary>
    public string? RuntimeError => runtime.Value.Error;

    public IReadOnlyList<ModelEntry> Models => Registry.Models;

    /// <summary>The registry as last read from the models folder (read on first use, again after <see cref="ReloadModels"/>).</summary>
    public ModelRegistry Registry
    {
        get
        {
            lock (registryGate)
            {
                return registry ??= new ModelRegistry(ModelsFolder, Runtime);
            }
        }
    }

    /// <summary>Reads the models folder again on next use: after an import, or an Admin enabling or disabling a model.</summary>
    public void ReloadModels()
    {
        lock (registryGate)
        {
            registry = null;
        }
    }

    /// <summary>
    /// Providers a job can actually run on here: the CPU, and CUDA only where its provider library
    /// is installed (the runtime lists every provider it was built with, usable or not).
    /// </summary>
    public IReadOnlyList<string> ExecutionProviders => Runtime is null
        ? []
        : Runtime.IsCudaProviderPresent ? ["CUDAExecutionProvider", "CPUExecutionProvider"] : ["CPUExecutionProvider"];

    /// <summary>Model names a job may choose (enabled ones): the default first, then the registry's order.</summary>
    public IReadOnlyList<string> SelectableModels()
    {
        var names = new List<string>();
        ModelEntry? preferred = EnabledDefault();
        if (preferred is not null)
        {
            names.Add(preferred.Name);
        }

        foreach (ModelEntry model in Models)
        {
            if (model.Enabled && !ReferenceEquals(model, preferred))
            {
                names.Add(model.Name);
            }
        }

        return names;
    }

    private ModelEntry? FirstEnabled()
    {
        foreach (ModelEntry candidate in Models)
        {
            if (candidate.Enabled)
            {
                return candidate;
            }
        }

        return null;
    }

    private ModelEntry? EnabledDefault() =>
        DefaultModel is null ? null : Registry.Find(DefaultModel) is { Enabled: true } model ? model : null;

    /// <summary>
    /// The model a job will use: the one it names, else the configured default when it is installed and
    /// enabled, else the first enabled one. Null when the job
    /// names none and none is installed (the segmentation steps are then skipped, with that reason).
    /// </summary>
    /// <exception cref="InvalidJobOptionsException">The named model is unknown or disabled, or the runtime is missing.</exception>
    public ModelEntry? Resolve(string? name)
    {
        ModelEntry? model;
        if (string.IsNullOrWhiteSpace(name))
        {
            model = EnabledDefault() ?? FirstEnabled();
            if (model is null)
            {
                return null;
            }
        }
        else
        {
            model = Registry.Find(name)
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
