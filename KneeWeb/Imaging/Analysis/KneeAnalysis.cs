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

/// <summary>Settings of the analysis computations; each step's own settings object is kept apart.</summary>
public sealed record AnalysisOptions
{
    public PostprocessOptions Postprocess { get; init; } = new();

    public MeshOptions Meshes { get; init; } = new();

    public ThicknessOptions ThicknessSettings { get; init; } = new();

    /// <summary>Share of the notch-to-posterior distance that is weight-bearing femoral cartilage.</summary>
    public double WeightBearingFraction { get; init; } = 0.6;
}

/// <summary>Everything the analysis found, and the files it writes beside stats.json (stats.json itself is the pipeline's typed document).</summary>
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

    /// <summary>
    /// Writes meshes per structure (<c>&lt;name&gt;.vtk</c> with point data, <c>.stl</c>, <c>.ply</c>), thickness per
    /// plate and subregion (<c>thickness.csv</c>, <c>thickness.json</c>) and the shape-model files when it ran.
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
        string thicknessPath = Path.Combine(folder, "thickness.json");
        File.WriteAllText(thicknessPath, ThicknessJson().ToJsonString(Indented));
        written.Add(thicknessPath);
        if (Nsm is not null)
        {
            written.AddRange(NsmOutputs.Write(folder, Nsm));
        }

        return written;
    }

    /// <summary>thickness.json: per plate and subregion mean, sd, median, p5, p95 (mm) and n.</summary>
    private JsonObject ThicknessJson()
    {
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

        return thickness;
    }

    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    private static JsonValue? Number(double value) => double.IsFinite(value) ? JsonValue.Create(Math.Round(value, 4)) : null;

    private static string Csv(double value) => double.IsFinite(value) ? value.ToString("F4", CultureInfo.InvariantCulture) : "";
}

/// <summary>
/// The knee analysis' computations after segmentation: postprocessing, meshes, cartilage thickness by
/// region and the shape-model fit. Each is a library function; the order they run in is the pipeline's one
/// recipe (KneeWeb.Pipeline.KneePipeline), which the site, `KneeWeb process` and `KneeWeb analyze` share.
/// </summary>
public static class KneeAnalysis
{
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
