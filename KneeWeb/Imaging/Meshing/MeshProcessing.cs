using System.Runtime.CompilerServices;

namespace KneeWeb.Imaging.Meshing;

/// <summary>Smoothing and resampling of closed triangle meshes.</summary>
public static class MeshProcessing
{
    /// <summary>
    /// Taubin lambda/mu smoothing (a low-pass filter that does not shrink the surface as plain Laplacian
    /// smoothing does): each iteration is a shrinking step (lambda) and an inflating step (mu).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void TaubinSmooth(TriangleMesh mesh, int iterations, double lambda = 0.5, double mu = -0.53)
    {
        ArgumentNullException.ThrowIfNull(mesh);
        if (iterations <= 0 || mesh.VertexCount == 0)
        {
            return;
        }

        (int[] start, int[] neighbours) = Neighbours(mesh);
        double[] p = mesh.PositionsRas;
        var next = new double[p.Length];
        for (int it = 0; it < 2 * iterations; it++)
        {
            double factor = it % 2 == 0 ? lambda : mu;
            double[] source = p;
            int chunks = Math.Max(1, Environment.ProcessorCount * 4);
            int count = mesh.VertexCount;
            Parallel.For(0, chunks, c => SmoothRange(source, next, start, neighbours, factor, count * c / chunks, count * (c + 1) / chunks));
            Array.Copy(next, p, p.Length);
        }
    }

    /// <summary>Vertex adjacency in compressed rows: neighbours of v are neighbours[start[v]..start[v+1]).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static (int[] Start, int[] Neighbours) Neighbours(TriangleMesh mesh)
    {
        ArgumentNullException.ThrowIfNull(mesh);
        int n = mesh.VertexCount;
        int[] t = mesh.Triangles;
        // Each directed edge a->b of a closed mesh appears once; collect both directions, then deduplicate.
        var degree = new int[n + 1];
        for (int f = 0; f < t.Length; f++)
        {
            degree[t[f]] += 2;
        }

        var start = new int[n + 1];
        for (int v = 0; v < n; v++)
        {
            start[v + 1] = start[v] + degree[v];
        }

        var fill = new int[n];
        var raw = new int[start[n]];
        for (int f = 0; f < t.Length; f += 3)
        {
            for (int e = 0; e < 3; e++)
            {
                int a = t[f + e], b = t[f + ((e + 1) % 3)];
                raw[start[a] + fill[a]++] = b;
                raw[start[b] + fill[b]++] = a;
            }
        }

        var compactStart = new int[n + 1];
        var compact = new List<int>(raw.Length / 2);
        for (int v = 0; v < n; v++)
        {
            compactStart[v] = compact.Count;
            Span<int> list = raw.AsSpan(start[v], fill[v]);
            list.Sort();
            for (int i = 0; i < list.Length; i++)
            {
                if (i == 0 || list[i] != list[i - 1])
                {
                    compact.Add(list[i]);
                }
            }
        }

        compactStart[n] = compact.Count;
        return (compactStart, [.. compact]);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void SmoothRange(double[] source, double[] next, int[] start, int[] neighbours, double factor, int from, int to)
    {
        for (int v = from; v < to; v++)
        {
            int s = start[v], e = start[v + 1];
            if (e == s)
            {
                next[3 * v] = source[3 * v];
                next[(3 * v) + 1] = source[(3 * v) + 1];
                next[(3 * v) + 2] = source[(3 * v) + 2];
                continue;
            }

            double sx = 0, sy = 0, sz = 0;
            for (int n = s; n < e; n++)
            {
                int w = 3 * neighbours[n];
                sx += source[w];
                sy += source[w + 1];
                sz += source[w + 2];
            }

            double inv = 1.0 / (e - s);
            next[3 * v] = source[3 * v] + (factor * ((sx * inv) - source[3 * v]));
            next[(3 * v) + 1] = source[(3 * v) + 1] + (factor * ((sy * inv) - source[(3 * v) + 1]));
            next[(3 * v) + 2] = source[(3 * v) + 2] + (factor * ((sz * inv) - source[(3 * v) + 2]));
        }
    }
}
