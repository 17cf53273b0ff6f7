using KneeWeb.Imaging;
using KneeWeb.Imaging.Io;

namespace KneeWeb.Tests.TestData;

/// <summary>Small volumes with known values, written with KneeWeb's own writer.</summary>
public static class TestVolumes
{
    /// <summary>An int16 ramp: value = i + 2j + 3k, on an oblique-free grid with the given spacing.</summary>
    public static Volume Ramp(int ni = 24, int nj = 20, int nk = 12, double spacingI = 0.5, double spacingJ = 0.5, double spacingK = 1.5)
    {
        var dims = new Dims3(ni, nj, nk);
        var voxels = new short[dims.VoxelCount];
        for (int k = 0; k < nk; k++)
        {
            for (int j = 0; j < nj; j++)
            {
                for (int i = 0; i < ni; i++)
                {
                    voxels[dims.Index(i, j, k)] = (short)(i + (2 * j) + (3 * k));
                }
            }
        }

        var geometry = new VolumeGeometry(dims, AffineRas.FromSpacing(new Vec3d(spacingI, spacingJ, spacingK), new Vec3d(-10, 20, -30)));
        return new Volume(geometry, VoxelType.Int16, voxels);
    }

    /// <summary>Expected statistics of <see cref="Ramp"/>: min 0, max (ni-1)+2(nj-1)+3(nk-1), mean at the centre.</summary>
    public static (double Min, double Max, double Mean) RampStats(int ni = 24, int nj = 20, int nk = 12) =>
        (0, (ni - 1) + (2 * (nj - 1)) + (3 * (nk - 1)), ((ni - 1) / 2.0) + (nj - 1) + (1.5 * (nk - 1)));

    public static string WriteRamp(string folder, string name = "ramp.nii.gz")
    {
        string path = Path.Combine(folder, name);
        VolumeIo.Write(Ramp(), path);
        return path;
    }
}
