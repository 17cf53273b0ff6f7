using System.Runtime.CompilerServices;
using KneeWeb.Imaging.Meshing;
using KneeWeb.Imaging.Segmentation;

namespace KneeWeb.Imaging.Thickness;

/// <summary>Settings of <see cref="CartilageThickness.Measure"/> (the lab's established ray method).</summary>
public sealed record ThicknessOptions
{
    /// <summary>How far the ray searches outward from the bone surface (mm).</summary>
    public double OutwardMm { get; init; } = 10.0;

    /// <summary>Where the ray starts inside the bone (mm), so cartilage that dips under the bone mesh is still entered.</summary>
    public double InwardMm { get; init; } = 2.5;

    /// <summary>The cartilage must be entered within this distance of the bone surface to belong to the vertex (mm).</summary>
    public double MaxEntryOffsetMm { get; init; } = 2.5;
}

/// <summary>Thickness statistics of one plate or subregion over bone-mesh vertices with cartilage (mm).</summary>
/// <param name="Region">Structure name (femoral_cartilage, femoral_medial_weight_bearing, medial_tibial_cartilage...).</param>
/// <param name="Label">Schema label of the region.</param>
/// <param name="Mean">Mean thickness.</param>
/// <param name="Sd">Standard deviation (population, as numpy's default).</param>
/// <param name="Median">Median.</param>
/// <param name="P5">5th percentile (linear interpolation, as numpy's default).</param>
/// <param name="P95">95th percentile.</param>
/// <param name="N">Number of vertices.</param>
public sealed record RegionThickness(string Region, byte Label, double Mean, double Sd, double Median, double P5, double P95, int N);

/// <summary>
/// Cartilage thickness by the lab's method: from every bone-surface vertex a ray is cast along the vertex
/// normal (from <see cref="ThicknessOptions.InwardMm"/> inside the bone to <see cref="ThicknessOptions.OutwardMm"/>
/// outside); where it enters and then leaves the cartilage surface, the distance between those two crossings
/// is the thickness. Results are stored on the bone mesh as the point-data arrays <c>thickness_mm</c>
/// (0 where there is no cartilage) and <c>region</c> (the label of the plate or subregion, 0 where none).
/// </summary>
public static class CartilageThickness
{
    public const string ThicknessArray = "thickness_mm";
    public const string RegionArray = "region";

    /// <summary>
    /// Measures every plate whose bone and cartilage meshes are present (femur with 4, tibia with 5 and 6,
    /// patella with 7) and returns the statistics per plate and femoral subregion.
    /// </summary>
    public static IReadOnlyList<RegionThickness> Measure(IReadOnlyDictionary<byte, TriangleMesh> meshes, FemoralSubregionRule? subregions,
        ThicknessOptions options, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(meshes);
        ArgumentNullException.ThrowIfNull(options);
        var stats = new List<RegionThickness>();
        (byte Bone, byte[] Cartilage)[] plates =
        [
            (KneeLabels.Femur, [KneeLabels.FemoralCartilage]),
            (KneeLabels.Tibia, [KneeLabels.MedialTibialCartilage, KneeLabels.LateralTibialCartilage]),
            (KneeLabels.Patella, [KneeLabels.PatellarCartilage]),
        ];
        foreach ((byte bone, byte[] cartilage) in plates)
        {
            ct.ThrowIfCancellationRequested();
            if (!meshes.TryGetValue(bone, out TriangleMesh? boneMesh))
            {
                continue;
            }

            var targets = new List<(byte Label, TriangleBvh Bvh)>();
            foreach (byte label in cartilage)
            {
                if (meshes.TryGetValue(label, out TriangleMesh? mesh) && mesh.TriangleCount > 0)
                {
                    targets.Add((label, new TriangleBvh(mesh)));
                }
            }

            MeasureBone(boneMesh, targets, bone == KneeLabels.Femur ? subregions : null, options, ct);
            float[] thickness = boneMesh.PointData[ThicknessArray];
            float[] region = boneMesh.PointData[RegionArray];
            if (bone == KneeLabels.Femur)
            {
                stats.Add(Summarise(KneeLabels.FemoralCartilage, thickness, region, v => v > 0));
                if (subregions is not null)
                {
                    foreach (byte sub in KneeLabels.FemoralSubregions)
                    {
                        stats.Add(Summarise(sub, thickness, region, v => v == sub));
                    }
                }
            }
            else
            {
                foreach (byte label in cartilage)
                {
                    stats.Add(Summarise(label, thickness, region, v => v == label));
                }
            }
        }

        return stats;
    }

    /// <summary>Casts the rays of one bone against its cartilage surfaces and stores the per-vertex arrays.</summary>
    public static void MeasureBone(TriangleMesh bone, IReadOnlyList<(byte Label, TriangleBvh Bvh)> cartilage, FemoralSubregionRule? subregions,
        ThicknessOptions options, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(bone);
        ArgumentNullException.ThrowIfNull(cartilage);
        ArgumentNullException.ThrowIfNull(options);
        double[] normals = bone.ComputeVertexNormals();
        int n = bone.VertexCount;
        var thickness = new float[n];
        var region = new float[n];
        int chunks = Math.Max(1, Math.Min(n, Environment.ProcessorCount * 8));
        Parallel.For(0, chunks, new ParallelOptions { CancellationToken = ct }, () => new List<RayHit>(16), (c, _, hits) =>
        {
            MeasureRange(bone, normals, cartilage, subregions, options, n * c / chunks, n * (c + 1) / chunks, thickness, region, hits);
            return hits;
        }, _ => { });
        bone.PointData[ThicknessArray] = thickness;
        bone.PointData[RegionArray] = region;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void MeasureRange(TriangleMesh bone, double[] normals, IReadOnlyList<(byte Label, TriangleBvh Bvh)> cartilage,
        FemoralSubregionRule? subregions, ThicknessOptions options, int from, int to, float[] thickness, float[] region, List<RayHit> hits)
    {
        double length = options.InwardMm + options.OutwardMm;
        for (int v = from; v < to; v++)
        {
            var normal = new Vec3d(normals[3 * v], normals[(3 * v) + 1], normals[(3 * v) + 2]);
            if (normal.X == 0 && normal.Y == 0 && normal.Z == 0)
            {
                continue;
            }

            Vec3d origin = bone.Vertex(v) - (normal * options.InwardMm);
            double bestEntry = double.MaxValue, bestThickness = 0;
            byte bestLabel = 0;
            for (int t = 0; t < cartilage.Count; t++)
            {
                cartilage[t].Bvh.Cast(origin, normal, length, hits);
                if (!EntryExit(hits, options.InwardMm, options.MaxEntryOffsetMm, out double entry, out double exit))
                {
                    continue;
                }

                if (entry < bestEntry)
                {
                    bestEntry = entry;
                    bestThickness = exit - entry;
                    bestLabel = cartilage[t].Label;
                    if (subregions is not null)
                    {
                        bestLabel = subregions.Classify(origin + (normal * (0.5 * (entry + exit))));
                    }
                }
            }

            thickness[v] = (float)bestThickness;
            region[v] = bestLabel;
        }
    }

    // The first entering crossing near the bone surface, and the first leaving crossing after it.
    private static bool EntryExit(List<RayHit> hits, double boneAt, double maxOffset, out double entry, out double exit)
    {
        entry = exit = 0;
        int e = -1;
        for (int h = 0; h < hits.Count; h++)
        {
            if (hits[h].Entering)
            {
                if (Math.Abs(hits[h].Distance - boneAt) <= maxOffset)
                {
                    e = h;
                }

                break;
            }
        }

        if (e < 0)
        {
            return false;
        }

        for (int h = e + 1; h < hits.Count; h++)
        {
            if (!hits[h].Entering)
            {
                entry = hits[e].Distance;
                exit = hits[h].Distance;
                return true;
            }
        }

        return false;
    }

    private static RegionThickness Summarise(byte label, float[] thickness, float[] region, Func<float, bool> member)
    {
        var values = new List<double>();
        for (int v = 0; v < thickness.Length; v++)
        {
            if (thickness[v] > 0 && member(region[v]))
            {
                values.Add(thickness[v]);
            }
        }

        return Summarise(KneeLabels.Name(label), label, values);
    }

    /// <summary>Mean, SD (population), median, 5th and 95th percentiles (linear interpolation) and count.</summary>
    public static RegionThickness Summarise(string name, byte label, List<double> values)
    {
        ArgumentNullException.ThrowIfNull(values);
        if (values.Count == 0)
        {
            return new RegionThickness(name, label, double.NaN, double.NaN, double.NaN, double.NaN, double.NaN, 0);
        }

        values.Sort();
        double mean = 0;
        foreach (double x in values)
        {
            mean += x;
        }

        mean /= values.Count;
        double sq = 0;
        foreach (double x in values)
        {
            sq += (x - mean) * (x - mean);
        }

        return new RegionThickness(name, label, mean, Math.Sqrt(sq / values.Count), Percentile(values, 50), Percentile(values, 5), Percentile(values, 95), values.Count);
    }

    /// <summary>Percentile of sorted values with linear interpolation between closest ranks (numpy's default).</summary>
    public static double Percentile(List<double> sorted, double percent)
    {
        ArgumentNullException.ThrowIfNull(sorted);
        double rank = percent / 100.0 * (sorted.Count - 1);
        int lo = (int)Math.Floor(rank);
        int hi = Math.Min(sorted.Count - 1, lo + 1);
        return sorted[lo] + ((rank - lo) * (sorted[hi] - sorted[lo]));
    }
}
