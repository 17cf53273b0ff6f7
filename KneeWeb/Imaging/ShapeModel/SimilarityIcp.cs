using System.Runtime.CompilerServices;

namespace KneeWeb.Imaging.ShapeModel;

/// <summary>
/// Rigid + scale ICP: moves source points onto a target surface (given as points) by a similarity,
/// closed-form per iteration (Horn's quaternion method, scale by least squares), with pairs farther than
/// <c>TrimFactor</c> x the median pair distance left out so the clipped shaft and outliers do not pull.
/// </summary>
public static class SimilarityIcp
{
    public const double TrimFactor = 2.5;

    /// <summary>Returns the transform that maps source points onto the target (composed over iterations).</summary>
    public static Similarity Align(IReadOnlyList<Vec3d> source, IReadOnlyList<Vec3d> target, int iterations, bool withScale, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(target);
        Similarity total = Similarity.Identity;
        var targetXyz = new double[3 * target.Count];
        for (int j = 0; j < target.Count; j++)
        {
            targetXyz[3 * j] = target[j].X;
            targetXyz[(3 * j) + 1] = target[j].Y;
            targetXyz[(3 * j) + 2] = target[j].Z;
        }

        var moved = new Vec3d[source.Count];
        var pairs = new Vec3d[source.Count];
        var distances = new double[source.Count];
        var sorted = new double[source.Count];
        for (int it = 0; it < iterations; it++)
        {
            ct.ThrowIfCancellationRequested();
            for (int i = 0; i < source.Count; i++)
            {
                moved[i] = total.Apply(source[i]);
            }

            Nearest(moved, targetXyz, pairs, distances);
            Array.Copy(distances, sorted, distances.Length);
            Array.Sort(sorted);
            double limit = TrimFactor * Math.Max(sorted[sorted.Length / 2], 1e-6);
            Similarity step = Solve(moved, pairs, distances, limit, withScale);
            total = total.Then(step);
            double change = Math.Abs(step.Scale - 1) + step.TranslationMm.Length + Math.Abs(3 - (step.Rotation[0] + step.Rotation[4] + step.Rotation[8]));
            if (change < 1e-5)
            {
                break;
            }
        }

        return total;
    }

    // Brute force over the target (a few thousand points): each source point independently, so parallel is deterministic.
    private static void Nearest(Vec3d[] points, double[] targetXyz, Vec3d[] pairs, double[] distances) =>
        Parallel.For(0, points.Length, i => (pairs[i], distances[i]) = NearestOne(points[i], targetXyz));

    // Hot loop: optimised even in Debug builds, where tests run.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static (Vec3d Nearest, double Distance) NearestOne(Vec3d p, double[] t)
    {
        double best = double.MaxValue;
        int bestIndex = 0;
        for (int j = 0; j < t.Length; j += 3)
        {
            double dx = t[j] - p.X, dy = t[j + 1] - p.Y, dz = t[j + 2] - p.Z;
            double d2 = (dx * dx) + (dy * dy) + (dz * dz);
            if (d2 < best)
            {
                best = d2;
                bestIndex = j;
            }
        }

        return (new Vec3d(t[bestIndex], t[bestIndex + 1], t[bestIndex + 2]), Math.Sqrt(best));
    }

    /// <summary>The similarity that best maps a onto b (pairs with distance above the limit left out).</summary>
    public static Similarity Solve(IReadOnlyList<Vec3d> a, IReadOnlyList<Vec3d> b, IReadOnlyList<double> distances, double limit, bool withScale)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        ArgumentNullException.ThrowIfNull(distances);
        Vec3d ca = default, cb = default;
        int n = 0;
        for (int i = 0; i < a.Count; i++)
        {
            if (distances[i] <= limit)
            {
                ca += a[i];
                cb += b[i];
                n++;
            }
        }

        if (n < 3)
        {
            return Similarity.Identity;
        }

        ca *= 1.0 / n;
        cb *= 1.0 / n;
        double sxx = 0, sxy = 0, sxz = 0, syx = 0, syy = 0, syz = 0, szx = 0, szy = 0, szz = 0, saa = 0;
        for (int i = 0; i < a.Count; i++)
        {
            if (distances[i] > limit)
            {
                continue;
            }

            Vec3d p = a[i] - ca, q = b[i] - cb;
            sxx += p.X * q.X; sxy += p.X * q.Y; sxz += p.X * q.Z;
            syx += p.Y * q.X; syy += p.Y * q.Y; syz += p.Y * q.Z;
            szx += p.Z * q.X; szy += p.Z * q.Y; szz += p.Z * q.Z;
            saa += p.Dot(p);
        }

        var nm = new double[4, 4]
        {
            { sxx + syy + szz, syz - szy, szx - sxz, sxy - syx },
            { syz - szy, sxx - syy - szz, sxy + syx, szx + sxz },
            { szx - sxz, sxy + syx, -sxx + syy - szz, syz + szy },
            { sxy - syx, szx + sxz, syz + szy, -sxx - syy + szz },
        };
        double[] q4 = LargestEigenvector(nm);
        double w = q4[0], x = q4[1], y = q4[2], z = q4[3];
        double[] r =
        [
            (w * w) + (x * x) - (y * y) - (z * z), 2 * ((x * y) - (w * z)), 2 * ((x * z) + (w * y)),
            2 * ((x * y) + (w * z)), (w * w) - (x * x) + (y * y) - (z * z), 2 * ((y * z) - (w * x)),
            2 * ((x * z) - (w * y)), 2 * ((y * z) + (w * x)), (w * w) - (x * x) - (y * y) + (z * z),
        ];
        double s = 1;
        if (withScale)
        {
            double num = 0;
            for (int i = 0; i < a.Count; i++)
            {
                if (distances[i] > limit)
                {
                    continue;
                }

                Vec3d p = a[i] - ca, q = b[i] - cb;
                var rp = new Vec3d((r[0] * p.X) + (r[1] * p.Y) + (r[2] * p.Z), (r[3] * p.X) + (r[4] * p.Y) + (r[5] * p.Z), (r[6] * p.X) + (r[7] * p.Y) + (r[8] * p.Z));
                num += q.Dot(rp);
            }

            s = num / saa;
        }

        var rotated = new Vec3d((r[0] * ca.X) + (r[1] * ca.Y) + (r[2] * ca.Z), (r[3] * ca.X) + (r[4] * ca.Y) + (r[5] * ca.Z), (r[6] * ca.X) + (r[7] * ca.Y) + (r[8] * ca.Z));
        return new Similarity(s, r, cb - (rotated * s));
    }

    // Cyclic Jacobi on a symmetric 4x4 matrix.
    private static double[] LargestEigenvector(double[,] a)
    {
        var m = (double[,])a.Clone();
        var v = new double[4, 4];
        for (int i = 0; i < 4; i++)
        {
            v[i, i] = 1;
        }

        for (int sweep = 0; sweep < 50; sweep++)
        {
            double off = 0;
            for (int p = 0; p < 3; p++)
            {
                for (int q = p + 1; q < 4; q++)
                {
                    off += m[p, q] * m[p, q];
                }
            }

            if (off < 1e-22)
            {
                break;
            }

            for (int p = 0; p < 3; p++)
            {
                for (int q = p + 1; q < 4; q++)
                {
                    if (Math.Abs(m[p, q]) < 1e-300)
                    {
                        continue;
                    }

                    double theta = (m[q, q] - m[p, p]) / (2 * m[p, q]);
                    double t = Math.Sign(theta) / (Math.Abs(theta) + Math.Sqrt((theta * theta) + 1));
                    if (theta == 0)
                    {
                        t = 1;
                    }

                    double c = 1 / Math.Sqrt((t * t) + 1), s = t * c;
                    for (int k = 0; k < 4; k++)
                    {
                        double mkp = m[k, p], mkq = m[k, q];
                        m[k, p] = (c * mkp) - (s * mkq);
                        m[k, q] = (s * mkp) + (c * mkq);
                    }

                    for (int k = 0; k < 4; k++)
                    {
                        double mpk = m[p, k], mqk = m[q, k];
                        m[p, k] = (c * mpk) - (s * mqk);
                        m[q, k] = (s * mpk) + (c * mqk);
                    }

                    for (int k = 0; k < 4; k++)
                    {
                        double vkp = v[k, p], vkq = v[k, q];
                        v[k, p] = (c * vkp) - (s * vkq);
                        v[k, q] = (s * vkp) + (c * vkq);
                    }
                }
            }
        }

        int best = 0;
        for (int i = 1; i < 4; i++)
        {
            if (m[i, i] > m[best, best])
            {
                best = i;
            }
        }

        double norm = 0;
        var e = new double[4];
        for (int k = 0; k < 4; k++)
        {
            e[k] = v[k, best];
            norm += e[k] * e[k];
        }

        norm = Math.Sqrt(norm);
        // Fixed sign (w >= 0): q and -q are the same rotation; this keeps the output identical run after run.
        double sign = e[0] < 0 ? -1 : 1;
        for (int k = 0; k < 4; k++)
        {
            e[k] *= sign / norm;
        }

        return e;
    }
}
