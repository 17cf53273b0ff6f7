using KneeWeb.Imaging;

namespace KneeWeb.Inference;

/// <summary>
/// Segments a volume with a registered model, in process: nnU-Net preprocessing, sliding-window
/// prediction with Gaussian weights (batched tiles, optional mirroring), argmax, the label map
/// put back on the input's grid in KneeWeb schema labels. Accumulation finalises slabs along k as
/// soon as no later tile can touch them, so memory holds about one patch depth of class scores,
/// not the whole volume's.
/// </summary>
public sealed class SegmentationPredictor : IDisposable
{
    // Loaded sessions by model file, checksum and session settings: loading an nnU-Net-sized model
    // (and initialising CUDA) takes seconds, so jobs after the first reuse it. Runs on one
    // session may overlap; the C API allows that.
    private readonly Dictionary<(string Path, string? Sha256, OrtSessionSettings Settings), OrtSession> sessions = [];
    private readonly Lock sessionsLock = new();
    private bool disposed;

    public SegmentationPredictor(OrtRuntime runtime)
    {
        ArgumentNullException.ThrowIfNull(runtime);
        Runtime = runtime;
    }

    public OrtRuntime Runtime { get; }

    /// <summary>Releases every cached session.</summary>
    public void Dispose()
    {
        lock (sessionsLock)
        {
            disposed = true;
            foreach (OrtSession session in sessions.Values)
            {
                session.Dispose();
            }

            sessions.Clear();
        }
    }

    /// <summary>Test-only behaviour (simulated out-of-memory failures, preview interval); null in production.</summary>
    internal PredictorTestSeam? TestSeam { get; init; }

    /// <summary>How often a run offers a preview: about once a second, unless a test says otherwise.</summary>
    internal TimeSpan PreviewInterval => TestSeam?.PreviewInterval ?? TimeSpan.FromSeconds(1);

    /// <summary>Finds another registered model by name: a cascade's previous stage.</summary>
    public Func<string, ModelEntry?>? ModelResolver { get; init; }

    internal OrtSession SessionFor(ModelEntry model, OrtSessionSettings settings)
    {
        var key = (model.ModelPath, model.ComputedSha256, settings);
        lock (sessionsLock)
        {
            ObjectDisposedException.ThrowIf(disposed, this);
            if (sessions.TryGetValue(key, out OrtSession? cached))
            {
                return cached;
            }

            // Loading under the lock: two jobs asking for the same model load it once.
            OrtSession session = OrtSession.Create(Runtime, model.ModelPath, settings);
            sessions[key] = session;
            return session;
        }
    }

    /// <exception cref="ModelConfigurationException">The model is disabled or does not fit the image (CONFIG_ERROR).</exception>
    /// <exception cref="GpuOutOfMemoryException">Out of GPU memory after every recovery (GPU_OOM).</exception>
    /// <exception cref="InferenceFailedException">The runtime failed (SEGMENTATION_FAILED).</exception>
    /// <exception cref="OperationCanceledException">The token was cancelled; a run in flight is terminated.</exception>
    public Task<SegmentationResult> SegmentAsync(
        Volume image,
        ModelEntry model,
        SegmentationOptions options,
        IProgress<double>? progress,
        Action<SegmentationPreview>? preview,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(image);
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(options);
        if (!model.Enabled || model.Sidecar is null)
        {
            throw new ModelConfigurationException($"Model '{model.Name}' is disabled: {model.DisabledReason}");
        }

        if (model.Sidecar.NnUnet is not null)
        {
            return Task.Run(() => new NnUnet.NnUnetSegmentation(this, model, options, progress, preview, cancellationToken).Segment(image), cancellationToken);
        }

        if (image.Frames != model.Sidecar.InputChannels)
        {
            throw new ModelConfigurationException($"Model '{model.Name}' takes {model.Sidecar.InputChannels} channel(s); the image has {image.Frames}.");
        }

        return Task.Run(() => new SegmentationRun(this, model, options, progress, preview, cancellationToken).Execute(image), cancellationToken);
    }
}
