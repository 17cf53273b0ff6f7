using KneeWeb.Imaging;

namespace KneeWeb.Inference;

/// <summary>Where a segmentation ran (ONNX Runtime's CUDA or CPU execution provider).</summary>
public enum InferenceProvider
{
    Cpu,
    Cuda,
}

public static class InferenceProviders
{
    /// <summary>The provider's name in stats.json, messages and the CLI: "cpu" or "cuda".</summary>
    public static string Name(this InferenceProvider provider) => provider == InferenceProvider.Cuda ? "cuda" : "cpu";
}

/// <summary>
/// Test-time mirroring of a segmentation run. Model: what the model says (an nnU-Net checkpoint's
/// inference_allowed_mirroring_axes, a sidecar's mirroring section). On: every axis. Off: none
/// (about 8x faster with three axes).
/// </summary>
public enum MirroringMode
{
    Model,
    On,
    Off,
}

/// <summary>Per-run choices; the model's sidecar gives the defaults for the sliding window.</summary>
public sealed record SegmentationOptions
{
    public ExecutionProviderPreference Provider { get; init; } = ExecutionProviderPreference.Auto;

    /// <summary>Threads for ONNX Runtime's CPU kernels; 0 = one per core.</summary>
    public int IntraOpThreads { get; init; }

    public int CudaDeviceId { get; init; }

    /// <summary>Overrides the sidecar's sliding_window.overlap.</summary>
    public double? Overlap { get; init; }

    /// <summary>Overrides the sidecar's sliding_window.batch_size.</summary>
    public int? BatchSize { get; init; }

    /// <summary>Test-time mirroring: the model's own choice (default), every axis, or none.</summary>
    public MirroringMode Mirroring { get; init; } = MirroringMode.Model;

    /// <summary>On GPU out-of-memory at batch 1, continue on the CPU (else end with GPU_OOM).</summary>
    public bool AllowCpuFallback { get; init; } = true;

    /// <summary>The knee the image shows, when known (the user's choice); null: unknown, the image is used as it is.</summary>
    public Imaging.KneeSide? KneeSide { get; init; }
}

/// <summary>A mid slice of the model's grid: normalised image and labels found so far (schema labels).</summary>
public sealed record PreviewPlane(string Plane, int Width, int Height, float[] Image, byte[] Labels);

/// <summary>What the predictor shows while it runs (about once a second).</summary>
public sealed record SegmentationPreview(double Fraction, PreviewPlane AcrossK, PreviewPlane AcrossJ, PreviewPlane AcrossI);

public sealed record SegmentationTimings
{
    public TimeSpan SessionLoad { get; init; }

    public TimeSpan Preprocess { get; init; }

    /// <summary>Time inside ONNX Runtime's Run calls.</summary>
    public TimeSpan ModelRuns { get; init; }

    /// <summary>Tile filling, mirroring, weighted accumulation and argmax.</summary>
    public TimeSpan Tiling { get; init; }

    public TimeSpan Postprocess { get; init; }

    public TimeSpan Total { get; init; }
}

/// <summary>The label map in the input's geometry (KneeWeb schema labels) and how it was made.</summary>
public sealed record SegmentationResult
{
    public required Volume Labels { get; init; }

    public required string ModelName { get; init; }

    public required string ModelVersion { get; init; }

    /// <summary>The provider that finished the run.</summary>
    public required InferenceProvider Provider { get; init; }

    /// <summary>Every fallback taken, in order (batch halved, CPU instead of GPU, CUDA not installed).</summary>
    public required IReadOnlyList<string> Fallbacks { get; init; }

    public required int Tiles { get; init; }

    public required int BatchSize { get; init; }

    public required bool Mirrored { get; init; }

    /// <summary>
    /// The voxel axis (0 = i, 1 = j, 2 = k) the image was mirrored along because it shows the other knee
    /// than the model's sidecar names (<see cref="ModelSidecar.KneeSide"/>); null when it was not.
    /// </summary>
    public int? SideMirrorAxis { get; init; }

    /// <summary>The model's grid (after crop and resampling).</summary>
    public required Dims3 ModelGrid { get; init; }

    public required SegmentationTimings Timings { get; init; }
}
