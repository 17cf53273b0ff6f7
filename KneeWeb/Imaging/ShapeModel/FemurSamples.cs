using System.Runtime.CompilerServices;
using KneeWeb.Imaging.Meshing;
using KneeWeb.Imaging.Phantom;

namespace KneeWeb.Imaging.ShapeModel;

/// <summary>One training shape: SDF samples in the model frame (points xyz interleaved, targets in model mm).</summary>
public sealed record ShapeSamples(int Seed, double Oa, float[] PointsXyz, float[] Targets, FemurFrame Frame);

/// <summary>How training samples are drawn around each femur of the family.</summary>
public sealed record SampleSettings
{
    /// <summary>Samples per shape.</summary>
    public int Count { get; init; } = 6000;

    /// <summary>Shares of samples near the surface (small and large Gaussian offsets, model mm); the rest fill the box uniformly.</summary>
    public double NearShare { get; init; } = 0.45;

    public double FarShare { get; init; } = 0.35;

    public double NearSdMm { get; init; } = 1.0;

    public double FarSdMm { get; init; } = 4.0;

    /// <summary>Grid spacing (mm) of the analytic femur surface the samples start from.</summary>
    public double SurfaceGridMm { get; init; } = 1.25;

    /// <summary>Model-frame box of the uniform samples (and of reconstructions).</summary>
    public double BoxHalfXMm { get; init; } = 60;

    public double BoxHalfYMm { get; init; } = 55;

    public double BoxLowZMm { get; init; } = -50;

    /// <summary>Samples reach this far (model mm) above the clip plane, so the model is defined where the fit's points stop.</summary>
    public double AboveClipMm { get; init; } = 10;
}

/// <summary>Signed-distance samples of the phantom femur family, in the shape model's frame.</summary>
public static class FemurSamples
{
    /// <summary>The analytic femur surface of one family member (knee frame, right knee, mm).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static TriangleMesh AnalyticSurface(PhantomAnatomy anatomy, double gridMm, double topAboveDistalMm = 110)
    {
        ArgumentNullException.ThrowIfNull(anatomy);
        double zLow = anatomy.CondyleCenterZMm - anatomy.CondyleRingRadiusMm - anatomy.CondyleTubeRadiusMm - 5;
        double halfX = 62, halfY = 55;
        var dims = new Dims3((int)Math.Ceiling(2 * halfX / gridMm) + 1, (int)Math.Ceiling(2 * halfY / gridMm) + 1, (int)Math.Ceiling(topAboveDistalMm / gridMm) + 1);
        var origin = new Vec3d(-halfX, -halfY, zLow);
        var field = new float[dims.VoxelCount];
        Parallel.For(0, dims.K, k =>
        {
            for (int j = 0; j < dims.J; j++)
            {
                for (int i = 0; i < dims.I; i++)
                {
                    double x = origin.X + (i * gridMm), y = origin.Y + (j * gridMm), z = origin.Z + (k * gridMm);
                    // Inside is positive for marching cubes; the top layer is set outside to close the shaft.
                    field[dims.Index(i, j, k)] = k == dims.K - 1 ? -1f : (float)-anatomy.FemurDistance(x, y, z, out _);
                }
            }
        });
        return MarchingCubes.Extract(field, dims, 0f, AffineRas.FromSpacing(new Vec3d(gridMm, gridMm, gridMm), origin));
    }

    /// <summary>Samples one femur: surface points with Gaussian offsets and uniform box points, with exact-outside analytic SDF targets.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static ShapeSamples Sample(int seed, double oa, FemurFrameRule rule, SampleSettings settings)
    {
        ArgumentNullException.ThrowIfNull(rule);
        ArgumentNullException.ThrowIfNull(settings);
        PhantomAnatomy anatomy = FemurShapeFamily.Sample(seed, oa);
        TriangleMesh surface = AnalyticSurface(anatomy, settings.SurfaceGridMm);
        FemurFrame frame = FemurFrame.Measure(surface, rule);
        double scale = frame.ToModel.Scale;
        double topModel = frame.ClipZModel + settings.AboveClipMm;

        // Area-weighted triangle table over the part of the surface the model describes.
        double[] pos = surface.PositionsRas;
        int[] tri = surface.Triangles;
        var cumulative = new List<double>();
        var chosen = new List<int>();
        double total = 0;
        for (int f = 0; f < tri.Length; f += 3)
        {
            Vec3d a = V(pos, tri[f]), b = V(pos, tri[f + 1]), c = V(pos, tri[f + 2]);
            Vec3d centreModel = frame.ToModel.Apply((a + b + c) * (1.0 / 3));
            if (centreModel.Z > topModel)
            {
                continue;
            }

            total += 0.5 * (b - a).Cross(c - a).Length;
            cumulative.Add(total);
            chosen.Add(f);
        }

        var random = new Random(unchecked((seed * 92_821) + (int)Math.Round(oa * 1000) + 7));
        int n = settings.Count;
        int near = (int)(n * settings.NearShare), far = (int)(n * settings.FarShare);
        var points = new float[3 * n];
        var targets = new float[n];
        for (int s = 0; s < n; s++)
        {
            Vec3d pModel;
            if (s < near + far)
            {
                double r = random.NextDouble() * total;
                int index = cumulative.BinarySearch(r);
                index = index < 0 ? Math.Min(~index, cumulative.Count - 1) : index;
                int f = chosen[index];
                double u = random.NextDouble(), v = random.NextDouble();
                if (u + v > 1)
                {
                    u = 1 - u;
                    v = 1 - v;
                }

                Vec3d a = V(pos, tri[f]), b = V(pos, tri[f + 1]), c = V(pos, tri[f + 2]);
                Vec3d onSurface = frame.ToModel.Apply(a + ((b - a) * u) + ((c - a) * v));
                double sd = s < near ? settings.NearSdMm : settings.FarSdMm;
                pModel = onSurface + new Vec3d(Gaussian(random), Gaussian(random), Gaussian(random)) * sd;
            }
            else
            {
                pModel = new Vec3d(
                    settings.BoxHalfXMm * ((2 * random.NextDouble()) - 1),
                    settings.BoxHalfYMm * ((2 * random.NextDouble()) - 1),
                    settings.BoxLowZMm + ((topModel - settings.BoxLowZMm) * random.NextDouble()));
            }

            Vec3d pKnee = frame.ToModel.ApplyInverse(pModel);
            points[3 * s] = (float)pModel.X;
            points[(3 * s) + 1] = (float)pModel.Y;
            points[(3 * s) + 2] = (float)pModel.Z;
            targets[s] = (float)(anatomy.FemurDistance(pKnee.X, pKnee.Y, pKnee.Z, out _) * scale);
        }

        return new ShapeSamples(seed, oa, points, targets, frame);
    }

    private static Vec3d V(double[] p, int v) => new(p[3 * v], p[(3 * v) + 1], p[(3 * v) + 2]);

    private static double Gaussian(Random random)
    {
        double u1 = 1.0 - random.NextDouble();
        double u2 = random.NextDouble();
        return Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2.0 * Math.PI * u2);
    }
}
