using System.Runtime.CompilerServices;
using KneeWeb.Imaging.Meshing;

namespace KneeWeb.Imaging.ShapeModel;

/// <summary>
/// A similarity transform <c>q = Scale * Rotation * p + TranslationMm</c> (rotation row-major 3x3).
/// In the shape model it maps a (mirrored, for left knees) subject RAS point to the model's frame.
/// </summary>
public sealed record Similarity(double Scale, double[] Rotation, Vec3d TranslationMm)
{
    public static Similarity Identity { get; } = new(1, [1, 0, 0, 0, 1, 0, 0, 0, 1], default);

    public Vec3d Apply(Vec3d p)
    {
        double[] r = Rotation;
        return new Vec3d(
            (Scale * ((r[0] * p.X) + (r[1] * p.Y) + (r[2] * p.Z))) + TranslationMm.X,
            (Scale * ((r[3] * p.X) + (r[4] * p.Y) + (r[5] * p.Z))) + TranslationMm.Y,
            (Scale * ((r[6] * p.X) + (r[7] * p.Y) + (r[8] * p.Z))) + TranslationMm.Z);
    }

    public Vec3d ApplyInverse(Vec3d q)
    {
        double[] r = Rotation;
        Vec3d d = (q - TranslationMm) * (1 / Scale);
        // The inverse of a rotation is its transpose.
        return new Vec3d(
            (r[0] * d.X) + (r[3] * d.Y) + (r[6] * d.Z),
            (r[1] * d.X) + (r[4] * d.Y) + (r[7] * d.Z),
            (r[2] * d.X) + (r[5] * d.Y) + (r[8] * d.Z));
    }

    /// <summary><c>outer(this(p))</c> as one transform.</summary>
    public Similarity Then(Similarity outer)
    {
        ArgumentNullException.ThrowIfNull(outer);
        double[] a = outer.Rotation, b = Rotation;
        var r = new double[9];
        for (int i = 0; i < 3; i++)
        {
            for (int j = 0; j < 3; j++)
            {
                r[(3 * i) + j] = (a[3 * i] * b[j]) + (a[(3 * i) + 1] * b[3 + j]) + (a[(3 * i) + 2] * b[6 + j]);
            }
        }

        Vec3d t = TranslationMm;
        var rt = new Vec3d((a[0] * t.X) + (a[1] * t.Y) + (a[2] * t.Z), (a[3] * t.X) + (a[4] * t.Y) + (a[5] * t.Z), (a[6] * t.X) + (a[7] * t.Y) + (a[8] * t.Z));
        return new Similarity(outer.Scale * Scale, r, (rt * outer.Scale) + outer.TranslationMm);
    }

    public double[][] RotationRows() =>
    [
        [Rotation[0], Rotation[1], Rotation[2]],
        [Rotation[3], Rotation[4], Rotation[5]],
        [Rotation[6], Rotation[7], Rotation[8]],
    ];
}

/// <summary>
/// How a femur surface is put into the shape model's frame before any fitting: the shaft is clipped a fixed
/// multiple of the condyles' mediolateral width above the distal-most point, then the clipped surface's
/// area-weighted centroid goes to the origin and its RMS radius is scaled to <see cref="ReferenceRmsMm"/>.
/// Axes stay those of a right knee in RAS (left knees are mirrored in x first). Training shapes and
/// fitted segmentations go through the same rule, so the model sees both in one frame.
/// </summary>
public sealed record FemurFrameRule
{
    /// <summary>Clip height above the distal-most point, in condyle widths.</summary>
    public double ClipHeightPerWidth { get; init; } = 0.85;

    /// <summary>The width is the x extent of the surface within this distance (mm) of the distal-most point.</summary>
    public double WidthBandMm { get; init; } = 30;

    /// <summary>RMS distance (model mm) of the clipped surface from its centroid in the model frame.</summary>
    public double ReferenceRmsMm { get; init; } = 30;
}

/// <summary>
/// Where a femur surface sits: what <see cref="FemurFrameRule"/> measured on it (input mm), and
/// <c>ToModel</c>, the input point to model frame map (scale and translation; no rotation).
/// </summary>
public sealed record FemurFrame(double DistalZMm, double WidthMm, double ClipZMm, Vec3d CentroidMm, double RmsMm, Similarity ToModel)
{
    /// <summary>Measures the frame of a femur surface given with right-knee RAS axes (left knees already mirrored).</summary>
    /// <exception cref="ArgumentException">The surface is empty or degenerate.</exception>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static FemurFrame Measure(TriangleMesh surface, FemurFrameRule rule)
    {
        ArgumentNullException.ThrowIfNull(surface);
        ArgumentNullException.ThrowIfNull(rule);
        double[] p = surface.PositionsRas;
        int n = surface.VertexCount;
        if (n < 4 || surface.TriangleCount < 4)
        {
            throw new ArgumentException("The femur surface has too few vertices to place.", nameof(surface));
        }

        double zDistal = double.MaxValue;
        for (int v = 0; v < n; v++)
        {
            zDistal = Math.Min(zDistal, p[(3 * v) + 2]);
        }

        double xMin = double.MaxValue, xMax = double.MinValue;
        for (int v = 0; v < n; v++)
        {
            if (p[(3 * v) + 2] <= zDistal + rule.WidthBandMm)
            {
                xMin = Math.Min(xMin, p[3 * v]);
                xMax = Math.Max(xMax, p[3 * v]);
            }
        }

        double width = xMax - xMin;
        double clipZ = zDistal + (rule.ClipHeightPerWidth * width);
        int[] t = surface.Triangles;
        double sumA = 0, cx = 0, cy = 0, cz = 0;
        for (int f = 0; f < t.Length; f += 3)
        {
            (Vec3d c, double area) = Triangle(p, t[f], t[f + 1], t[f + 2]);
            if (c.Z < clipZ)
            {
                sumA += area;
                cx += area * c.X;
                cy += area * c.Y;
                cz += area * c.Z;
            }
        }

        if (!(sumA > 0) || !(width > 0))
        {
            throw new ArgumentException("The femur surface below the clip plane has no area.", nameof(surface));
        }

        var centroid = new Vec3d(cx / sumA, cy / sumA, cz / sumA);
        double sumR2 = 0;
        for (int f = 0; f < t.Length; f += 3)
        {
            (Vec3d c, double area) = Triangle(p, t[f], t[f + 1], t[f + 2]);
            if (c.Z < clipZ)
            {
                Vec3d d = c - centroid;
                sumR2 += area * d.Dot(d);
            }
        }

        double rms = Math.Sqrt(sumR2 / sumA);
        double scale = rule.ReferenceRmsMm / rms;
        var toModel = new Similarity(scale, [1, 0, 0, 0, 1, 0, 0, 0, 1], -centroid * scale);
        return new FemurFrame(zDistal, width, clipZ, centroid, rms, toModel);
    }

    /// <summary>The clip plane's height in the model frame.</summary>
    public double ClipZModel => ToModel.Apply(new Vec3d(CentroidMm.X, CentroidMm.Y, ClipZMm)).Z;

    private static (Vec3d Centre, double Area) Triangle(double[] p, int a, int b, int c)
    {
        var pa = new Vec3d(p[3 * a], p[(3 * a) + 1], p[(3 * a) + 2]);
        var pb = new Vec3d(p[3 * b], p[(3 * b) + 1], p[(3 * b) + 2]);
        var pc = new Vec3d(p[3 * c], p[(3 * c) + 1], p[(3 * c) + 2]);
        return ((pa + pb + pc) * (1.0 / 3), 0.5 * (pb - pa).Cross(pc - pa).Length);
    }
}
