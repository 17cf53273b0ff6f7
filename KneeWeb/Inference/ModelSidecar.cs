using System.Text.Json;
using System.Text.Json.Serialization;

namespace KneeWeb.Inference;

/// <summary>How a model wants its input intensities normalised (nnU-Net's schemes).</summary>
public enum NormalizationScheme
{
    /// <summary>Per-image z-score (nnU-Net's default for MRI), optionally over the non-zero mask.</summary>
    ZScore,

    /// <summary>Fixed (x - mean) / std with the sidecar's numbers, after an optional clip (nnU-Net's CT scheme).</summary>
    Fixed,

    /// <summary>Intensities go to the model as they are.</summary>
    None,
}

/// <summary>What the model's output channels hold.</summary>
public enum OutputKind
{
    Logits,
    Probabilities,
}

public sealed record NormalizationSettings
{
    public NormalizationScheme Scheme { get; init; } = NormalizationScheme.ZScore;

    /// <summary>Z-score over voxels inside the non-zero mask only (nnU-Net's use_mask_for_norm).</summary>
    public bool UseNonzeroMask { get; init; }

    public double Mean { get; init; }

    public double Std { get; init; } = 1.0;

    /// <summary>Optional [low, high] clip applied before the fixed scheme.</summary>
    public double[]? Clip { get; init; }
}

public sealed record SlidingWindowSettings
{
    /// <summary>Fraction of a patch shared by neighbouring tiles (nnU-Net: 0.5).</summary>
    public double Overlap { get; init; } = 0.5;

    /// <summary>Gaussian importance weights (sigma = patch / 8) rather than uniform ones.</summary>
    public bool Gaussian { get; init; } = true;

    /// <summary>Tiles per run; halved on GPU out-of-memory.</summary>
    public int BatchSize { get; init; } = 1;
}

public sealed record MirroringSettings
{
    public bool Enabled { get; init; }

    /// <summary>Axes (0 = i, 1 = j, 2 = k) to mirror along; every combination is averaged.</summary>
    public int[] Axes { get; init; } = [0, 1, 2];
}

public sealed record ModelProvenance
{
    public string? Builder { get; init; }

    public string? TrainingData { get; init; }

    public string? Source { get; init; }

    public string? License { get; init; }

    public string? Notes { get; init; }
}

/// <summary>
/// models/&lt;name&gt;.json: everything KneeWeb must know to run models/&lt;name&gt;.onnx. Vector
/// fields are in index order (i, j, k); the model's tensors are [N, C, K, J, I].
/// </summary>
public sealed record ModelSidecar
{
    public static readonly JsonSerializerOptions JsonOptions = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) },
        AllowTrailingCommas = true,
        ReadCommentHandling = JsonCommentHandling.Skip,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
        // Sidecars are read by people: keep ` and ' as they are rather than \u0060.
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    public string? Name { get; init; }

    public string? Version { get; init; }

    public string? Description { get; init; }

    public int InputChannels { get; init; } = 1;

    /// <summary>Output channels, background included.</summary>
    public int NumClasses { get; init; }

    public int[]? PatchSizeIjk { get; init; }

    public double[]? TargetSpacingMmIjk { get; init; }

    public NormalizationSettings Normalization { get; init; } = new();

    public OutputKind Output { get; init; } = OutputKind.Logits;

    /// <summary>Model label (as a string key, JSON's only key type) to KneeWeb schema label.</summary>
    public Dictionary<string, int>? Labels { get; init; }

    public SlidingWindowSettings SlidingWindow { get; init; } = new();

    public MirroringSettings Mirroring { get; init; } = new();

    /// <summary>
    /// The knee the model was built for, where it tells medial from lateral by position (absent: either).
    /// An image of the other knee, when its side is known, is mirrored left-right before the model and
    /// its labels mirrored back.
    /// </summary>
    public Imaging.KneeSide? KneeSide { get; init; }

    public ModelProvenance? Provenance { get; init; }

    /// <summary>Present on models imported from nnU-Net v2: run with nnU-Net's own semantics (see <see cref="NnUnetSettings"/>).</summary>
    public NnUnetSettings? NnUnet { get; init; }

    /// <summary>
    /// Whether test-time mirroring is a meaningful choice for this model: an nnU-Net checkpoint that
    /// allows mirroring axes, or a sidecar whose mirroring section is enabled with axes. (A prior of
    /// one anatomy in one place, like the phantom models, does not.)
    /// </summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public bool SupportsMirroring => NnUnet is { } nnUnet ? nnUnet.MirrorAxes.Length > 0 : Mirroring is { Enabled: true, Axes.Length: > 0 };

    /// <summary>Lower-case hex SHA-256 of the .onnx file.</summary>
    public string? Sha256 { get; init; }

    public static ModelSidecar Parse(string json) =>
        JsonSerializer.Deserialize<ModelSidecar>(json, JsonOptions) ?? throw new JsonException("The sidecar is empty (null).");

    public string ToJson() => JsonSerializer.Serialize(this, JsonOptions);

    /// <summary>The label map as an array indexed by model label (valid after validation).</summary>
    public byte[] LabelLookup()
    {
        var lookup = new byte[NumClasses];
        foreach (KeyValuePair<string, int> entry in Labels ?? [])
        {
            lookup[int.Parse(entry.Key, System.Globalization.CultureInfo.InvariantCulture)] = (byte)entry.Value;
        }

        return lookup;
    }
}
