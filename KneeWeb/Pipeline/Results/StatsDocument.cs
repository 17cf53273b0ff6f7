using System.Text.Json.Serialization;
using KneeWeb.Imaging.Segmentation;

namespace KneeWeb.Pipeline.Results;

/// <summary>Where a run entered the recipe: an image to segment (the site, `KneeWeb process`) or a given segmentation (`KneeWeb analyze`).</summary>
[JsonConverter(typeof(SnakeCaseEnumConverter<PipelineEntry>))]
public enum PipelineEntry
{
    Image,
    Labels,
}

/// <summary>
/// A job's stats.json: the one type that writes and reads it (<see cref="StatsDocumentIo"/>). Sections a run
/// did not compute stay null, so pages say "not computed" instead of showing zeros. JSON names are the
/// snake_case names stats.json has always used; member names carry the units.
/// </summary>
public sealed record StatsDocument
{
    /// <summary>2: the first typed document (files without the field are read by <see cref="LegacyStatsReader"/>).</summary>
    public const int CurrentSchemaVersion = 2;

    public int SchemaVersion { get; init; } = CurrentSchemaVersion;

    [JsonPropertyName("kneeweb_version")]
    public string? KneeWebVersion { get; init; }

    public string? JobId { get; init; }

    public DateTime? CreatedUtc { get; init; }

    public PipelineEntry? Entry { get; init; }

    public PipelineOptions? Options { get; init; }

    public ModelSection? Model { get; init; }

    public InputSection? Input { get; init; }

    public ImageStatsSection? ImageStats { get; init; }

    public SegmentationSection? Segmentation { get; init; }

    /// <summary>Volume per structure (machine names, femoral subregions included when split), in mm3.</summary>
    public IReadOnlyDictionary<string, double>? VolumesMm3 { get; init; }

    /// <summary>Cartilage thickness per plate and femoral subregion.</summary>
    public IReadOnlyDictionary<string, ThicknessSection>? ThicknessMm { get; init; }

    public IReadOnlyDictionary<string, MeshSection>? Meshes { get; init; }

    /// <summary>The knee side the analysis detected: "left", "right", or null when it could not be told.</summary>
    public string? Side { get; init; }

    public SubregionSection? FemoralSubregions { get; init; }

    public NsmSection? Nsm { get; init; }

    /// <summary>Why the shape model (and so the BScore) did not run; null when it ran.</summary>
    public string? NsmSkipped { get; init; }

    [JsonPropertyName("bscore")]
    public double? BScore { get; init; }

    /// <summary>The bone the BScore belongs to when a file named it (older files); null: the shape model's bone, shown as "overall".</summary>
    [JsonPropertyName("bscore_bone")]
    public string? BScoreBone { get; init; }

    [JsonPropertyName("bscore_reference")]
    public BScoreReferenceSection? BScoreReference { get; init; }

    /// <summary>Null only in older files that had no QC section at all.</summary>
    public QcSection? Qc { get; init; }

    public IReadOnlyList<StepSection> Steps { get; init; } = [];

    /// <summary>Seconds per step name, in run order (every timing in this document is in seconds).</summary>
    [JsonPropertyName("timings_s")]
    public IReadOnlyDictionary<string, double> TimingsSeconds { get; init; } = new Dictionary<string, double>();
}

public sealed record ModelSection(string? Name, string? Version, string? Description, string? Sha256, [property: JsonPropertyName("onnxruntime")] string? OnnxRuntimeVersion);

/// <summary>The input as the pipeline read it: the image (site, process) or the label map (analyze).</summary>
public sealed record InputSection
{
    public string? FileName { get; init; }

    public string? Format { get; init; }

    public IReadOnlyList<int>? Dims { get; init; }

    public int? Frames { get; init; }

    public int? FrameUsed { get; init; }

    [JsonPropertyName("datatype")]
    public string? DataType { get; init; }

    public IReadOnlyList<double>? SpacingMm { get; init; }

    public IReadOnlyList<double>? OriginRasMm { get; init; }

    /// <summary>Index (i, j, k, 1) to RAS mm, four rows of four.</summary>
    public IReadOnlyList<IReadOnlyList<double>>? AffineRas { get; init; }

    /// <summary>Acquisition details the reader kept (for DICOM: an allow-list without identifying tags).</summary>
    public IReadOnlyDictionary<string, string>? Metadata { get; init; }
}

public sealed record ImageStatsSection(double Min, double Max, double? Mean, double? Sd, double? NonzeroFraction, long NonFiniteVoxels);

/// <summary>How the segmentation ran; its own timings in seconds.</summary>
public sealed record SegmentationSection
{
    public string? Model { get; init; }

    public string? ModelVersion { get; init; }

    public string? ExecutionProvider { get; init; }

    public IReadOnlyList<string> Fallbacks { get; init; } = [];

    public int? Tiles { get; init; }

    public int? BatchSize { get; init; }

    public bool? Mirrored { get; init; }

    public int? SideMirrorAxis { get; init; }

    public IReadOnlyList<int>? ModelGrid { get; init; }

    [JsonPropertyName("timings_s")]
    public IReadOnlyDictionary<string, double> TimingsSeconds { get; init; } = new Dictionary<string, double>();
}

/// <summary>Thickness of one plate or subregion, in mm (null where nothing was measured); <see cref="N"/> bone vertices.</summary>
public sealed record ThicknessSection(
    [property: JsonPropertyName("mean")] double? MeanMm,
    [property: JsonPropertyName("sd")] double? SdMm,
    [property: JsonPropertyName("median")] double? MedianMm,
    [property: JsonPropertyName("p5")] double? P5Mm,
    [property: JsonPropertyName("p95")] double? P95Mm,
    long? N);

public sealed record MeshSection(long? Vertices, long? Triangles, bool? Watertight, double? AreaMm2, double? VolumeMm3);

/// <summary>The rule that split femoral cartilage into subregions (RAS mm).</summary>
public sealed record SubregionSection(double SplitXMm, double NotchYMm, double PosteriorYMm, double? WeightBearingFraction);

public sealed record NsmModelSection(string? Name, string? Version);

/// <summary>Knee to model frame: model point = scale * rotation * p + translation, p with x negated when mirrored.</summary>
public sealed record NsmTransformSection(bool? Mirrored, double? Scale, IReadOnlyList<IReadOnlyList<double>>? Rotation, IReadOnlyList<double>? TranslationMm);

public sealed record NsmSection
{
    /// <summary>"bone" or "bone-cartilage".</summary>
    public string? Mode { get; init; }

    public NsmModelSection? Model { get; init; }

    public IReadOnlyList<double>? Latent { get; init; }

    /// <summary>The latent's length (older files give only this).</summary>
    public int? LatentSize { get; init; }

    public double? AssdMm { get; init; }

    public int? Iterations { get; init; }

    public double? BestLoss { get; init; }

    public bool? Converged { get; init; }

    public NsmTransformSection? Transform { get; init; }

    [JsonPropertyName("fit_time_s")]
    public double? FitTimeSeconds { get; init; }

    /// <summary>The reconstructed mesh's file name in the job folder (e.g. "femur_nsm.vtk").</summary>
    public string? Mesh { get; init; }
}

public sealed record BScoreReferenceSection(double? HealthyMean, double? HealthySd, string? AxisModel);

/// <summary>The QC flags and the verdict they give (<see cref="QcVerdicts.From"/>), so every reader agrees.</summary>
public sealed record QcSection
{
    [JsonConverter(typeof(SnakeCaseEnumConverter<QcVerdict>))]
    public QcVerdict Verdict { get; init; }

    public IReadOnlyList<QcFlagSection> Flags { get; init; } = [];

    public static QcSection Of(IReadOnlyList<QcFlagSection> flags)
    {
        ArgumentNullException.ThrowIfNull(flags);
        return new QcSection { Flags = flags, Verdict = QcVerdicts.From(flags.Select(f => f.Severity)) };
    }
}

public sealed record QcFlagSection(
    string Code,
    [property: JsonConverter(typeof(SnakeCaseEnumConverter<QcSeverity>))] QcSeverity Severity,
    string? Structure,
    string Message);

public sealed record StepSection(
    int Index,
    string Name,
    [property: JsonConverter(typeof(SnakeCaseEnumConverter<StepState>))] StepState State,
    [property: JsonPropertyName("duration_s")] double? DurationSeconds,
    string? Reason);

/// <summary>Enums as the lower-case words stats.json uses ("warning", "finished", "pass"); numbers are refused.</summary>
public sealed class SnakeCaseEnumConverter<TEnum>() : JsonStringEnumConverter<TEnum>(System.Text.Json.JsonNamingPolicy.SnakeCaseLower, allowIntegerValues: false)
    where TEnum : struct, Enum;
