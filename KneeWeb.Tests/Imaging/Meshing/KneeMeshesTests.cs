using System.Diagnostics;
using KneeWeb.Imaging;
using KneeWeb.Imaging.Meshing;
using KneeWeb.Imaging.Phantom;
using KneeWeb.Imaging.Segmentation;
using Xunit;
using Xunit.Abstractions;

namespace KneeWeb.Tests.Imaging.Meshing;

public class KneeMeshesTests(FullPhantomFixture phantom, ITestOutputHelper output) : IClassFixture<FullPhantomFixture>
{
    [Fact]
    public void Bone_meshes_are_watertight_resampled_and_within_half_a_voxel_of_the_analytic_surface()
    {
        var options = new MeshOptions { Structures = [KneeLabels.Femur, KneeLabels.Tibia, KneeLabels.Patella] };
        var watch = Stopwatch.StartNew();
        IReadOnlyDictionary<byte, StructureMesh> meshes = KneeMeshes.Build(phantom.Result.Labels, options);
        output.WriteLine($"3 bone meshes in {watch.ElapsedMilliseconds} ms");
        double halfVoxel = 0.5 * 0.36;
        foreach ((byte label, StructureMesh structure) in meshes)
        {
            Assert.True(structure.Watertight, structure.WatertightProblem);
            int target = options.TargetVertices[label];
            Assert.InRange(structure.Mesh.VertexCount, target * 0.99, target * 1.01);
            var distances = new List<double>();
            for (int v = 0; v < structure.Mesh.VertexCount; v++)
            {
                Vec3d point = structure.Mesh.Vertex(v);
                // Skip where the field of view cuts the bone (the mesh closes there by design).
                if (!phantom.InsideFieldOfView(point, 1.5))
                {
                    continue;
                }

                distances.Add(Math.Abs(phantom.Result.Truth.BoneDistance(label, point)));
            }

            distances.Sort();
            double mean = distances.Average(), p95 = distances[(int)(0.95 * (distances.Count - 1))];
            output.WriteLine($"{KneeLabels.Name(label)}: {structure.Mesh.VertexCount} vertices, |distance| mean {mean:F3} mm, p95 {p95:F3} mm, max {distances[^1]:F3} mm");
            // Mean surface distance within half a voxel (the bar) with room to spare; the tail comes from
            // the analytic model's sharp concave creases where bone pieces meet, which smoothing rounds off.
            Assert.True(mean < halfVoxel / 2, $"mean {mean}");
            Assert.True(p95 < 1.5 * halfVoxel, $"p95 {p95}");
        }
    }
}

/// <summary>One full-size phantom (384x384x160), generated once per test run and shared by the accuracy tests.</summary>
public sealed class FullPhantomFixture
{
    private static readonly Lazy<PhantomResult> Shared = new(() => KneePhantom.Generate(new PhantomOptions { Seed = 1, IncludeImage = false }));

    public FullPhantomFixture()
    {
        Result = Shared.Value;
        inverse = Result.Labels.Geometry.IndexToRas.Inverse();
    }

    private readonly AffineRas inverse;

    public PhantomResult Result { get; }

    public bool InsideFieldOfView(Vec3d pointRas, double marginVoxels)
    {
        Vec3d ijk = inverse.Apply(pointRas);
        Dims3 d = Result.Labels.Dims;
        return ijk.X > marginVoxels && ijk.Y > marginVoxels && ijk.Z > marginVoxels
            && ijk.X < d.I - 1 - marginVoxels && ijk.Y < d.J - 1 - marginVoxels && ijk.Z < d.K - 1 - marginVoxels;
    }
}
