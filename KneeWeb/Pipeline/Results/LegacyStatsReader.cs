using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using KneeWeb.Imaging.Segmentation;

namespace KneeWeb.Pipeline.Results;

/// <summary>
/// Reads stats.json files written before <c>schema_version</c> (KneeWeb up to 0.1: the site's and
/// `KneeWeb process`'s hand-built file, and `KneeWeb analyze`'s analysis-only file with <c>timings_ms</c>
/// and a bare <c>qc</c> list) into the typed document, so completed jobs keep rendering. Tolerant by
/// design: a value of the wrong kind is left out, never guessed.
/// </summary>
public static class LegacyStatsReader
{
    /// <summary>Top-level members one of which every KneeWeb stats.json has; a file with none is foreign.</summary>
    private static readonly string[] KnownMembers =
    [
        "kneeweb_version", "job_id", "options", "model", "input", "segmentation", "volumes_mm3", "thickness_mm",
        "meshes", "nsm", "bscore", "nsm_skipped", "qc", "steps", "timings_s", "timings_ms", "input_labels",
    ];

    public static StatsDocument Read(JsonObject root)
    {
        ArgumentNullException.ThrowIfNull(root);
        if (!KnownMembers.Any(root.ContainsKey))
        {
            throw new StatsDocumentException("stats.json is not a KneeWeb results document: it has none of the sections KneeWeb writes (volumes_mm3, qc, steps, ...).");
        }

        JsonObject? segmentation = root["segmentation"] as JsonObject;
        (double? bscore, string? bone) = ParseBScore(root["bscore"]);
        return new StatsDocument
        {
            SchemaVersion = StatsDocument.CurrentSchemaVersion,
            KneeWebVersion = Text(root["kneeweb_version"]),
            JobId = Text(root["job_id"]),
            CreatedUtc = Text(root["created_utc"]) is { } created && DateTime.TryParse(created, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind, out DateTime at) ? at : null,
            // analyze wrote input_labels; the pipeline's files have an input section.
            Entry = root.ContainsKey("input_labels") ? PipelineEntry.Labels : root.ContainsKey("steps") || root.ContainsKey("input") ? PipelineEntry.Image : null,
            Options = ParseOptions(root["options"] as JsonObject),
            Model = ParseModel(root["model"], segmentation),
            Input = ParseInput(root["input"] as JsonObject) ?? (Text(root["input_labels"]) is { } labels ? new InputSection { FileName = labels } : null),
            ImageStats = ParseImageStats(root["image_stats"] as JsonObject),
            Segmentation = segmentation is null ? null : ParseSegmentation(segmentation),
            VolumesMm3 = Numbers(root["volumes_mm3"] as JsonObject),
            ThicknessMm = ParseThickness(root["thickness_mm"] as JsonObject),
            Meshes = ParseMeshes(root["meshes"] as JsonObject),
            Side = Text(root["side"]),
            FemoralSubregions = root["femoral_subregions"] is JsonObject rule
                && Number(rule["split_x_mm"]) is { } x && Number(rule["notch_y_mm"]) is { } notch && Number(rule["posterior_y_mm"]) is { } posterior
                ? new SubregionSection(x, notch, posterior, Number(rule["weight_bearing_fraction"]))
                : null,
            Nsm = ParseNsm(root["nsm"] as JsonObject),
            NsmSkipped = Text(root["nsm_skipped"]) ?? Text((root["nsm_skipped"] as JsonObject)?["reason"]),
            BScore = bscore,
            BScoreBone = bone,
            BScoreReference = ParseReference(root["bscore_reference"] as JsonObject),
            Qc = ParseQc(root["qc"]),
            Steps = ParseSteps(root["steps"] as JsonArray),
            TimingsSeconds = Timings(root),
        };
    }

    /// <summary>timings_s as written; analyze's timings_ms converted to seconds (the document's one unit).</summary>
    private static Dictionary<string, double> Timings(JsonObject root)
    {
        if (Numbers(root["timings_s"] as JsonObject) is { } seconds)
        {
            return seconds;
        }

        var converted = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach ((string step, double ms) in Numbers(root["timings_ms"] as JsonObject) ?? [])
        {
            converted[step] = ms / 1000.0;
        }

        return converted;
    }

    private static PipelineOptions? ParseOptions(JsonObject? options)
    {
        if (options is null)
        {
            return null;
        }

        try
        {
            return options.Deserialize<PipelineOptions>();
        }
        catch (JsonException)
        {
            // An option of an unexpected kind: keep the ones pages show.
            return new PipelineOptions { Model = Text(options["model"]), SubjectId = Text(options["subject_id"]), KneeSide = Text(options["knee_side"]) ?? "auto", Nsm = Text(options["nsm"]) ?? "off" };
        }
    }

    private static ModelSection? ParseModel(JsonNode? model, JsonObject? segmentation)
    {
        if (model is JsonObject m)
        {
            return new ModelSection(Text(m["name"]) ?? Text(segmentation?["model"]), Text(m["version"]) ?? Text(segmentation?["model_version"]),
                Text(m["description"]), Text(m["sha256"]), Text(m["onnxruntime"]));
        }

        // Older files named the model with a string at the top, or only in the segmentation section.
        string? name = Text(model) ?? Text(segmentation?["model"]);
        return name is null ? null : new ModelSection(name, Text(segmentation?["model_version"]), null, null, null);
    }

    private static InputSection? ParseInput(JsonObject? input) => input is null ? null : new InputSection
    {
        FileName = Text(input["file_name"]),
        Format = Text(input["format"]),
        Dims = Vector(input["dims"] as JsonArray)?.Select(d => (int)d).ToList(),
        Frames = Int(input["frames"]),
        FrameUsed = Int(input["frame_used"]),
        DataType = Text(input["datatype"]),
        SpacingMm = Vector(input["spacing_mm"] as JsonArray),
        OriginRasMm = Vector(input["origin_ras_mm"] as JsonArray),
        AffineRas = Matrix(input["affine_ras"] as JsonArray),
        Metadata = input["metadata"] is JsonObject metadata ? Texts(metadata) : null,
    };

    private static ImageStatsSection? ParseImageStats(JsonObject? stats) =>
        stats is not null && Number(stats["min"]) is { } min && Number(stats["max"]) is { } max
            ? new ImageStatsSection(min, max, Number(stats["mean"]), Number(stats["sd"]),
                Number(stats["nonzero_fraction"]), (long)(Number(stats["non_finite_voxels"]) ?? 0))
            : null;

    private static SegmentationSection ParseSegmentation(JsonObject s) => new()
    {
        Model = Text(s["model"]),
        ModelVersion = Text(s["model_version"]),
        ExecutionProvider = Text(s["execution_provider"]),
        Fallbacks = (s["fallbacks"] as JsonArray ?? []).Select(Text).OfType<string>().ToList(),
        Tiles = Int(s["tiles"]),
        BatchSize = Int(s["batch_size"]),
        Mirrored = Bool(s["mirrored"]),
        SideMirrorAxis = Int(s["side_mirror_axis"]),
        ModelGrid = Vector(s["model_grid"] as JsonArray)?.Select(d => (int)d).ToList(),
        TimingsSeconds = Numbers(s["timings_s"] as JsonObject) ?? [],
    };

    private static Dictionary<string, ThicknessSection>? ParseThickness(JsonObject? obj)
    {
        if (obj is null)
        {
            return null;
        }

        var regions = new Dictionary<string, ThicknessSection>(StringComparer.Ordinal);
        foreach ((string region, JsonNode? node) in obj)
        {
            if (node is JsonObject r)
            {
                regions[region] = new ThicknessSection(Number(r["mean"]), Number(r["sd"]), Number(r["median"]), Number(r["p5"]), Number(r["p95"]),
                    Number(r["n"]) is { } n ? (long)n : null);
            }
            else if (Number(node) is { } mean)
            {
                regions[region] = new ThicknessSection(mean, null, null, null, null, null);
            }
        }

        return regions;
    }

    private static Dictionary<string, MeshSection>? ParseMeshes(JsonObject? obj)
    {
        if (obj is null)
        {
            return null;
        }

        var meshes = new Dictionary<string, MeshSection>(StringComparer.Ordinal);
        foreach ((string structure, JsonNode? node) in obj)
        {
            if (node is JsonObject m)
            {
                meshes[structure] = new MeshSection(Number(m["vertices"]) is { } v ? (long)v : null, Number(m["triangles"]) is { } t ? (long)t : null,
                    Bool(m["watertight"]), Number(m["area_mm2"]), Number(m["volume_mm3"]));
            }
        }

        return meshes;
    }

    private static NsmSection? ParseNsm(JsonObject? obj)
    {
        if (obj is null)
        {
            return null;
        }

        List<double>? latent = Vector(obj["latent"] as JsonArray);
        JsonObject? model = obj["model"] as JsonObject;
        JsonObject? transform = obj["transform"] as JsonObject;
        return new NsmSection
        {
            Mode = Text(obj["mode"]),
            // Older files named the model with a plain string.
            Model = (Text(model?["name"]) ?? Text(obj["model"])) is { } name
                ? new NsmModelSection(name, Text(model?["version"]) ?? Text(obj["model_version"]))
                : null,
            Latent = latent,
            LatentSize = latent?.Count ?? Int(obj["latent"]) ?? Int(obj["latent_size"]),
            AssdMm = Number(obj["assd_mm"]),
            Iterations = Int(obj["iterations"]),
            BestLoss = Number(obj["best_loss"]),
            Converged = Bool(obj["converged"]),
            FitTimeSeconds = Number(obj["fit_time_s"]),
            Mesh = Text(obj["mesh"]),
            Transform = transform is null ? null : new NsmTransformSection(
                Bool(transform["mirrored"]), Number(transform["scale"]), Matrix(transform["rotation"] as JsonArray), Vector(transform["translation_mm"] as JsonArray)),
        };
    }

    private static BScoreReferenceSection? ParseReference(JsonObject? obj)
    {
        if (obj is null)
        {
            return null;
        }

        JsonNode? axis = obj["axis_model"];
        string? axisModel = Text(axis) ?? (axis is JsonObject a
            ? $"{Text(a["name"])} {Text(a["version"])}".Trim() is { Length: > 0 } named ? named : null
            : null);
        return new BScoreReferenceSection(Number(obj["healthy_mean"]), Number(obj["healthy_sd"]), axisModel);
    }

    /// <summary>A number, {"value": v, "bone": b}, or one entry per bone ({"femur": v} or {"femur": {"value": v}}): the first bone's score.</summary>
    private static (double? Value, string? Bone) ParseBScore(JsonNode? node)
    {
        switch (node)
        {
            case JsonValue when Number(node) is { } single:
                return (single, null);
            case JsonObject obj when Number(obj["value"]) is { } value:
                return (value, Text(obj["bone"]));
            case JsonObject obj:
                foreach ((string bone, JsonNode? child) in obj)
                {
                    if ((Number(child) ?? (child is JsonObject inner ? Number(inner["value"]) ?? Number(inner["bscore"]) : null)) is { } v)
                    {
                        return (v, bone);
                    }
                }

                return (null, null);
            default:
                return (null, null);
        }
    }

    /// <summary>The pipeline wrote {"flags": [...]}; analyze wrote the list itself.</summary>
    private static QcSection? ParseQc(JsonNode? qc)
    {
        JsonArray? array = qc switch
        {
            JsonObject o => o["flags"] as JsonArray ?? [],
            JsonArray a => a,
            _ => null,
        };
        if (array is null)
        {
            return null;
        }

        var flags = new List<QcFlagSection>();
        foreach (JsonNode? node in array)
        {
            if (node is JsonObject flag)
            {
                flags.Add(new QcFlagSection(Text(flag["code"]) ?? "QC", QcVerdicts.ParseSeverity(Text(flag["severity"]) ?? "info"), Text(flag["structure"]), Text(flag["message"]) ?? ""));
            }
        }

        return QcSection.Of(flags);
    }

    private static List<StepSection> ParseSteps(JsonArray? array)
    {
        var steps = new List<StepSection>();
        foreach (JsonNode? node in array ?? [])
        {
            if (node is JsonObject step && Text(step["name"]) is { } name)
            {
                StepState state = Enum.TryParse(Text(step["state"]), ignoreCase: true, out StepState s) && Enum.IsDefined(s) ? s : StepState.Pending;
                steps.Add(new StepSection(Int(step["index"]) ?? 0, name, state, Number(step["duration_s"]), Text(step["reason"])));
            }
        }

        return steps;
    }

    /// <summary>A number from a JSON value that may be a number or a numeric string; null when not finite.</summary>
    internal static double? Number(JsonNode? node)
    {
        if (node is not JsonValue value)
        {
            return null;
        }

        if (value.GetValueKind() == JsonValueKind.Number && value.TryGetValue(out double d))
        {
            return double.IsFinite(d) ? d : null;
        }

        return value.TryGetValue(out string? s) && double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out double parsed) && double.IsFinite(parsed) ? parsed : null;
    }

    private static int? Int(JsonNode? node) => Number(node) is { } d && d >= int.MinValue && d <= int.MaxValue ? (int)d : null;

    private static string? Text(JsonNode? node) =>
        node is JsonValue value && value.GetValueKind() == JsonValueKind.String && value.TryGetValue(out string? s) && !string.IsNullOrWhiteSpace(s) ? s : null;

    private static bool? Bool(JsonNode? node) =>
        node is JsonValue value && value.GetValueKind() is JsonValueKind.True or JsonValueKind.False ? value.GetValue<bool>() : null;

    private static Dictionary<string, double>? Numbers(JsonObject? obj)
    {
        if (obj is null)
        {
            return null;
        }

        var numbers = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach ((string key, JsonNode? node) in obj)
        {
            if (Number(node) is { } v)
            {
                numbers[key] = v;
            }
        }

        return numbers;
    }

    private static Dictionary<string, string> Texts(JsonObject obj)
    {
        var texts = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach ((string key, JsonNode? node) in obj)
        {
            if (Text(node) is { } t)
            {
                texts[key] = t;
            }
        }

        return texts;
    }

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
}
