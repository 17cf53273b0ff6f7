namespace KneeWeb.Inference;

/// <summary>
/// The session a run uses and the out-of-memory ladder: on GPU out-of-memory a smaller batch,
/// then (at batch 1, when allowed) a CPU session of the run's own, then GPU_OOM. Every step
/// taken is recorded in <see cref="Fallbacks"/>.
/// </summary>
internal sealed class ProviderFallback : IDisposable
{
    private readonly SegmentationPredictor owner;
    private readonly ModelEntry model;
    private readonly SegmentationOptions options;
    private bool ownsSession; // the CPU fallback session belongs to this run; cached ones do not
    private bool ranOnGpu; // the run left the GPU for the CPU

    public ProviderFallback(SegmentationPredictor owner, ModelEntry model, SegmentationOptions options)
    {
        this.owner = owner;
        this.model = model;
        this.options = options;
        Session = CreateSession(options.Provider, cached: true);
    }

    public OrtSession Session { get; private set; }

    public List<string> Fallbacks { get; } = [];

    /// <summary>The provider the session runs on now.</summary>
    public InferenceProvider Provider => Session.ExecutionProvider;

    /// <summary>Runs the session (or the test seam's simulated out-of-memory failure).</summary>
    public void Run(IReadOnlyList<OrtFloatTensor> inputs, IReadOnlyList<OrtFloatTensor> outputs, int batch, CancellationToken cancellationToken)
    {
        if (owner.TestSeam?.SimulateOutOfMemory?.Invoke(Provider, batch) == true)
        {
            throw new OrtException(OrtErrorCode.RuntimeException, "simulated: CUDA failure 2: out of memory");
        }

        Session.Run(inputs, outputs, cancellationToken);
    }

    /// <summary>The batch to retry with after an out-of-memory failure at <paramref name="take"/> tiles; throws when nothing is left to try.</summary>
    /// <exception cref="GpuOutOfMemoryException">Out of GPU memory after every recovery.</exception>
    /// <exception cref="InferenceFailedException">Out of memory on the CPU.</exception>
    public int Recover(OrtException error, int take)
    {
        InferenceProvider provider = Provider;
        string providerName = provider.Name();
        if (take > 1)
        {
            int batch = Math.Max(1, take / 2);
            Fallbacks.Add($"{providerName} out of memory at batch {take}: batch halved to {batch}");
            return batch;
        }

        if (provider == InferenceProvider.Cuda && options.AllowCpuFallback)
        {
            // The cached CUDA session stays for later jobs; this run finishes on a CPU session of its own.
            ranOnGpu = true;
            Session = CreateSession(ExecutionProviderPreference.Cpu, cached: false);
            Fallbacks.Add("cuda out of memory at batch 1: continuing on cpu");
            return 1;
        }

        bool gpuInvolved = provider == InferenceProvider.Cuda || ranOnGpu;
        if (gpuInvolved)
        {
            throw new GpuOutOfMemoryException(
                provider == InferenceProvider.Cuda
                    ? $"Out of GPU memory at batch 1 with model '{model.Name}', and CPU fallback is off."
                    : $"Out of GPU memory with model '{model.Name}', and the CPU fallback ran out of memory too.",
                error);
        }

        throw new InferenceFailedException($"Out of memory on the CPU at batch 1 with model '{model.Name}': {error.NativeMessage}", error);
    }

    public InferenceFailedException Failed(OrtException error) =>
        new($"Model '{model.Name}' failed on {Session.ExecutionProvider.Name()}: {error.NativeMessage}", error);

    public void Dispose()
    {
        if (ownsSession)
        {
            Session.Dispose();
        }
    }

    private OrtSession CreateSession(ExecutionProviderPreference provider, bool cached)
    {
        try
        {
            var settings = new OrtSessionSettings
            {
                Provider = provider,
                IntraOpThreads = options.IntraOpThreads,
                CudaDeviceId = options.CudaDeviceId,
            };
            OrtSession created;
            if (cached)
            {
                created = owner.SessionFor(model, settings);
                ownsSession = false;
            }
            else
            {
                created = OrtSession.Create(owner.Runtime, model.ModelPath, settings);
                ownsSession = true;
            }

            if (created.ProviderNote is not null && provider != ExecutionProviderPreference.Cpu)
            {
                Fallbacks.Add(created.ProviderNote);
            }

            return created;
        }
        catch (OrtException e)
        {
            throw new InferenceFailedException($"ONNX Runtime cannot load model '{model.Name}': {e.NativeMessage}", e);
        }
    }
}

/// <summary>Test-only behaviour of a predictor, kept out of the production options.</summary>
internal sealed class PredictorTestSeam
{
    /// <summary>Answers whether a run on (provider, batch) should fail as out of GPU memory.</summary>
    public Func<InferenceProvider, int, bool>? SimulateOutOfMemory { get; init; }

    /// <summary>How often a run offers a preview instead of about once a second (zero: after every batch).</summary>
    public TimeSpan? PreviewInterval { get; init; }
}
