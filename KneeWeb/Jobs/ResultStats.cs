using KneeWeb.Imaging.Segmentation;
using KneeWeb.Pipeline;
using KneeWeb.Pipeline.Results;

namespace KneeWeb.Jobs;

/// <summary>One QC flag of stats.json.</summary>
public sealed record QcFlagView(string Code, string Severity, string? Structure, string Message);

/// <summary>Cartilage thickness of one plate or subregion, in millimetres.</summary>
public sealed record ThicknessRegion(string Region, double? MeanMm, double? SdMm, double? MedianMm, double? P5Mm, double? P95Mm, long? N);

/// <summary>
/// What the neural shape model reported: latent size, reconstruction error (ASSD), optimiser
/// iterations, and (in the current stats.json schema) its mode, model, fit and registration.
/// </summary>
public sealed record NsmView(int? LatentSize, double? AssdMm, int? Iterations)
{
    /// <summary>"bone" or "bone-cartilage".</summary>
    public string? Mode { get; init; }

    public string? ModelName { get; init; }

    public string? ModelVersion { get; init; }

    /// <summary>The latent vector, when stats.json lists it (older files give only its size).</summary>
    public IReadOnlyList<double>? Latent { get; init; }

    public double? BestLoss { get; init; }

    public bool? Converged { get; init; }

    public double? FitTimeSeconds { get; init; }

    /// <summary>The reconstructed mesh's file name as stats.json gives it (e.g. "femur_nsm.vtk").</summary>
    public string? Mesh { get; init; }

    public NsmTransform? Transform { get; init; }
}

/// <summary>The registration from the knee to the shape model's frame: mirroring (left to right), scale, rotation and translation.</summary>
public sealed record NsmTransform(bool? Mirrored, double? Scale, IReadOnlyList<IReadOnlyList<double>>? Rotation, IReadOnlyList<double>? TranslationMm);

/// <summary>The input as the pipeline read it.</summary>
public sealed record InputView(string? FileName, string? Format, IReadOnlyList<double>? Dims, IReadOnlyList<double>? SpacingMm, int? Frames, int? FrameUsed, string? DataType);

/// <summary>How the segmentation ran: tiles, batch, grid, fallbacks and its own timings (seconds).</summary>
public sealed record SegmentationRunView(int? Tiles, int? BatchSize, bool? Mirrored, IReadOnlyList<double>? ModelGrid, IReadOnlyList<string> Fallbacks, IReadOnlyList<KeyValuePair<string, double>> TimingsSeconds);

/// <summary>One structure's mesh as stats.json describes it.</summary>
public sealed record MeshStat(string Structure, long? Vertices, long? Triangles, bool? Watertight, double? AreaMm2, double? VolumeMm3);

/// <summary>The healthy reference a BScore is measured against, and the model of the axis it lies on.</summary>
public sealed record BScoreReference(double? HealthyMean, double? HealthySd, string? AxisModel);

/// <summary>One pipeline step's record in stats.json.</summary>
public sealed record StepTiming(string Name, string State, double? DurationSeconds, string? Reason);

/// <summary>
/// The result pages' view of a job's stats.json: a thin adapter over the typed <see cref="StatsDocument"/>
/// (which reads every schema, old files included), keeping the members pages and the cohort used before
/// the document existed. New code should read <see cref="Document"/>.
/// </summary>
public sealed class ResultStats
{
    private ResultStats(StatsDocument document)
    {
        Document = document;
        PipelineOptions? options = document.Options;
        SubjectId = Blank(options?.SubjectId);
        // The side asked for in the options, else the side the analysis detected.
        KneeSide = Blank(options?.KneeSide) is { } side && side != "auto" ? side : Blank(document.Side);
        ModelName = Blank(document.Model?.Name) ?? Blank(document.Segmentation?.Model);
        ModelVersion = Blank(document.Model?.Version) ?? Blank(document.Segmentation?.ModelVersion);
        ExecutionProvider = Blank(document.Segmentation?.ExecutionProvider);
        KneeWebVersion = Blank(document.KneeWebVersion);
        CreatedUtc = document.CreatedUtc?.ToString("O", System.Globalization.CultureInfo.InvariantCulture);
        Steps = [.. document.Steps.Select(s => new StepTiming(s.Name, s.State.ToString().ToLowerInvariant(), s.DurationSeconds, s.Reason))];
        TimingsSeconds = [.. document.TimingsSeconds];
        HasQc = document.Qc is not null;
        QcFlags = [.. (document.Qc?.Flags ?? []).Select(f => new QcFlagView(f.Code, f.Severity.ToString().ToLowerInvariant(), f.Structure, f.Message))];
        Verdict = document.Qc?.Verdict;
        VolumesMm3 = document.VolumesMm3 is { } volumes ? [.. volumes] : null;
        Thickness = document.ThicknessMm is { } thickness
            ? [.. thickness.Select(kv => new ThicknessRegion(kv.Key, kv.Value.MeanMm, kv.Value.SdMm, kv.Value.MedianMm, kv.Value.P5Mm, kv.Value.P95Mm, kv.Value.N))]
            : null;
        Nsm = document.Nsm is { } nsm
            ? new NsmView(nsm.Latent?.Count ?? nsm.LatentSize, nsm.AssdMm, nsm.Iterations)
            {
                Mode = nsm.Mode,
                ModelName = nsm.Model?.Name,
                ModelVersion = nsm.Model?.Version,
                Latent = nsm.Latent,
                BestLoss = nsm.BestLoss,
                Converged = nsm.Converged,
                FitTimeSeconds = nsm.FitTimeSeconds,
                Mesh = nsm.Mesh,
                Transform = nsm.Transform is { } t ? new NsmTransform(t.Mirrored, t.Scale, t.Rotation, t.TranslationMm) : null,
            }
            : null;
        BScore = document.BScore is { } bscore ? [new(document.BScoreBone ?? "overall", bscore)] : null;
        NsmSkipped = Blank(document.NsmSkipped);
        BScoreReference = document.BScoreReference is { } r ? new BScoreReference(r.HealthyMean, r.HealthySd, r.AxisModel) : null;
        Input = document.Input is { } input
            ? new InputView(input.FileName, input.Format, input.Dims?.Select(d => (double)d).ToList(), input.SpacingMm, input.Frames, input.FrameUsed, input.DataType)
            : null;
        ImageStats = document.ImageStats is { } s
            ? [.. new KeyValuePair<string, double?>[]
            {
                new("min", s.Min), new("max", s.Max), new("mean", s.Mean), new("sd", s.Sd), new("nonzero_fraction", s.NonzeroFraction), new("non_finite_voxels", s.NonFiniteVoxels),
            }.Where(kv => kv.Value is not null).Select(kv => new KeyValuePair<string, double>(kv.Key, kv.Value!.Value))]
            : null;
        SegmentationRun = document.Segmentation is { } seg && (seg.Tiles is not null || seg.TimingsSeconds.Count > 0)
            ? new SegmentationRunView(seg.Tiles, seg.BatchSize, seg.Mirrored, seg.ModelGrid?.Select(d => (double)d).ToList(), seg.Fallbacks, [.. seg.TimingsSeconds])
            : null;
        Meshes = document.Meshes is { } meshes
            ? [.. meshes.Select(kv => new MeshStat(kv.Key, kv.Value.Vertices, kv.Value.Triangles, kv.Value.Watertight, kv.Value.AreaMm2, kv.Value.VolumeMm3))]
            : null;
    }

    /// <summary>The typed results document this view shows.</summary>
    public StatsDocument Document { get; }

    /// <summary>pass / review / fail from the QC flags' severities; null when the file had no QC section.</summary>
    public QcVerdict? Verdict { get; }

    public string? SubjectId { get; }

    public string? KneeSide { get; }

    public string? ModelName { get; }

    public string? ModelVersion { get; }

    public string? ExecutionProvider { get; }

    public string? KneeWebVersion { get; }

    public string? CreatedUtc { get; }

    public IReadOnlyList<StepTiming> Steps { get; }

    /// <summary>timings_s: seconds per step name, in file order.</summary>
    public IReadOnlyList<KeyValuePair<string, double>> TimingsSeconds { get; }

    public IReadOnlyList<QcFlagView> QcFlags { get; }

    /// <summary>False when stats.json has no qc section at all (as opposed to an empty flag list).</summary>
    public bool HasQc { get; }

    /// <summary>volumes_mm3 per structure (machine names), or null when no segmentation ran.</summary>
    public IReadOnlyList<KeyValuePair<string, double>>? VolumesMm3 { get; }

    public IReadOnlyList<ThicknessRegion>? Thickness { get; }

    public NsmView? Nsm { get; }

    /// <summary>BScore per bone ("overall" for the shape model's one number).</summary>
    public IReadOnlyList<KeyValuePair<string, double>>? BScore { get; }

    /// <summary>Why the shape model (and so BScore) did not run, when the pipeline said.</summary>
    public string? NsmSkipped { get; }

    public InputView? Input { get; }

    /// <summary>image_stats: min, max, mean, SD... of the image's values, in file order.</summary>
    public IReadOnlyList<KeyValuePair<string, double>>? ImageStats { get; }

    public SegmentationRunView? SegmentationRun { get; }

    public IReadOnlyList<MeshStat>? Meshes { get; }

    /// <summary>bscore_reference: healthy mean and SD along the axis, and the axis model.</summary>
    public BScoreReference? BScoreReference { get; }

    /// <summary>Adapter for code written before the typed document: the document as a JSON tree (current schema).</summary>
    public System.Text.Json.Nodes.JsonObject Root =>
        System.Text.Json.JsonSerializer.SerializeToNode(Document, StatsJsonContext.Default.StatsDocument)!.AsObject();

    /// <summary>Adapter: a number from a JSON value that may be a number or a numeric string (null when not finite).</summary>
    public static double? Number(System.Text.Json.Nodes.JsonNode? node) => LegacyStatsReader.Number(node);

    public static ResultStats From(StatsDocument document)
    {
        ArgumentNullException.ThrowIfNull(document);
        return new ResultStats(document);
    }

    /// <summary>Reads any stats.json KneeWeb wrote (see <see cref="StatsDocumentIo.Read"/>).</summary>
    /// <exception cref="StatsDocumentException">Not a KneeWeb results document (a <see cref="System.Text.Json.JsonException"/>).</exception>
    public static ResultStats Parse(string json) => new(StatsDocumentIo.Read(json));

    /// <summary>The stats.json of a job folder, or null when the job wrote none.</summary>
    public static ResultStats? Load(string jobsPath, Guid jobId) =>
        StatsDocumentIo.ReadFile(Path.Combine(jobsPath, jobId.ToString("D"), StatsDocumentIo.FileName)) is { } document ? new ResultStats(document) : null;

    private static string? Blank(string? text) => string.IsNullOrWhiteSpace(text) ? null : text;
}
