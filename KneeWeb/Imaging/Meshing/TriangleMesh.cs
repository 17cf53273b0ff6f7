using System.Runtime.CompilerServices;

namespace KneeWeb.Imaging.Meshing;

/// <summary>
/// A triangle surface in RAS mm: vertex positions (x, y, z interleaved), triangles (three vertex indices
/// each, counter-clockwise seen from outside, so normals point out of the structure) and named
/// per-vertex scalar arrays (e.g. <c>thickness_mm</c>) that the writers carry as point data.
/// </summary>
public sealed class TriangleMesh
{
    public TriangleMesh(double[] positionsRas, int[] triangles)
    {
        ArgumentNullException.ThrowIfNull(positionsRas);
        ArgumentNullException.ThrowIfNull(triangles);
        if (positionsRas.Length % 3 != 0 || triangles.Length % 3 != 0)
        {
            throw new ArgumentException("Positions and triangles come in threes.");
        }

        PositionsRas = positionsRas;
        Triangles = triangles;
    }

    public double[] PositionsRas { get; private set; }

    public int[] Triangles { get; private set; }

    public int VertexCount => PositionsRas.Length / 3;

    public int TriangleCount => Triangles.Length / 3;

    /// <summary>Per-vertex scalars by name (length <see cref="VertexCount"/>).</summary>
    public Dictionary<string, float[]> PointData { get; } = new(StringComparer.Ordinal);

    public Vec3d Vertex(int v) => new(PositionsRas[3 * v], PositionsRas[(3 * v) + 1], PositionsRas[(3 * v) + 2]);

    public static TriangleMesh Empty => new([], []);

    /// <summary>Area-weighted vertex normals (unit length; zero for isolated vertices).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public double[] ComputeVertexNormals()
    {
        var normals = new double[PositionsRas.Length];
        double[] p = PositionsRas;
        int[] t = Triangles;
        for (int f = 0; f < t.Length; f += 3)
        {
            int a = 3 * t[f], b = 3 * t[f + 1], c = 3 * t[f + 2];
            double ux = p[b] - p[a], uy = p[b + 1] - p[a + 1], uz = p[b + 2] - p[a + 2];
            double vx = p[c] - p[a], vy = p[c + 1] - p[a + 1], vz = p[c + 2] - p[a + 2];
            // The cross product's length is twice the area: summing it weights by area.
            double nx = (uy * vz) - (uz * vy), ny = (uz * vx) - (ux * vz), nz = (ux * vy) - (uy * vx);
            normals[a] += nx; normals[a + 1] += ny; normals[a + 2] += nz;
            normals[b] += nx; normals[b + 1] += ny; normals[b + 2] += nz;
            normals[c] += nx; normals[c + 1] += ny; normals[c + 2] += nz;
        }

        for (int v = 0; v < normals.Length; v += 3)
        {
            double length = Math.Sqrt((normals[v] * normals[v]) + (normals[v + 1] * normals[v + 1]) + (normals[v + 2] * normals[v + 2]));
            if (length > 0)
            {
                normals[v] /= length;
                normals[v + 1] /= length;
                normals[v + 2] /= length;
            }
        }

        return normals;
    }

    /// <summary>Signed enclosed volume (mm3): positive for a closed surface with outward normals.</summary>
    public double SignedVolumeMm3()
    {
        double sum = 0;
        double[] p = PositionsRas;
        int[] t = Triangles;
        for (int f = 0; f < t.Length; f += 3)
        {
            int a = 3 * t[f], b = 3 * t[f + 1], c = 3 * t[f + 2];
            sum += (p[a] * ((p[b + 1] * p[c + 2]) - (p[b + 2] * p[c + 1])))
                 - (p[a + 1] * ((p[b] * p[c + 2]) - (p[b + 2] * p[c])))
                 + (p[a + 2] * ((p[b] * p[c + 1]) - (p[b + 1] * p[c])));
        }

        return sum / 6.0;
    }

    public double SurfaceAreaMm2()
    {
        double sum = 0;
        double[] p = PositionsRas;
        int[] t = Triangles;
        for (int f = 0; f < t.Length; f += 3)
        {
            int a = 3 * t[f], b = 3 * t[f + 1], c = 3 * t[f + 2];
            double ux = p[b] - p[a], uy = p[b + 1] - p[a + 1], uz = p[b + 2] - p[a + 2];
            double vx = p[c] - p[a], vy = p[c + 1] - p[a + 1], vz = p[c + 2] - p[a + 2];
            double nx = (uy * vz) - (uz * vy), ny = (uz * vx) - (ux * vz), nz = (ux * vy) - (uy * vx);
            sum += 0.5 * Math.Sqrt((nx * nx) + (ny * ny) + (nz * nz));
        }

        return sum;
    }

    /// <summary>
    /// Watertight check: every edge is shared by exactly two triangles, used once in each direction
    /// (closed, manifold and consistently oriented).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public bool IsWatertight(out string reason)
    {
        // Sorted directed-edge keys: duplicates and missing opposites show up by binary search.
        // (A Dictionary keyed on a<<32|b hashes a^b and collides badly on meshes: quadratic time.)
        int[] t = Triangles;
        var keys = new long[t.Length];
        for (int f = 0; f < t.Length; f += 3)
        {
            for (int e = 0; e < 3; e++)
            {
                int a = t[f + e], b = t[f + ((e + 1) % 3)];
                if (a == b)
                {
                    reason = $"triangle {f / 3} is degenerate";
                    return false;
                }

                keys[f + e] = ((long)a << 32) | (uint)b;
            }
        }

        Array.Sort(keys);
        for (int n = 0; n < keys.Length; n++)
        {
            int a = (int)(keys[n] >> 32), b = (int)(keys[n] & 0xffffffff);
            if (n > 0 && keys[n] == keys[n - 1])
            {
                reason = $"edge {a}->{b} is used twice in the same direction";
                return false;
            }

            if (Array.BinarySearch(keys, ((long)b << 32) | (uint)a) < 0)
            {
                reason = $"edge {a}->{b} has no opposite (the surface is open)";
                return false;
            }
        }

        reason = "";
        return true;
    }

    /// <summary>Flips every triangle (used when the index-to-RAS affine mirrors space).</summary>
    public void FlipOrientation()
    {
        for (int f = 0; f < Triangles.Length; f += 3)
        {
            (Triangles[f + 1], Triangles[f + 2]) = (Triangles[f + 2], Triangles[f + 1]);
        }
    }

    /// <summary>Replaces geometry (used by resampling); point data must be rebuilt by the caller.</summary>
    internal void Replace(double[] positionsRas, int[] triangles)
    {
        PositionsRas = positionsRas;
        Triangles = triangles;
        PointData.Clear();
    }
}
