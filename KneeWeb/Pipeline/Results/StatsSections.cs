using KneeWeb.Imaging;
using KneeWeb.Imaging.Meshing;
using KneeWeb.Imaging.Segmentation;
using KneeWeb.Imaging.ShapeModel;
using KneeWeb.Imaging.Thickness;

namespace KneeWeb.Pipeline.Results;

/// <summary>
/// Turns the analysis' own results into document sections, with the rounding stats.json has always had
/// (volumes 0.001 mm3, thickness 0.0001 mm, mesh areas and volumes 0.01).
/// </summary>
public static class StatsSections
{
    public static Dictionary<string, double> Volumes(IReadOnlyDictionary<string, double> volumesMm3)
    {
        ArgumentNullException.ThrowIfNull(volumesMm3);
        var volumes = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach ((string name, double mm3) in volumesMm3.OrderBy(kv => kv.Key, StringComparer.Ordinal))
        {
            volumes[name] = Math.Round(mm3, 3);
        }

        return volumes;
    }

    public static Dictionary<string, ThicknessSection> Thickness(IReadOnlyList<RegionThickness> regions)
    {
        ArgumentNullException.ThrowIfNull(regions);
        var thickness = new Dictionary<string, ThicknessSection>(StringComparer.Ordinal);
        foreach (RegionThickness r in regions)
        {
            thickness[r.Region] = new ThicknessSection(Finite(r.Mean, 4), Finite(r.Sd, 4), Finite(r.Median, 4), Finite(r.P5, 4), Finite(r.P95, 4), r.N);
        }

        return thickness;
    }

    public static Dictionary<string, MeshSection> Meshes(IReadOnlyDictionary<byte, StructureMesh> meshes)
    {
        ArgumentNullException.ThrowIfNull(meshes);
        var sections = new Dictionary<string, MeshSection>(StringComparer.Ordinal);
        foreach ((byte label, StructureMesh mesh) in meshes.OrderBy(kv => kv.Key))
        {
            sections[KneeLabels.Name(label)] = new MeshSection(mesh.Mesh.VertexCount, mesh.Mesh.TriangleCount, mesh.Watertight,
                Math.Round(mesh.Mesh.SurfaceAreaMm2(), 2), Math.Round(mesh.Mesh.SignedVolumeMm3(), 2));
        }

        return sections;
    }

    public static SubregionSection? Subregions(FemoralSubregionRule? rule) => rule is null
        ? null
        : new SubregionSection(Math.Round(rule.SplitXMm, 3), Math.Round(rule.NotchYMm, 3), Math.Round(rule.PosteriorYMm, 3), rule.WeightBearingFraction);

    public static string? Side(KneeSide? side) => side?.ToString().ToLowerInvariant();

    public static QcSection Qc(IEnumerable<QcFlag> flags)
    {
        ArgumentNullException.ThrowIfNull(flags);
        return QcSection.Of([.. flags.Select(f => new QcFlagSection(f.Code, f.Severity, f.Structure, f.Message))]);
    }

    public static NsmSection Nsm(NsmFitResult fit)
    {
        ArgumentNullException.ThrowIfNull(fit);
        Vec3d t = fit.Transform.TranslationMm;
        return new NsmSection
        {
            Mode = NsmOutputs.ModeName(fit.Mode),
            Model = new NsmModelSection(fit.ModelName, fit.ModelVersion),
            Latent = [.. fit.Latent.Select(v => (double)v)],
            LatentSize = fit.Latent.Length,
            AssdMm = Finite(fit.AssdMm, 4),
            Iterations = fit.Iterations,
            BestLoss = Finite(fit.BestLoss, 6),
            Converged = fit.Converged,
            Transform = new NsmTransformSection(
                fit.Mirrored,
                Math.Round(fit.Transform.Scale, 9),
                [.. fit.Transform.RotationRows().Select(row => (IReadOnlyList<double>)[Math.Round(row[0], 9), Math.Round(row[1], 9), Math.Round(row[2], 9)])],
                [Math.Round(t.X, 6), Math.Round(t.Y, 6), Math.Round(t.Z, 6)]),
            FitTimeSeconds = Math.Round(fit.FitTimeSeconds, 3),
            Mesh = NsmOutputs.MeshFileName,
        };
    }

    public static BScoreReferenceSection Reference(BScoreReference reference)
    {
        ArgumentNullException.ThrowIfNull(reference);
        return new BScoreReferenceSection(Finite(reference.HealthyMean), Finite(reference.HealthySd), reference.AxisModel);
    }

    public static List<StepSection> Steps(IEnumerable<StepRecord> records)
    {
        ArgumentNullException.ThrowIfNull(records);
        return [.. records.Select(r => new StepSection(r.Index, r.Name, r.State, r.DurationSeconds, r.Reason))];
    }

    /// <summary>Null for NaN or infinity (JSON has no such numbers; a page shows "not measured").</summary>
    private static double? Finite(double value, int digits) => double.IsFinite(value) ? Math.Round(value, digits) : null;

    private static double? Finite(double value) => double.IsFinite(value) ? value : null;
}
