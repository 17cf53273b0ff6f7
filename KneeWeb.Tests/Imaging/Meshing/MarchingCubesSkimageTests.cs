using System.Globalization;
using System.Runtime.InteropServices;
using KneeWeb.Imaging;
using KneeWeb.Imaging.Meshing;
using KneeWeb.Imaging.Phantom;
using KneeWeb.Imaging.Segmentation;
using KneeWeb.Tests.Imaging.Io;
using Xunit;

namespace KneeWeb.Tests.Imaging.Meshing;

[Trait("Category", "reference")]
public sealed class MarchingCubesSkimageTests : IDisposable
{
    private readonly string folder = Path.Combine(Path.GetTempPath(), "kneeweb-mc-skimage-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(folder))
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public void Same_vertices_as_scikit_image_on_a_phantom_femur()
    {
        PhantomResult phantom = KneePhantom.Generate(new PhantomOptions { Coarsening = 2, IncludeImage = false });
        byte[] labels = (byte[])phantom.Labels.Voxels;
        Dims3 d = phantom.Labels.Dims;
        var field = new float[labels.Length];
        for (int v = 0; v < labels.Length; v++)
        {
            field[v] = labels[v] == KneeLabels.Femur ? 1f : 0f;
        }

        Directory.CreateDirectory(folder);
        string raw = Path.Combine(folder, "femur.raw");
        File.WriteAllBytes(raw, MemoryMarshal.AsBytes(field.AsSpan()).ToArray());
        string output;
        try
        {
            output = PythonTools.Run($"""
                import numpy as np
                from skimage.measure import marching_cubes
                v = np.fromfile(r'{raw}', dtype=np.float32).reshape(({d.K}, {d.J}, {d.I}))
                verts, faces, normals, values = marching_cubes(v, 0.5)
                s = verts.astype(np.float64).sum(axis=0)
                print(len(verts), len(faces), repr(s[2]), repr(s[1]), repr(s[0]))
                """);
        }
        catch (InvalidOperationException e)
        {
            throw new InvalidOperationException($"scikit-image cross-check needs Debian's python3-skimage (apt-get install python3-skimage): {e.Message}", e);
        }

        string[] parts = output.Trim().Split(' ');
        TriangleMesh mesh = MarchingCubes.Extract(field, d, 0.5f, AffineRas.Identity);
        Assert.Equal(int.Parse(parts[0], CultureInfo.InvariantCulture), mesh.VertexCount);
        Assert.Equal(int.Parse(parts[1], CultureInfo.InvariantCulture), mesh.TriangleCount);
        // Same vertices: the coordinate sums (skimage's axes are k, j, i) agree.
        for (int axis = 0; axis < 3; axis++)
        {
            double sum = 0;
            for (int v = 0; v < mesh.VertexCount; v++)
            {
                sum += mesh.PositionsRas[(3 * v) + axis];
            }

            double theirs = double.Parse(parts[2 + axis], CultureInfo.InvariantCulture);
            Assert.True(Math.Abs(sum - theirs) <= 1e-6 * Math.Abs(theirs), $"axis {axis}: {sum} vs {theirs}");
        }
    }
}
