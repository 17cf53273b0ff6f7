namespace KneeWeb.Inference;

/// <summary>nnU-Net's per-channel intensity schemes (nnunetv2 default_normalization_schemes.py).</summary>
public enum NnUnetChannelScheme
{
    /// <summary>ZScoreNormalization: per image, over the crop or (use_mask_for_norm) the filled non-zero mask.</summary>
    ZScore,

    /// <summary>CTNormalization: clip to the stored 0.5/99.5 percentiles, minus the stored mean, over the stored std.</summary>
    Ct,

    /// <summary>NoNormalization: values cast to float32 as they are.</summary>
    NoNormalization,

    /// <summary>RescaleTo01Normalization: (x - min) / (max - min) over the crop.</summary>
    RescaleTo01,

    /// <summary>RGBTo0_1Normalization: x / 255.</summary>
    RgbTo01,
}

/// <summary>How one input channel is normalised, as nnU-Net's plans say.</summary>
public sealed record NnUnetChannelNormalization
{
    public NnUnetChannelScheme Scheme { get; init; } = NnUnetChannelScheme.ZScore;

    /// <summary>plans: use_mask_for_norm for this channel (z-score over the filled non-zero mask only).</summary>
    public bool UseMaskForNorm { get; init; }

    /// <summary>CT only: foreground_intensity_properties_per_channel of the plans (mean, std, percentile_00_5 as ClipLow, percentile_99_5 as ClipHigh).</summary>
    public double? Mean { get; init; }

    public double? Std { get; init; }

    public double? ClipLow { get; init; }

    public double? ClipHigh { get; init; }
}

/// <summary>
/// The "nnunet" section of an imported model's sidecar: everything nnU-Net's own predictor takes
/// from plans.json, dataset.json and the checkpoint, so that KneeWeb reproduces its inference step
/// by step (shared/NNUNET.md). When present, the predictor follows nnU-Net's semantics and ignores
/// the generic patch_size_ijk / target_spacing_mm_ijk / normalization / mirroring fields, which the
/// importer still fills (translated to i, j, k) for pages and the registry.
/// </summary>
/// <remarks>
/// Axis convention, stated once: nnU-Net reads an image as [c, k, j, i] (SimpleITK order, no
/// reorientation): "image axes" below are (k, j, i) = the memory order of a KneeWeb volume,
/// slowest first. "Network axes" are image axes permuted by <see cref="TransposeForward"/>:
/// network axis a is image axis TransposeForward[a]. The ONNX model's input is
/// [N, C, n0, n1, n2] in network axes and its output is logits [N, classes, n0, n1, n2].
/// </remarks>
public sealed record NnUnetSettings
{
    /// <summary>plans.json transpose_forward, over image axes (k, j, i).</summary>
    public required int[] TransposeForward { get; init; }

    /// <summary>plans.json transpose_backward.</summary>
    public required int[] TransposeBackward { get; init; }

    /// <summary>The configuration's patch_size, network axes.</summary>
    public required int[] PatchSize { get; init; }

    /// <summary>The configuration's spacing in mm, network axes.</summary>
    public required double[] SpacingMm { get; init; }

    /// <summary>One entry per image channel, in channel order.</summary>
    public required NnUnetChannelNormalization[] Normalization { get; init; }

    /// <summary>
    /// Checkpoint's inference_allowed_mirroring_axes, network axes (nnU-Net counts them on the
    /// spatial axes, 0-based). Used when the job's mirroring option is "model".
    /// </summary>
    public int[] MirrorAxes { get; init; } = [];

    /// <summary>Spacing ratio above which resampling is done per slice plus nearest along the coarse axis.</summary>
    public double AnisotropyThreshold { get; init; } = 3.0;

    /// <summary>Spline order of the data resampling (resampling_fn_data_kwargs order, 3).</summary>
    public int DataOrder { get; init; } = 3;

    /// <summary>Order along the coarse axis with separate z (order_z, 0).</summary>
    public int DataOrderZ { get; init; }

    /// <summary>Order used to bring logits back to the cropped grid (resampling_fn_probabilities order, 1).</summary>
    public int LogitsOrder { get; init; } = 1;

    public int LogitsOrderZ { get; init; }

    /// <summary>Tile step as a fraction of the patch (nnU-Net's tile_step_size, 0.5).</summary>
    public double TileStepSize { get; init; } = 0.5;

    /// <summary>
    /// The model labels in the order of the network's output channels (dataset.json label values,
    /// sorted ascending as nnU-Net's LabelManager does); output channel c is model label ModelLabels[c].
    /// </summary>
    public required int[] ModelLabels { get; init; }

    /// <summary>Cascade only: the registry name of the 3d_lowres model whose labels feed this one.</summary>
    public string? PreviousStage { get; init; }

    /// <summary>
    /// Cascade only: the foreground model labels one-hot encoded (in this order) as the extra input
    /// channels after the image channels.
    /// </summary>
    public int[]? CascadeForegroundLabels { get; init; }

    /// <summary>Where the model came from: dataset, trainer, plans, configuration, folds, checkpoint, files.</summary>
    public NnUnetProvenance? Source { get; init; }
}

/// <summary>What was imported, so a lab can trace a result back to its trained folder.</summary>
public sealed record NnUnetProvenance
{
    public string? Dataset { get; init; }

    public string? Trainer { get; init; }

    public string? Plans { get; init; }

    public string? Configuration { get; init; }

    public int[]? Folds { get; init; }

    /// <summary>"final" or "best".</summary>
    public string? Checkpoint { get; init; }

    public string? NetworkClass { get; init; }

    /// <summary>Source file (relative to the trained folder) -> lower-case hex SHA-256.</summary>
    public Dictionary<string, string>? FilesSha256 { get; init; }

    public string? ImportedBy { get; init; }

    public DateTimeOffset? ImportedAt { get; init; }
}
