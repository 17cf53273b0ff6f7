using KneeWeb.Imaging;
using KneeWeb.Imaging.Meshing;
using Xunit;

namespace KneeWeb.Tests.Imaging.Meshing;

[Trait("Category", "unit")]
public class MarchingCubesTests
{
    [Fact]
    public void Sphere_field_gives_a_closed_outward_mesh_on_the_sphere()
    {
        var dims = new Dims3(40, 44, 30);
        var spacing = new Vec3d(0.5, 0.5, 0.8);
        AffineRas affine = AffineRas.FromDirections(new Vec3d(0, -1, 0), new Vec3d(0, 0, -1), new Vec3d(1, 0, 0), spacing, new Vec3d(-10, 12, 9));
        var centre = affine.Apply(new Vec3d(19.3, 21.7, 14.2));
        double radius = 8.0;
        var field = new float[dims.VoxelCount];
        for (int k = 0; k < dims.K; k++)
        {
            for (int j = 0; j < dims.J; j++)
            {
                for (int i = 0; i < dims.I; i++)
                {
                    // Inside is larger: radius - distance.
                    field[dims.Index(i, j, k)] = (float)(radius - (affine.Apply(new Vec3d(i, j, k)) - centre).Length);
                }
            }
        }

        TriangleMesh mesh = MarchingCubes.Extract(field, dims, 0f, affine);
        Assert.True(mesh.IsWatertight(out string reason), reason);
        double volume = mesh.SignedVolumeMm3();
        double exact = 4.0 / 3.0 * Math.PI * radius * radius * radius;
        Assert.InRange(volume, exact * 0.98, exact * 1.001);
        for (int v = 0; v < mesh.VertexCount; v++)
        {
            Assert.InRange((mesh.Vertex(v) - centre).Length, radius - 0.03, radius + 0.01);
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(5)]
    public void Mirrored_affine_still_gives_outward_triangles_and_diagonal_cases_stay_watertight(int seed)
    {
        var dims = new Dims3(12, 12, 12);
        var random = new Random(seed);
        var field = new float[dims.VoxelCount];
        for (int k = 2; k < 10; k++)
        {
            for (int j = 2; j < 10; j++)
            {
                for (int i = 2; i < 10; i++)
                {
                    field[dims.Index(i, j, k)] = random.NextDouble() < 0.5 ? 1f : 0f;
                }
            }
        }

        AffineRas mirrored = AffineRas.FromSpacing(new Vec3d(-1, 1, 1), new Vec3d(0, 0, 0));
        TriangleMesh mesh = MarchingCubes.Extract(field, dims, 0.5f, mirrored);
        Assert.True(mesh.IsWatertight(out string reason), reason);
        Assert.True(mesh.SignedVolumeMm3() > 0);
    }
}
