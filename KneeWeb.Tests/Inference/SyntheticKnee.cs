using KneeWeb.Imaging;
using KneeWeb.Inference.ModelBuilding;

namespace KneeWeb.Tests.Inference;

/// <summary>
/// A small analytic knee for inference tests (the real phantom lives elsewhere): simple shapes
/// per structure, each at its demo-model intensity plus seeded Gaussian noise, and the exact
/// label map they were painted from.
/// </summary>
internal static class SyntheticKnee
{
    public static (Volume Image, byte[] Truth) Create(Vec3d spacingMm, double sizeMm = 48, double noise = 25, int seed = 7, Vec3d? originRas = null)
    {
        var dims = new Dims3((int)Math.Round(sizeMm / spacingMm.X), (int)Math.Round(sizeMm / spacingMm.Y), (int)Math.Round(sizeMm / spacingMm.Z));
        var geometry = new VolumeGeometry(dims, AffineRas.FromSpacing(spacingMm, originRas ?? new Vec3d(-20, 10, 5)));
        var truth = new byte[dims.VoxelCount];
        var intensity = new double[16];
        foreach (IntensityClass c in DemoModel.DefaultClasses)
        {
            intensity[c.SchemaLabel] = c.Mean;
        }

        var voxels = new short[dims.VoxelCount];
        var random = new Random(seed);
        for (int k = 0; k < dims.K; k++)
        {
            for (int j = 0; j < dims.J; j++)
            {
                for (int i = 0; i < dims.I; i++)
                {
                    // Positions in mm from the grid corner, voxel centres.
                    double x = (i + 0.5) * spacingMm.X, y = (j + 0.5) * spacingMm.Y, z = (k + 0.5) * spacingMm.Z;
                    byte label = LabelAt(x, y, z);
                    long n = dims.Index(i, j, k);
                    truth[n] = label;
                    double u1 = 1.0 - random.NextDouble(), u2 = random.NextDouble();
                    double gaussian = Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
                    voxels[n] = (short)Math.Round(intensity[label] + (noise * gaussian));
                }
            }
        }

        return (new Volume(geometry, VoxelType.Int16, voxels), truth);
    }

    public static byte LabelAt(double x, double y, double z)
    {
        double femur = Ellipsoid(x, y, z, 24, 24, 34, 14, 12, 12);
        if (femur <= 1)
        {
            return 1;
        }

        if (z < 34 && Ellipsoid(x, y, z, 24, 24, 34, 16.5, 14.5, 14.5) <= 1)
        {
            return 4; // femoral cartilage: a 2.5 mm shell under the femur
        }

        if (Ellipsoid(x, y, z, 24, 43, 34, 6, 2.5, 6) <= 1)
        {
            return 3;
        }

        if (y < 43 && Ellipsoid(x, y, z, 24, 43, 34, 6, 4.5, 6) <= 1)
        {
            return 7;
        }

        if (x is >= 10 and < 38 && y is >= 10 and < 36 && z is >= 2 and < 14)
        {
            return 2;
        }

        if (y is >= 12 and < 34 && z is >= 14 and < 17)
        {
            if (x is >= 11 and < 23)
            {
                return 5;
            }

            if (x is >= 25 and < 37)
            {
                return 6;
            }
        }

        if (y is >= 12 and < 34 && z is >= 14 and < 19)
        {
            if (x is >= 5 and < 10)
            {
                return 8;
            }

            if (x is >= 38 and < 43)
            {
                return 9;
            }
        }

        return 0;
    }

    public static double Dice(byte[] a, byte[] b, byte label)
    {
        long both = 0, inA = 0, inB = 0;
        for (long n = 0; n < a.LongLength; n++)
        {
            bool x = a[n] == label, y = b[n] == label;
            inA += x ? 1 : 0;
            inB += y ? 1 : 0;
            both += x && y ? 1 : 0;
        }

        return inA + inB == 0 ? 1.0 : 2.0 * both / (inA + inB);
    }

    private static double Ellipsoid(double x, double y, double z, double cx, double cy, double cz, double rx, double ry, double rz)
    {
        double dx = (x - cx) / rx, dy = (y - cy) / ry, dz = (z - cz) / rz;
        return (dx * dx) + (dy * dy) + (dz * dz);
    }
}
