using KneeWeb.Imaging;
using KneeWeb.Imaging.Meshing;
using KneeWeb.Imaging.Phantom;
using KneeWeb.Imaging.Segmentation;
using KneeWeb.Imaging.Thickness;
using Xunit;
using Xunit.Abstractions;

namespace KneeWeb.Tests.Imaging.Meshing;

[Trait("Category", "unit")]
public class KneeMeshesTests(FullPhantomFixture phantom, ITestOutputHelper output) : IClassFixture<FullPhantomFixture>
{
    [Fact]
    public void Meshes_are_watertight_resampled_and_bones_lie_within_half_a_voxel_of_the_analytic_surface()
    {
        MeshOptions options = new();
        foreach (StructureMesh structure in phantom.Analysed.Meshes.Values)
        {
            Assert.True(structure.Watertight, $"{KneeLabels.Name(structure.Label)}: {structure.WatertightProblem}");
            Assert.True(structure.Mesh.SignedVolumeMm3() > 0, $"{KneeLabels.Name(structure.Label)} faces inward");
        }

        double halfVoxel = 0.5 * 0.36;
        foreach (byte label in new byte[] { KneeLabels.Femur, KneeLabels.Tibia, KneeLabels.Patella })
        {
            TriangleMesh mesh = phantom.Analysed.Meshes[label].Mesh;
            int target = options.TargetVertices[label];
            Assert.InRange(mesh.VertexCount, target * 0.99, target * 1.01);
            var distances = new List<double>();
            for (int v = 0; v < mesh.VertexCount; v++)
            {
                Vec3d point = mesh.Vertex(v);
                // Skip where the field of view cuts the bone (the mesh closes there by design).
                if (!phantom.InsideFieldOfView(point, 1.5))
                {
                    continue;
                }

                distances.Add(Math.Abs(phantom.Result.Truth.BoneDistance(label, point)));
            }

            distances.Sort();
            double mean = distances.Average(), p95 = CartilageThickness.Percentile(distances, 95);
            output.WriteLine($"{KneeLabels.Name(label)}: {mesh.VertexCount} vertices, |distance| mean {mean:F3} mm, p95 {p95:F3} mm, max {distances[^1]:F3} mm");
            // Mean surface distance within half a voxel (the bar) with room to spare; the tail comes from
            // the analytic model's sharp concave creases where bone pieces meet, which smoothing rounds off.
            Assert.True(mean < halfVoxel / 2, $"mean {mean}");
            Assert.True(p95 < 1.5 * halfVoxel, $"p95 {p95}");
        }
    }
}

/// <summary>The full-size phantom (384x384x160) analysed once per test run and shared by the accuracy tests.</summary>
public sealed class FullPhantomFixture
{
    private static readonly Lazy<AnalysedPhantom> Shared = new(AnalysedPhantom.Create);

    public FullPhantomFixture()
    {
        Analysed = Shared.Value;
        inverse = Result.Labels.Geometry.IndexToRas.Inverse();
    }

    private readonly AffineRas inverse;

    public AnalysedPhantom Analysed { get; }

    public PhantomResult Result => Analysed.Phantom;

    public bool InsideFieldOfView(Vec3d pointRas, double marginVoxels)
    {
        Vec3d ijk = inverse.Apply(pointRas);
        Dims3 d = Result.Labels.Dims;
        return ijk.X > marginVoxels && ijk.Y > marginVoxels && ijk.Z > marginVoxels
            && ijk.X < d.I - 1 - marginVoxels && ijk.Y < d.J - 1 - marginVoxels && ijk.Z < d.K - 1 - marginVoxels;
    }
}

public sealed record AnalysedPhantom(PhantomResult Phantom, IReadOnlyDictionary<byte, StructureMesh> Meshes, FemoralSubregionRule? Rule,
    IReadOnlyList<RegionThickness> Stats)
{
    // How long these take is `KneeWeb.Benchmarks -- peer knee-analysis` (Release build, repeated), not a test's output.
    public static AnalysedPhantom Create()
    {
        PhantomResult phantom = KneePhantom.Generate(new PhantomOptions { Seed = 1, IncludeImage = false });
        IReadOnlyDictionary<byte, StructureMesh> meshes = KneeMeshes.Build(phantom.Labels, new MeshOptions());
        FemoralSubregionRule? rule = FemoralSubregions.Detect(phantom.Labels, out _);
        IReadOnlyList<RegionThickness> stats = CartilageThickness.Measure(meshes.ToDictionary(kv => kv.Key, kv => kv.Value.Mesh), rule, new ThicknessOptions());
        return new AnalysedPhantom(phantom, meshes, rule, stats);
    }
}
