using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using KneeWeb.Imaging.Meshing;
using KneeWeb.Imaging.Segmentation;
using KneeWeb.Imaging.ShapeModel;
using KneeWeb.Imaging.Thickness;

namespace KneeWeb.Imaging.Analysis;

/// <summary>Neural shape model choice of a job.</summary>
public enum NsmMode
{
    Off,
    Bone,
    BoneAndCartilage,
}

/// <summary>Settings of <see cref="KneeAnalysis.Run"/>; each step's own settings object is kept apart.</summary>
public sealed record AnalysisOptions
{
    public PostprocessOptions Postprocess { get; init; } = new();

    public MeshOptions Meshes { get; init; } = new();

    public bool Thickness { get; init; } = true;

    public ThicknessOptions ThicknessSettings { get; init; } = new();

    /// <summary>Share of the notch-to-posterior distance that is weight-bearing femoral cartilage.</summary>
    public double WeightBearingFraction { get; init; } = 0.6;

    public NsmMode Nsm { get; init; } = NsmMode.Off;

    /// <summary>The loaded shape model (the caller loads it, e.g. on ONNX Runtime); required when <see cref="Nsm"/> is on.</summary>
    public NsmModel? ShapeModel { get; init; }

    /// <summary>Fit settings (learning rate, iterations, reconstruction resolution...); the mode comes from <see cref="Nsm"/>.</summary>
    public NsmFitOptions NsmSettings { get; init; } = new();
}

/// <summary>Everything the analysis found; <see cref="ToStatsJson"/> is the part that goes into stats.json.</summary>
public sealed class AnalysisResult
{
    public required Volume Labels { get; init; }

    /// <summary>The cleaned labels with femoral cartilage split into subregions 11-15 (null when the split failed).</summary>
    public Volume? LabelsWithSubregions { get; init; }

    public required IReadOnlyDictionary<string, double> VolumesMm3 { get; init; }

    public required IReadOnlyList<QcFlag> Qc { get; init; }

    public required IReadOnlyDictionary<byte, StructureMesh> Meshes { get; init; }

    public required IReadOnlyList<RegionThickness> Thickness { get; init; }

    public FemoralSubregionRule? Subregions { get; init; }

    public KneeSide? Side { get; init; }

    /// <summary>Why the shape model did not run, or null when it ran.</summary>
    public string? NsmSkippedReason { get; set; }

    /// <summary>The shape-model fit (latent, transform, ASSD, mesh, BScore), or null when it did not run.</summary>
    public NsmFitResult? Nsm { get; set; }

    public required IReadOnlyDictionary<string, double> TimingsMs { get; init; }

    /// <summary>
    /// The analysis part of stats.json: <c>volumes_mm3</c>, <c>thickness_mm</c> (per plate and subregion:
    /// mean, sd, median, p5, p95, n), <c>nsm</c> and <c>bscore</c> (null until the shape model runs, with
    /// <c>nsm_skipped</c> saying why), <c>qc</c>, <c>side</c>, <c>femoral_subregions</c>, <c>meshes</c>, <c>timings_ms</c>.
    /// </summary>
    public JsonObject ToStatsJson()
    {
        var volumes = new JsonObject();
        foreach ((string name, double mm3) in VolumesMm3.OrderBy(kv => kv.Key, StringComparer.Ordinal))
        {
            volumes[name] = Math.Round(mm3, 3);
        }

        var thickness = new JsonObject();
        foreach (RegionThickness r in Thickness)
        {
            thickness[r.Region] = new JsonObject
            {
                ["mean"] = Number(r.Mean),
                ["sd"] = Number(r.Sd),
                ["median"] = Number(r.Median),
                ["p5"] = Number(r.P5),
                ["p95"] = Number(r.P95),
                ["n"] = r.N,
            };
        }

        var qc = new JsonArray();
        foreach (QcFlag flag in Qc)
        {
            qc.Add(new JsonObject
            {
                ["code"] = flag.Code,
                ["severity"] = flag.Severity.ToString().ToLowerInvariant(),
                ["structure"] = flag.Structure,
                ["message"] = flag.Message,
            });
        }

        var meshes = new JsonObject();
        foreach ((byte label, StructureMesh mesh) in Meshes.OrderBy(kv => kv.Key))
        {
            meshes[KneeLabels.Name(label)] = new JsonObject
            {
                ["vertices"] = mesh.Mesh.VertexCount,
                ["triangles"] = mesh.Mesh.TriangleCount,
                ["watertight"] = mesh.Watertight,
                ["area_mm2"] = Math.Round(mesh.Mesh.SurfaceAreaMm2(), 2),
                ["volume_mm3"] = Math.Round(mesh.Mesh.SignedVolumeMm3(), 2),
            };
        }

        var timings = new JsonObject();
        foreach ((string step, double ms) in TimingsMs)
        {
            timings[step] = Math.Round(ms, 1);
        }

        return new JsonObject
        {
            ["volumes_mm3"] = volumes,
            ["thickness_mm"] = thickness,
            ["nsm"] = Nsm is null ? null : NsmOutputs.NsmJson(Nsm),
            ["bscore"] = Nsm?.BScore,
            ["bscore_reference"] = Nsm is null ? null : NsmOutputs.ReferenceJson(Nsm.BScoreReference),
            ["nsm_skipped"] = Nsm is null ? NsmSkippedReason : null,
            ["qc"] = qc,
            ["side"] = Side?.ToString().ToLowerInvariant(),
            ["femoral_subregions"] = Subregions is null ? null : new JsonObject
            {
                ["split_x_mm"] = Math.Round(Subregions.SplitXMm, 3),
                ["notch_y_mm"] = Math.Round(Subregions.NotchYMm, 3),
                ["posterior_y_mm"] = Math.Round(Subregions.PosteriorYMm, 3),
                ["weight_bearing_fraction"] = Subregions.WeightBearingFraction,
            },
            ["meshes"] = meshes,
            ["timings_ms"] = timings,
        };
    }

    /// <summary>
    /// Writes meshes per structure (<c>&lt;name&gt;.vtk</c> with point data, <c>.stl</c>, <c>.ply</c>), thickness per
    /// plate and subregion (<c>thickness.csv</c>, <c>thickness.json</c>) and <c>analysis.json</c> (= <see cref="ToStatsJson"/>).
    /// Returns the files written.
    /// </summary>
    public IReadOnlyList<string> WriteOutputs(string folder)
    {
        ArgumentException.ThrowIfNullOrEmpty(folder);
        Directory.CreateDirectory(folder);
        var written = new List<string>();
        string meshFolder = Path.Combine(folder, "meshes");
        Directory.CreateDirectory(meshFolder);
        foreach ((byte label, StructureMesh mesh) in Meshes)
        {
            string name = KneeLabels.Name(label);
            foreach (string extension in new[] { ".vtk", ".stl", ".ply" })
            {
                string path = Path.Combine(meshFolder, name + extension);
                if (extension == ".vtk")
                {
                    MeshIo.WriteVtk(mesh.Mesh, path, $"KneeWeb {name} (RAS mm)");
                }
                else
                {
                    MeshIo.Write(mesh.Mesh, path);
                }

                written.Add(path);
            }
        }

        var csv = new StringBuilder("region,label,mean_mm,sd_mm,median_mm,p5_mm,p95_mm,n\n");
        foreach (RegionThickness r in Thickness)
        {
            csv.Append(CultureInfo.InvariantCulture, $"{r.Region},{r.Label},{Csv(r.Mean)},{Csv(r.Sd)},{Csv(r.Median)},{Csv(r.P5)},{Csv(r.P95)},{r.N}\n");
        }

        string csvPath = Path.Combine(folder, "thickness.csv");
        File.WriteAllText(csvPath, csv.ToString());
        written.Add(csvPath);
        JsonObject stats = ToStatsJson();
        string thicknessPath = Path.Combine(folder, "thickness.json");
        File.WriteAllText(thicknessPath, stats["thickness_mm"]!.ToJsonString(Indented));
        written.Add(thicknessPath);
        if (Nsm is not null)
        {
            written.AddRange(NsmOutputs.Write(folder, Nsm));
        }

        string analysisPath = Path.Combine(folder, "analysis.json");
        File.WriteAllText(analysisPath, stats.ToJsonString(Indented));
        written.Add(analysisPath);
        return written;
    }

    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    private static JsonValue? Number(double value) => double.IsFinite(value) ? JsonValue.Create(Math.Round(value, 4)) : null;

    private static string Csv(double value) => double.IsFinite(value) ? value.ToString("F4", CultureInfo.InvariantCulture) : "";
}

/// <summary>
/// The knee analysis after segmentation: postprocessing, meshes, cartilage thickness by region, and the
/// neural shape model fit and BScore (the caller loads the model; see <see cref="AnalysisOptions.ShapeModel"/>). Each step is callable on its own; <see cref="Run"/> chains them and
/// reports progress with the pipeline's step names.
/// </summary>
public static class KneeAnalysis
{
    public const string PostprocessStep = "Postprocessing results";
    public const string MeshStep = "Generating 3D meshes";
    public const string ThicknessStep = "Calculating cartilage thickness";
    public const string NsmStep = "Running Neural Shape Model";
    public const string BScoreStep = "Computing BScore";

    /// <summary>
    /// Runs postprocessing, meshing, thickness and (when <see cref="AnalysisOptions.Nsm"/> is on) the shape-model
    /// fit and BScore. <paramref name="image"/> is accepted for intensity QC and not used yet.
    /// </summary>
    /// <exception cref="NsmFailedException">The shape model was asked for and could not be fitted (or was not given).</exception>
    public static AnalysisResult Run(Volume labels, Volume? image, AnalysisOptions options, IProgress<(string Step, double Fraction)>? progress, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(labels);
        ArgumentNullException.ThrowIfNull(options);
        _ = image;
        var timings = new Dictionary<string, double>(StringComparer.Ordinal);
        var watch = Stopwatch.StartNew();

        progress?.Report((PostprocessStep, 0));
        PostprocessResult clean = Postprocess(labels, options.Postprocess, ct);
        var qc = new List<QcFlag>(clean.Qc);
        timings["postprocess"] = watch.Elapsed.TotalMilliseconds;
        progress?.Report((PostprocessStep, 1));

        watch.Restart();
        progress?.Report((MeshStep, 0));
        IReadOnlyDictionary<byte, StructureMesh> meshes = BuildMeshes(clean.Labels, options.Meshes,
            progress is null ? null : new Progress<double>(f => progress.Report((MeshStep, f))), ct);
        foreach (StructureMesh mesh in meshes.Values)
        {
            if (!mesh.Watertight)
            {
                qc.Add(new QcFlag("MESH_NOT_WATERTIGHT", QcSeverity.Warning, KneeLabels.Name(mesh.Label), mesh.WatertightProblem));
            }
        }

        timings["meshes"] = watch.Elapsed.TotalMilliseconds;
        progress?.Report((MeshStep, 1));

        watch.Restart();
        IReadOnlyList<RegionThickness> thickness = [];
        FemoralSubregionRule? rule = null;
        Volume? withSubregions = null;
        KneeSide? side = FemoralSubregions.DetectSide(clean.Labels);
        if (side is null)
        {
            qc.Add(new QcFlag("SIDE_UNKNOWN", QcSeverity.Warning, "knee", "The knee side could not be told: one or both tibial cartilage plates are missing."));
        }

        if (options.Thickness)
        {
            progress?.Report((ThicknessStep, 0));
            (rule, thickness) = MeasureThickness(clean.Labels, meshes, options, qc, ct);
            if (rule is not null)
            {
                withSubregions = FemoralSubregions.Apply(clean.Labels, rule);
            }

            progress?.Report((ThicknessStep, 1));
        }

        timings["thickness"] = watch.Elapsed.TotalMilliseconds;
        NsmFitResult? nsm = null;
        if (options.Nsm != NsmMode.Off)
        {
            watch.Restart();
            NsmModel model = options.ShapeModel
                ?? throw new NsmFailedException("The neural shape model was asked for, but no shape model was loaded.");
            progress?.Report((NsmStep, 0));
            nsm = FitShapeModel(clean.Labels, meshes, model, options.NsmSettings with { Mode = options.Nsm == NsmMode.Bone ? NsmFitMode.Bone : NsmFitMode.BoneAndCartilage },
                progress is null ? null : new Progress<double>(f => progress.Report((NsmStep, f))), ct);
            progress?.Report((NsmStep, 1));
            progress?.Report((BScoreStep, 1));
            timings["nsm"] = watch.Elapsed.TotalMilliseconds;
        }

        return new AnalysisResult
        {
            Labels = clean.Labels,
            LabelsWithSubregions = withSubregions,
            VolumesMm3 = withSubregions is null
                ? clean.VolumesMm3
                : Postprocessing.ComputeVolumesMm3((byte[])withSubregions.Voxels, Math.Abs(labels.Geometry.IndexToRas.Determinant)),
            Qc = qc,
            Meshes = meshes,
            Thickness = thickness,
            Subregions = rule,
            Side = side,
            NsmSkippedReason = options.Nsm == NsmMode.Off ? "The neural shape model was turned off." : null,
            Nsm = nsm,
            TimingsMs = timings,
        };
    }

    /// <summary>
    /// Fits the shape model to the femur (reusing the femur mesh when there is one) and computes the BScore.
    /// </summary>
    /// <exception cref="NsmFailedException">No femur, or the fit failed; the message says why.</exception>
    public static NsmFitResult FitShapeModel(Volume labels, IReadOnlyDictionary<byte, StructureMesh> meshes, NsmModel model, NsmFitOptions options,
        IProgress<double>? progress = null, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(meshes);
        if (!meshes.TryGetValue(KneeLabels.Femur, out StructureMesh? femur) || femur.Mesh.VertexCount == 0)
        {
            throw new NsmFailedException("The segmentation has no femur (label 1) to fit the shape model to.");
        }

        return NsmFitter.Fit(labels, femur.Mesh, model, options, progress, ct);
    }

    public static PostprocessResult Postprocess(Volume labels, PostprocessOptions options, CancellationToken ct = default) =>
        Postprocessing.Run(labels, options, ct);

    public static IReadOnlyDictionary<byte, StructureMesh> BuildMeshes(Volume labels, MeshOptions options, IProgress<double>? progress = null, CancellationToken ct = default) =>
        KneeMeshes.Build(labels, options, progress, ct);

    /// <summary>
    /// Finds the femoral subregions and measures thickness on the bone meshes (which receive the
    /// <c>thickness_mm</c> and <c>region</c> point-data arrays). Problems become QC flags.
    /// </summary>
    public static (FemoralSubregionRule? Rule, IReadOnlyList<RegionThickness> Stats) MeasureThickness(Volume labels,
        IReadOnlyDictionary<byte, StructureMesh> meshes, AnalysisOptions options, List<QcFlag> qc, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(meshes);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(qc);
        FemoralSubregionRule? rule = FemoralSubregions.Detect(labels, out string reason, options.WeightBearingFraction);
        if (rule is null && meshes.ContainsKey(KneeLabels.FemoralCartilage))
        {
            qc.Add(new QcFlag("SUBREGIONS_UNAVAILABLE", QcSeverity.Warning, "femoral_cartilage", $"Femoral subregions were not computed: {reason}."));
        }

        var plain = new Dictionary<byte, TriangleMesh>();
        foreach ((byte label, StructureMesh mesh) in meshes)
        {
            plain[label] = mesh.Mesh;
        }

        IReadOnlyList<RegionThickness> stats = CartilageThickness.Measure(plain, rule, options.ThicknessSettings, ct);
        foreach (RegionThickness r in stats)
        {
            if (r.N == 0)
            {
                qc.Add(new QcFlag("THICKNESS_MISSING", QcSeverity.Warning, r.Region, $"No bone vertex found cartilage of {r.Region}."));
            }
        }

        return (rule, stats);
    }
}
