using System.Runtime.CompilerServices;
using KneeWeb.Imaging.Meshing;

namespace KneeWeb.Imaging.Thickness;

/// <summary>A ray's crossing of a surface: distance along the ray and whether it enters the closed surface.</summary>
public readonly record struct RayHit(double Distance, bool Entering);

/// <summary>
/// Bounding-volume hierarchy over a mesh's triangles (median splits, four triangles a leaf) for casting
/// many rays: all crossings of a segment of a ray, in order, each marked entering or leaving by the
/// triangle's outward orientation. Read-only after construction, so rays may be cast from many threads.
/// </summary>
public sealed class TriangleBvh
{
    private const int LeafSize = 4;
    private readonly double[] p;
    private readonly int[] tri;
    private readonly int[] order;
    // Per node: bounds (min xyz, max xyz); children (left, right), or for a leaf -(first item + 1) and the item count.
    private readonly List<double> bounds = [];
    private readonly List<int> nodes = [];

    public TriangleBvh(TriangleMesh mesh)
    {
        ArgumentNullException.ThrowIfNull(mesh);
        p = mesh.PositionsRas;
        tri = mesh.Triangles;
        int m = mesh.TriangleCount;
        order = new int[m];
        var centroids = new double[3 * m];
        for (int f = 0; f < m; f++)
        {
            order[f] = f;
            for (int c = 0; c < 3; c++)
            {
                centroids[(3 * f) + c] = (p[(3 * tri[3 * f]) + c] + p[(3 * tri[(3 * f) + 1]) + c] + p[(3 * tri[(3 * f) + 2]) + c]) / 3.0;
            }
        }

        if (m > 0)
        {
            Build(0, m, centroids);
        }

        boundsArray = [.. bounds];
        nodeArray = [.. nodes];
    }

    private readonly double[] boundsArray;
    private readonly int[] nodeArray;

    public int TriangleCount => order.Length;

    private int Build(int start, int end, double[] centroids)
    {
        int node = nodes.Count / 2;
        nodes.Add(0);
        nodes.Add(0);
        double minX = double.MaxValue, minY = double.MaxValue, minZ = double.MaxValue;
        double maxX = double.MinValue, maxY = double.MinValue, maxZ = double.MinValue;
        for (int n = start; n < end; n++)
        {
            int f = order[n];
            for (int c = 0; c < 3; c++)
            {
                int v = 3 * tri[(3 * f) + c];
                minX = Math.Min(minX, p[v]); maxX = Math.Max(maxX, p[v]);
                minY = Math.Min(minY, p[v + 1]); maxY = Math.Max(maxY, p[v + 1]);
                minZ = Math.Min(minZ, p[v + 2]); maxZ = Math.Max(maxZ, p[v + 2]);
            }
        }

        bounds.AddRange([minX, minY, minZ, maxX, maxY, maxZ]);
        if (end - start <= LeafSize)
        {
            nodes[2 * node] = -(start + 1);
            nodes[(2 * node) + 1] = end - start;
            return node;
        }

        double ex = maxX - minX, ey = maxY - minY, ez = maxZ - minZ;
        int axis = ex >= ey && ex >= ez ? 0 : ey >= ez ? 1 : 2;
        int mid = (start + end) / 2;
        Array.Sort(order, start, end - start, Comparer<int>.Create((a, b) =>
        {
            int c = centroids[(3 * a) + axis].CompareTo(centroids[(3 * b) + axis]);
            return c != 0 ? c : a.CompareTo(b);
        }));
        int left = Build(start, mid, centroids);
        int right = Build(mid, end, centroids);
        nodes[2 * node] = left;
        nodes[(2 * node) + 1] = right;
        return node;
    }

    /// <summary>
    /// Every crossing of the ray <c>origin + s * direction</c> (unit direction) for s in [0, maxDistance],
    /// sorted by distance, written to <paramref name="hits"/> (cleared first).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void Cast(Vec3d origin, Vec3d direction, double maxDistance, List<RayHit> hits)
    {
        ArgumentNullException.ThrowIfNull(hits);
        hits.Clear();
        if (order.Length == 0)
        {
            return;
        }

        double ox = origin.X, oy = origin.Y, oz = origin.Z;
        double dx = direction.X, dy = direction.Y, dz = direction.Z;
        double ix = 1.0 / dx, iy = 1.0 / dy, iz = 1.0 / dz;
        Span<int> stack = stackalloc int[64];
        int top = 0;
        stack[top++] = 0;
        while (top > 0)
        {
            int node = stack[--top];
            int b = 6 * node;
            // Slab test against the node's box.
            double t0 = 0, t1 = maxDistance;
            if (!Slab(ox, ix, boundsArray[b], boundsArray[b + 3], ref t0, ref t1)
                || !Slab(oy, iy, boundsArray[b + 1], boundsArray[b + 4], ref t0, ref t1)
                || !Slab(oz, iz, boundsArray[b + 2], boundsArray[b + 5], ref t0, ref t1))
            {
                continue;
            }

            int first = nodeArray[2 * node];
            if (first < 0)
            {
                int start = -first - 1, count = nodeArray[(2 * node) + 1];
                for (int n = start; n < start + count; n++)
                {
                    Intersect(order[n], ox, oy, oz, dx, dy, dz, maxDistance, hits);
                }
            }
            else
            {
                stack[top++] = first;
                stack[top++] = nodeArray[(2 * node) + 1];
            }
        }

        hits.Sort((a, c) => a.Distance.CompareTo(c.Distance));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool Slab(double o, double inv, double lo, double hi, ref double t0, ref double t1)
    {
        double a = (lo - o) * inv, b = (hi - o) * inv;
        if (double.IsNaN(a) || double.IsNaN(b))
        {
            // Ray parallel to the slab: inside it or not at all.
            return o >= lo && o <= hi;
        }

        if (a > b)
        {
            (a, b) = (b, a);
        }

        t0 = Math.Max(t0, a);
        t1 = Math.Min(t1, b);
        return t0 <= t1;
    }

    // Moller-Trumbore, both faces; the sign of the determinant tells entering from leaving.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void Intersect(int f, double ox, double oy, double oz, double dx, double dy, double dz, double maxDistance, List<RayHit> hits)
    {
        int a = 3 * tri[3 * f], b = 3 * tri[(3 * f) + 1], c = 3 * tri[(3 * f) + 2];
        double e1x = p[b] - p[a], e1y = p[b + 1] - p[a + 1], e1z = p[b + 2] - p[a + 2];
        double e2x = p[c] - p[a], e2y = p[c + 1] - p[a + 1], e2z = p[c + 2] - p[a + 2];
        double px = (dy * e2z) - (dz * e2y), py = (dz * e2x) - (dx * e2z), pz = (dx * e2y) - (dy * e2x);
        double det = (e1x * px) + (e1y * py) + (e1z * pz);
        if (Math.Abs(det) < 1e-14)
        {
            return;
        }

        double inv = 1.0 / det;
        double tx = ox - p[a], ty = oy - p[a + 1], tz = oz - p[a + 2];
        double u = ((tx * px) + (ty * py) + (tz * pz)) * inv;
        if (u < 0 || u > 1)
        {
            return;
        }

        double qx = (ty * e1z) - (tz * e1y), qy = (tz * e1x) - (tx * e1z), qz = (tx * e1y) - (ty * e1x);
        double v = ((dx * qx) + (dy * qy) + (dz * qz)) * inv;
        if (v < 0 || u + v > 1)
        {
            return;
        }

        double t = ((e2x * qx) + (e2y * qy) + (e2z * qz)) * inv;
        if (t < 0 || t > maxDistance)
        {
            return;
        }

        // det = e1 . (d x e2) = -d . (e1 x e2): positive when the ray meets the triangle's outward face.
        hits.Add(new RayHit(t, det > 0));
    }
}
