using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

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
/// The parts of a job's stats.json that result pages show. Sections the pipeline did not compute
/// stay null (or empty), so pages can say "not computed in this job" instead of showing zeros.
/// </summary>
public sealed class ResultStats
{
    public JsonObject Root { get; private init; } = [];

    public string? SubjectId { get; private init; }

    public string? KneeSide { get; private init; }

    public string? ModelName { get; private init; }

    public string? ModelVersion { get; private init; }

    public string? ExecutionProvider { get; private init; }

    public string? KneeWebVersion { get; private init; }

    public string? CreatedUtc { get; private init; }

    public IReadOnlyList<StepTiming> Steps { get; private init; } = [];

    /// <summary>timings_s: seconds per step name, in file order.</summary>
    public IReadOnlyList<KeyValuePair<string, double>> TimingsSeconds { get; private init; } = [];

    public IReadOnlyList<QcFlagView> QcFlags { get; private init; } = [];

    /// <summary>False when stats.json has no qc section at all (as opposed to an empty flag list).</summary>
    public bool HasQc { get; private init; }

    /// <summary>volumes_mm3 per structure (machine names), or null when no segmentation ran.</summary>
    public IReadOnlyList<KeyValuePair<string, double>>? VolumesMm3 { get; private init; }

    public IReadOnlyList<ThicknessRegion>? Thickness { get; private init; }

    public NsmView? Nsm { get; private init; }

    /// <summary>BScore per bone (or "overall" when stats.json holds one number).</summary>
    public IReadOnlyList<KeyValuePair<string, double>>? BScore { get; private init; }

    /// <summary>Why the shape model (and so BScore) did not run, when the pipeline said.</summary>
    public string? NsmSkipped { get; private init; }

    public InputView? Input { get; private init; }

    /// <summary>image_stats: min, max, mean, SD... of the image's values, in file order.</summary>
    public IReadOnlyList<KeyValuePair<string, double>>? ImageStats { get; private init; }

    public SegmentationRunView? SegmentationRun { get; private init; }

    public IReadOnlyList<MeshStat>? Meshes { get; private init; }

    /// <summary>bscore_reference: healthy mean and SD along the axis, and the axis model.</summary>
    public BScoreReference? BScoreReference { get; private init; }

    public static ResultStats Parse(string json)
    {
        JsonObject root = JsonNode.Parse(json) as JsonObject ?? throw new JsonException("stats.json is not a JSON object.");
        JsonObject? options = root["options"] as JsonObject;
        JsonObject? model = root["model"] as JsonObject;
        JsonObject? segmentation = root["segmentation"] as JsonObject;
        return new ResultStats
        {
            Root = root,
            SubjectId = Text(options?["subject_id"]),
            // The side asked for in the options, else the side the analysis detected.
            KneeSide = Text(options?["knee_side"]) is { } side && side != "auto" ? side : Text(root["side"]),
            ModelName = Text(model?["name"]) ?? Text(segmentation?["model"]) ?? Text(root["model"]),
            ModelVersion = Text(model?["version"]) ?? Text(segmentation?["model_version"]),
            ExecutionProvider = Text(segmentation?["execution_provider"]),
            KneeWebVersion = Text(root["kneeweb_version"]),
            CreatedUtc = Text(root["created_utc"]),
            Steps = ParseSteps(root["steps"] as JsonArray),
            TimingsSeconds = Numbers(root["timings_s"] as JsonObject) ?? [],
            HasQc = root["qc"] is JsonObject,
            QcFlags = ParseFlags((root["qc"] as JsonObject)?["flags"] as JsonArray),
            VolumesMm3 = Numbers(root["volumes_mm3"] as JsonObject),
            Thickness = ParseThickness(root["thickness_mm"] as JsonObject),
            Nsm = ParseNsm(root["nsm"] as JsonObject),
            BScore = ParseBScore(root["bscore"]),
            NsmSkipped = Text(root["nsm_skipped"]) ?? Text((root["nsm_skipped"] as JsonObject)?["reason"]),
            BScoreReference = ParseReference(root["bscore_reference"] as JsonObject),
            Input = root["input"] is JsonObject input
                ? new InputView(Text(input["file_name"]), Text(input["format"]), Vector(input["dims"] as JsonArray), Vector(input["spacing_mm"] as JsonArray),
                    Number(input["frames"]) is { } fr ? (int)fr : null, Number(input["frame_used"]) is { } fu ? (int)fu : null, Text(input["datatype"]))
                : null,
            ImageStats = Numbers(root["image_stats"] as JsonObject),
            SegmentationRun = segmentation is null || (segmentation["tiles"] is null && segmentation["timings_s"] is null)
                ? null
                : new SegmentationRunView(
                    Number(segmentation["tiles"]) is { } tiles ? (int)tiles : null,
                    Number(segmentation["batch_size"]) is { } batch ? (int)batch : null,
                    Bool(segmentation["mirrored"]),
                    Vector(segmentation["model_grid"] as JsonArray),
                    Texts(segmentation["fallbacks"] as JsonArray),
                    Numbers(segmentation["timings_s"] as JsonObject) ?? []),
            Meshes = ParseMeshes(root["meshes"] as JsonObject),
        };
    }

    /// <summary>The stats.json of a job folder, or null when the job wrote none.</summary>
    public static ResultStats? Load(string jobsPath, Guid jobId)
    {
        string path = Path.Combine(jobsPath, jobId.ToString("D"), "stats.json");
        return File.Exists(path) ? Parse(File.ReadAllText(path)) : null;
    }

    /// <summary>A number from a JSON value that may be a number or a numeric string.</summary>
    public static double? Number(JsonNode? node)
    {
        if (node is not JsonValue value)
        {
            return null;
        }

        if (value.TryGetValue(out double d))
        {
            return double.IsFinite(d) ? d : null;
        }

        return value.TryGetValue(out string? s) && double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out double parsed) ? parsed : null;
    }

    private static string? Text(JsonNode? node) =>
        node is JsonValue value && value.TryGetValue(out string? s) && !string.IsNullOrWhiteSpace(s) ? s : null;

    private static List<KeyValuePair<string, double>>? Numbers(JsonObject? obj)
    {
        if (obj is null)
        {
            return null;
        }

        var list = new List<KeyValuePair<string, double>>(obj.Count);
        foreach ((string key, JsonNode? node) in obj)
        {
            if (Number(node) is { } v)
            {
                list.Add(new(key, v));
            }
        }

        return list;
    }

    private static List<StepTiming> ParseSteps(JsonArray? array)
    {
        var list = new List<StepTiming>();
        foreach (JsonNode? node in array ?? [])
        {
            if (node is JsonObject step && Text(step["name"]) is { } name)
            {
                list.Add(new StepTiming(name, Text(step["state"]) ?? "", Number(step["duration_s"]), Text(step["reason"])));
            }
        }

        return list;
    }

    private static List<QcFlagView> ParseFlags(JsonArray? array)
    {
        var list = new List<QcFlagView>();
        foreach (JsonNode? node in array ?? [])
        {
            if (node is JsonObject flag)
            {
                list.Add(new QcFlagView(Text(flag["code"]) ?? "QC", Text(flag["severity"]) ?? "info", Text(flag["structure"]), Text(flag["message"]) ?? ""));
            }
        }

        return list;
    }

    private static List<ThicknessRegion>? ParseThickness(JsonObject? obj)
    {
        if (obj is null)
        {
            return null;
        }

        var list = new List<ThicknessRegion>(obj.Count);
        foreach ((string region, JsonNode? node) in obj)
        {
            if (node is JsonObject r)
            {
                long? n = Number(r["n"]) is { } nd ? (long)nd : null;
                list.Add(new ThicknessRegion(region, Number(r["mean"]), Number(r["sd"]), Number(r["median"]), Number(r["p5"]), Number(r["p95"]), n));
            }
            else if (Number(node) is { } mean)
            {
                list.Add(new ThicknessRegion(region, mean, null, null, null, null, null));
            }
        }

        return list;
    }

    private static NsmView? ParseNsm(JsonObject? obj)
    {
        if (obj is null)
        {
            return null;
        }

        int? latent = obj["latent"] switch
        {
            JsonArray a => a.Count,
            JsonNode n when Number(n) is { } d => (int)d,
            _ => Number(obj["latent_size"]) is { } ls ? (int)ls : null,
        };
        JsonObject? model = obj["model"] as JsonObject;
        JsonObject? transform = obj["transform"] as JsonObject;
        return new NsmView(latent, Number(obj["assd_mm"]), Number(obj["iterations"]) is { } it ? (int)it : null)
        {
            Mode = Text(obj["mode"]),
            // Older files named the model with a plain string.
            ModelName = Text(model?["name"]) ?? Text(obj["model"]),
            ModelVersion = Text(model?["version"]) ?? Text(obj["model_version"]),
            Latent = Vector(obj["latent"] as JsonArray),
            BestLoss = Number(obj["best_loss"]),
            Converged = Bool(obj["converged"]),
            FitTimeSeconds = Number(obj["fit_time_s"]),
            Mesh = Text(obj["mesh"]),
            Transform = transform is null ? null : new NsmTransform(
                Bool(transform["mirrored"]),
                Number(transform["scale"]),
                Matrix(transform["rotation"] as JsonArray),
                Vector(transform["translation_mm"] as JsonArray)),
        };
    }

    private static BScoreReference? ParseReference(JsonObject? obj)
    {
        if (obj is null)
        {
            return null;
        }

        JsonNode? axis = obj["axis_model"];
        string? axisModel = Text(axis) ?? (axis is JsonObject a
            ? $"{Text(a["name"])} {Text(a["version"])}".Trim() is { Length: > 0 } named ? named : null
            : null);
        return new BScoreReference(Number(obj["healthy_mean"]), Number(obj["healthy_sd"]), axisModel);
    }

    private static List<string> Texts(JsonArray? array)
    {
        var list = new List<string>();
        foreach (JsonNode? item in array ?? [])
        {
            if (Text(item) is { } t)
            {
                list.Add(t);
            }
        }

        return list;
    }

    private static List<MeshStat>? ParseMeshes(JsonObject? obj)
    {
        if (obj is null)
        {
            return null;
        }

        var list = new List<MeshStat>(obj.Count);
        foreach ((string structure, JsonNode? node) in obj)
        {
            if (node is JsonObject m)
            {
                list.Add(new MeshStat(structure, Number(m["vertices"]) is { } v ? (long)v : null, Number(m["triangles"]) is { } t ? (long)t : null,
                    Bool(m["watertight"]), Number(m["area_mm2"]), Number(m["volume_mm3"])));
            }
        }

        return list;
    }

    private static bool? Bool(JsonNode? node) =>
        node is JsonValue value && value.TryGetValue(out bool b) ? b : null;

    /// <summary>Numbers of a JSON list; null when it is absent or holds anything but numbers.</summary>
    private static List<double>? Vector(JsonArray? array)
    {
        if (array is null)
        {
            return null;
        }

        var list = new List<double>(array.Count);
        foreach (JsonNode? item in array)
        {
            if (Number(item) is not { } v)
            {
                return null;
            }

            list.Add(v);
        }

        return list;
    }

    private static List<IReadOnlyList<double>>? Matrix(JsonArray? rows)
    {
        if (rows is null)
        {
            return null;
        }

        var list = new List<IReadOnlyList<double>>(rows.Count);
        foreach (JsonNode? row in rows)
        {
            if (Vector(row as JsonArray) is not { } r)
            {
                return null;
            }

            list.Add(r);
        }

        return list;
    }

    private static List<KeyValuePair<string, double>>? ParseBScore(JsonNode? node)
    {
        switch (node)
        {
            case null:
                return null;
            case JsonValue when Number(node) is { } single:
                return [new("overall", single)];
            case JsonObject obj:
                // Either {"value": 1.2, ...} or one number per bone ({"femur": 1.2}).
                if (Number(obj["value"]) is { } value)
                {
                    return [new(Text(obj["bone"]) ?? "overall", value)];
                }

                var list = new List<KeyValuePair<string, double>>();
                foreach ((string key, JsonNode? child) in obj)
                {
                    double? v = Number(child) ?? (child is JsonObject inner ? Number(inner["value"]) ?? Number(inner["bscore"]) : null);
                    if (v is { } x)
                    {
                        list.Add(new(key, x));
                    }
                }

                return list.Count == 0 ? null : list;
            default:
                return null;
        }
    }
}
