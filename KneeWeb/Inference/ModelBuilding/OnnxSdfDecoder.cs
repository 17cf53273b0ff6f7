using KneeWeb.Imaging.ShapeModel;

namespace KneeWeb.Inference.ModelBuilding;

/// <summary>
/// A neural shape model run by ONNX Runtime: the decoder graph written by <see cref="NsmModelBuilder"/>,
/// whose outputs are the distances, the L1 loss and the loss's gradient with respect to the latent.
/// One intra-op thread: the fit is a long chain of small runs, and a single thread keeps every reduction
/// in one order, so the same input gives the same latent and BScore run after run.
/// Not thread-safe (one fit at a time per instance).
/// </summary>
public sealed class OnnxSdfDecoder : ISdfDecoder, IDisposable
{
    private readonly OrtRuntime runtime;
    private readonly OrtSession session;
    private readonly OrtFloatTensor latentTensor;
    private readonly Dictionary<int, (OrtFloatTensor Points, OrtFloatTensor Targets, OrtFloatTensor Sdf, OrtFloatTensor Loss, OrtFloatTensor Gradient)> buffers = [];

    private OnnxSdfDecoder(OrtRuntime runtime, OrtSession session, int latentSize)
    {
        this.runtime = runtime;
        this.session = session;
        LatentSize = latentSize;
        latentTensor = new OrtFloatTensor(runtime, 1, latentSize);
    }

    public int LatentSize { get; }

    /// <summary>Points per run when evaluating many points (a reconstruction grid).</summary>
    public int ChunkSize { get; init; } = 32_768;

    /// <summary>Loads a shape model: its sidecar (checked) and ONNX graph (its sha256 must match the sidecar's).</summary>
    /// <exception cref="NsmFailedException">The model is missing, altered or does not load.</exception>
    public static (NsmSidecar Sidecar, OnnxSdfDecoder Decoder) Load(OrtRuntime runtime, string sidecarPath)
    {
        ArgumentNullException.ThrowIfNull(runtime);
        if (!File.Exists(sidecarPath))
        {
            throw new NsmFailedException($"The shape model sidecar {sidecarPath} does not exist (rebuild it with `KneeWeb models build-nsm`).");
        }

        NsmSidecar sidecar = NsmSidecar.Read(sidecarPath);
        string onnxPath = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(sidecarPath))!, sidecar.Onnx);
        if (!File.Exists(onnxPath))
        {
            throw new NsmFailedException($"The shape model file {sidecar.Onnx} named by {Path.GetFileName(sidecarPath)} is missing.");
        }

        string sha = ModelRegistry.Sha256Of(onnxPath);
        if (!string.Equals(sha, sidecar.Sha256, StringComparison.OrdinalIgnoreCase))
        {
            throw new NsmFailedException($"The shape model file {sidecar.Onnx} does not match its sidecar (sha256 {sha}, sidecar says {sidecar.Sha256}).");
        }

        OrtSession session;
        try
        {
            session = OrtSession.Create(runtime, onnxPath, new OrtSessionSettings { Provider = ExecutionProviderPreference.Cpu, IntraOpThreads = 1, InterOpThreads = 1 });
        }
        catch (OrtException e)
        {
            throw new NsmFailedException($"ONNX Runtime could not load the shape model {sidecar.Onnx}: {e.Message}", e);
        }

        if (session.Inputs.Count != 3 || session.Outputs.Count != 3 || session.Outputs[0].Name != "sdf" || session.Outputs[2].Name != "latent_grad")
        {
            session.Dispose();
            throw new NsmFailedException($"The shape model {sidecar.Onnx} does not have the inputs latent, points, target_sdf and outputs sdf, loss, latent_grad.");
        }

        return (sidecar, new OnnxSdfDecoder(runtime, session, sidecar.LatentSize));
    }

    /// <summary>Opens a decoder graph without a sidecar (tests and builds: the caller vouches for the file).</summary>
    public static OnnxSdfDecoder FromFile(OrtRuntime runtime, string onnxPath, int latentSize)
    {
        ArgumentNullException.ThrowIfNull(runtime);
        OrtSession session = OrtSession.Create(runtime, onnxPath, new OrtSessionSettings { Provider = ExecutionProviderPreference.Cpu, IntraOpThreads = 1, InterOpThreads = 1 });
        return new OnnxSdfDecoder(runtime, session, latentSize);
    }

    public void Evaluate(ReadOnlySpan<float> latent, ReadOnlySpan<float> pointsXyz, Span<float> sdf, CancellationToken ct = default)
    {
        int n = pointsXyz.Length / 3;
        for (int start = 0; start < n; start += ChunkSize)
        {
            int count = Math.Min(ChunkSize, n - start);
            var b = Buffers(count);
            latent.CopyTo(latentTensor.Data);
            pointsXyz.Slice(3 * start, 3 * count).CopyTo(b.Points.Data);
            Run([latentTensor, b.Points, b.Targets], [b.Sdf], ct);
            b.Sdf.Data.AsSpan(0, count).CopyTo(sdf.Slice(start, count));
        }
    }

    public float LossAndGradient(ReadOnlySpan<float> latent, ReadOnlySpan<float> pointsXyz, ReadOnlySpan<float> targets, Span<float> latentGradient, CancellationToken ct = default)
    {
        int n = targets.Length;
        var b = Buffers(n);
        latent.CopyTo(latentTensor.Data);
        pointsXyz.CopyTo(b.Points.Data);
        targets.CopyTo(b.Targets.Data);
        Run([latentTensor, b.Points, b.Targets], [b.Sdf, b.Loss, b.Gradient], ct);
        b.Gradient.Data.AsSpan(0, LatentSize).CopyTo(latentGradient);
        return b.Loss.Data[0];
    }

    public void Dispose()
    {
        foreach (var b in buffers.Values)
        {
            b.Points.Dispose();
            b.Targets.Dispose();
            b.Sdf.Dispose();
            b.Loss.Dispose();
            b.Gradient.Dispose();
        }

        buffers.Clear();
        latentTensor.Dispose();
        session.Dispose();
    }

    private void Run(OrtFloatTensor[] inputs, OrtFloatTensor[] outputs, CancellationToken ct)
    {
        try
        {
            session.Run(inputs, outputs, ct);
        }
        catch (OrtException e)
        {
            throw new NsmFailedException($"The shape model run failed: {e.Message}", e);
        }
    }

    private (OrtFloatTensor Points, OrtFloatTensor Targets, OrtFloatTensor Sdf, OrtFloatTensor Loss, OrtFloatTensor Gradient) Buffers(int n)
    {
        if (!buffers.TryGetValue(n, out var b))
        {
            // Few distinct sizes occur (the fit's point count, grid chunks); keep them.
            b = (new OrtFloatTensor(runtime, n, 3), new OrtFloatTensor(runtime, n), new OrtFloatTensor(runtime, n),
                new OrtFloatTensor(runtime), new OrtFloatTensor(runtime, 1, LatentSize));
            buffers[n] = b;
        }

        return b;
    }
}
