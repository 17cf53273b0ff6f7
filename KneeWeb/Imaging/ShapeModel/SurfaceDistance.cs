using System.Runtime.CompilerServices;
using KneeWeb.Imaging.Meshing;

namespace KneeWeb.Imaging.ShapeModel;

/// <summary>
/// Distances from points to a triangle mesh: the nearest vertex (spatial hash), then the closest point on
/// the triangles around it. Exact where the mesh is finer than its curvature, which the meshes here are.
/// </summary>
public sealed class SurfaceDistance
{
    private readonly double[] positions;
    private readonly int[] triangles;
    private readonly int[] vertexTriangleStart, vertexTriangles;
    private readonly Dictionary<(int, int, int), List<int>> cells = [];
    private readonly double cellMm;

    public SurfaceDistance(TriangleMesh mesh, double cellMm = 3.0)
    {
        ArgumentNullException.ThrowIfNull(mesh);
        positions = mesh.PositionsRas;
        triangles = mesh.Triangles;
        this.cellMm = cellMm;
        int n = mesh.VertexCount;
        vertexTriangleStart = new int[n + 1];
        foreach (int v in triangles)
        {
            vertexTriangleStart[v + 1]++;
        }

        for (int v = 0; v < n; v++)
        {
            vertexTriangleStart[v + 1] += vertexTriangleStart[v];
        }

        vertexTriangles = new int[triangles.Length];
        var fill = (int[])vertexTriangleStart.Clone();
        for (int c = 0; c < triangles.Length; c++)
        {
            vertexTriangles[fill[triangles[c]]++] = c / 3;
        }

        for (int v = 0; v < n; v++)
        {
            var key = Cell(positions[3 * v], positions[(3 * v) + 1], positions[(3 * v) + 2]);
            if (!cells.TryGetValue(key, out List<int>? list))
            {
                list = [];
                cells[key] = list;
            }

            list.Add(v);
        }
    }

    /// <summary>Distance (mm) from a point to the surface.</summary>
    // Hot per-vertex code: optimised even in Debug builds, where tests run.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public double Distance(Vec3d p)
    {
        int nearest = NearestVertex(p);
        if (nearest < 0)
        {
            return double.PositiveInfinity;
        }

        double best = (V(nearest) - p).Length;
        for (int k = vertexTriangleStart[nearest]; k < vertexTriangleStart[nearest + 1]; k++)
        {
            int t = vertexTriangles[k];
            best = Math.Min(best, PointTriangle(p, V(triangles[3 * t]), V(triangles[(3 * t) + 1]), V(triangles[(3 * t) + 2])));
        }

        return best;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private int NearestVertex(Vec3d p)
    {
        var (ci, cj, ck) = Cell(p.X, p.Y, p.Z);
        int best = -1;
        double bestD2 = double.MaxValue;
        for (int ring = 0; ring < 64; ring++)
        {
            for (int di = -ring; di <= ring; di++)
            {
                for (int dj = -ring; dj <= ring; dj++)
                {
                    for (int dk = -ring; dk <= ring; dk++)
                    {
                        if (Math.Max(Math.Abs(di), Math.Max(Math.Abs(dj), Math.Abs(dk))) != ring || !cells.TryGetValue((ci + di, cj + dj, ck + dk), out List<int>? list))
                        {
                            continue;
                        }

                        foreach (int v in list)
                        {
                            double dx = positions[3 * v] - p.X, dy = positions[(3 * v) + 1] - p.Y, dz = positions[(3 * v) + 2] - p.Z;
                            double d2 = (dx * dx) + (dy * dy) + (dz * dz);
                            if (d2 < bestD2 || (d2 == bestD2 && v < best))
                            {
                                bestD2 = d2;
                                best = v;
                            }
                        }
                    }
                }
            }

            // Anything in a further ring is at least ring * cell away.
            if (best >= 0 && Math.Sqrt(bestD2) <= ring * cellMm)
            {
                break;
            }
        }

        return best;
    }

    private (int, int, int) Cell(double x, double y, double z) =>
        ((int)Math.Floor(x / cellMm), (int)Math.Floor(y / cellMm), (int)Math.Floor(z / cellMm));

    private Vec3d V(int v) => new(positions[3 * v], positions[(3 * v) + 1], positions[(3 * v) + 2]);

    /// <summary>Distance from p to triangle abc (Ericson, Real-Time Collision Detection, 5.1.5).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static double PointTriangle(Vec3d p, Vec3d a, Vec3d b, Vec3d c)
    {
        Vec3d ab = b - a, ac = c - a, ap = p - a;
        double d1 = ab.Dot(ap), d2 = ac.Dot(ap);
        if (d1 <= 0 && d2 <= 0)
        {
            return ap.Length;
        }

        Vec3d bp = p - b;
        double d3 = ab.Dot(bp), d4 = ac.Dot(bp);
        if (d3 >= 0 && d4 <= d3)
        {
            return bp.Length;
        }

        double vc = (d1 * d4) - (d3 * d2);
        if (vc <= 0 && d1 >= 0 && d3 <= 0)
        {
            double v = d1 / (d1 - d3);
            return (p - (a + (ab * v))).Length;
        }

        Vec3d cp = p - c;
        double d5 = ab.Dot(cp), d6 = ac.Dot(cp);
        if (d6 >= 0 && d5 <= d6)
        {
            return cp.Length;
        }

        double vb = (d5 * d2) - (d1 * d6);
        if (vb <= 0 && d2 >= 0 && d6 <= 0)
        {
            double w = d2 / (d2 - d6);
            return (p - (a + (ac * w))).Length;
        }

        double va = (d3 * d6) - (d5 * d4);
        if (va <= 0 && (d4 - d3) >= 0 && (d5 - d6) >= 0)
        {
            double w = (d4 - d3) / ((d4 - d3) + (d5 - d6));
            return (p - (b + ((c - b) * w))).Length;
        }

        double denom = 1 / (va + vb + vc);
        double vv = vb * denom, ww = vc * denom;
        return (p - (a + (ab * vv) + (ac * ww))).Length;
    }
}
