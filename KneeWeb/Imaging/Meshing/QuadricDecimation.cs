using System.Runtime.CompilerServices;

namespace KneeWeb.Imaging.Meshing;

/// <summary>
/// Resamples a closed mesh to a target vertex count by edge collapse, shortest edges first (an even vertex
/// density), each merged vertex placed by quadric error (Garland and Heckbert): where the summed squared
/// distances to the original neighbouring planes are least, so vertices stay on the surface. Collapses that would break the manifold (link
/// condition) or fold a triangle over are refused, so a watertight mesh stays watertight.
/// Deterministic: ties are broken by vertex numbers.
/// </summary>
public static class QuadricDecimation
{
    public static TriangleMesh Decimate(TriangleMesh mesh, int targetVertices)
    {
        ArgumentNullException.ThrowIfNull(mesh);
        int n = mesh.VertexCount;
        if (targetVertices >= n || n == 0)
        {
            return mesh;
        }

        var state = new State(mesh);
        state.Run(Math.Max(4, targetVertices));
        return state.ToMesh();
    }

    private const int MaxValence = 10;

    private sealed class State
    {
        private readonly double[] p;
        private readonly int[] tri;
        private readonly bool[] faceAlive;
        private readonly bool[] vertexAlive;
        private readonly int[] version;
        private readonly List<int>[] faces;
        private readonly double[] q;
        private readonly int[] mark;
        private readonly PriorityQueue<(int U, int V, int Su, int Sv), (double Cost, long Tie)> heap = new();
        private int markGeneration;
        private int aliveVertices;

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public State(TriangleMesh mesh)
        {
            p = (double[])mesh.PositionsRas.Clone();
            tri = (int[])mesh.Triangles.Clone();
            int n = mesh.VertexCount, m = mesh.TriangleCount;
            faceAlive = new bool[m];
            Array.Fill(faceAlive, true);
            vertexAlive = new bool[n];
            version = new int[n];
            mark = new int[n];
            faces = new List<int>[n];
            q = new double[10 * n];
            for (int v = 0; v < n; v++)
            {
                faces[v] = new List<int>(7);
            }

            for (int f = 0; f < m; f++)
            {
                for (int c = 0; c < 3; c++)
                {
                    int v = tri[(3 * f) + c];
                    faces[v].Add(f);
                    vertexAlive[v] = true;
                }

                AddPlaneQuadric(f);
            }

            for (int v = 0; v < n; v++)
            {
                if (vertexAlive[v])
                {
                    aliveVertices++;
                }
            }

            for (int f = 0; f < m; f++)
            {
                for (int c = 0; c < 3; c++)
                {
                    int a = tri[(3 * f) + c], b = tri[(3 * f) + ((c + 1) % 3)];
                    if (a < b)
                    {
                        Push(a, b);
                    }
                }
            }
        }

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void Run(int target)
        {
            Span<double> best = stackalloc double[3];
            while (aliveVertices > target && heap.TryDequeue(out (int U, int V, int Su, int Sv) edge, out _))
            {
                (int u, int v, int su, int sv) = edge;
                if (!vertexAlive[u] || !vertexAlive[v] || version[u] != su || version[v] != sv)
                {
                    continue;
                }

                Optimal(u, v, best);
                if (!LinkConditionHolds(u, v) || Folds(u, v, best) || Folds(v, u, best))
                {
                    continue;
                }

                Collapse(u, v, best);
            }
        }

        private void AddPlaneQuadric(int f)
        {
            int a = 3 * tri[3 * f], b = 3 * tri[(3 * f) + 1], c = 3 * tri[(3 * f) + 2];
            double ux = p[b] - p[a], uy = p[b + 1] - p[a + 1], uz = p[b + 2] - p[a + 2];
            double vx = p[c] - p[a], vy = p[c + 1] - p[a + 1], vz = p[c + 2] - p[a + 2];
            double nx = (uy * vz) - (uz * vy), ny = (uz * vx) - (ux * vz), nz = (ux * vy) - (uy * vx);
            double length = Math.Sqrt((nx * nx) + (ny * ny) + (nz * nz));
            if (length == 0)
            {
                return;
            }

            // Area-weighted plane quadric: weight = area = length / 2.
            double weight = 0.5 * length;
            nx /= length; ny /= length; nz /= length;
            double d = -((nx * p[a]) + (ny * p[a + 1]) + (nz * p[a + 2]));
            Span<double> k = [nx * nx, nx * ny, nx * nz, nx * d, ny * ny, ny * nz, ny * d, nz * nz, nz * d, d * d];
            for (int c3 = 0; c3 < 3; c3++)
            {
                int o = 10 * tri[(3 * f) + c3];
                for (int i = 0; i < 10; i++)
                {
                    q[o + i] += weight * k[i];
                }
            }
        }

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private double Error(int u, int v, double x, double y, double z)
        {
            int a = 10 * u, b = 10 * v;
            double q00 = q[a] + q[b], q01 = q[a + 1] + q[b + 1], q02 = q[a + 2] + q[b + 2], q03 = q[a + 3] + q[b + 3];
            double q11 = q[a + 4] + q[b + 4], q12 = q[a + 5] + q[b + 5], q13 = q[a + 6] + q[b + 6];
            double q22 = q[a + 7] + q[b + 7], q23 = q[a + 8] + q[b + 8], q33 = q[a + 9] + q[b + 9];
            return (q00 * x * x) + (2 * q01 * x * y) + (2 * q02 * x * z) + (2 * q03 * x)
                 + (q11 * y * y) + (2 * q12 * y * z) + (2 * q13 * y)
                 + (q22 * z * z) + (2 * q23 * z) + q33;
        }

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private double Optimal(int u, int v, Span<double> best)
        {
            int a = 10 * u, b = 10 * v;
            double q00 = q[a] + q[b], q01 = q[a + 1] + q[b + 1], q02 = q[a + 2] + q[b + 2], q03 = q[a + 3] + q[b + 3];
            double q11 = q[a + 4] + q[b + 4], q12 = q[a + 5] + q[b + 5], q13 = q[a + 6] + q[b + 6];
            double q22 = q[a + 7] + q[b + 7], q23 = q[a + 8] + q[b + 8];
            double det = (q00 * ((q11 * q22) - (q12 * q12))) - (q01 * ((q01 * q22) - (q12 * q02))) + (q02 * ((q01 * q12) - (q11 * q02)));
            double mx = 0.5 * (p[3 * u] + p[3 * v]), my = 0.5 * (p[(3 * u) + 1] + p[(3 * v) + 1]), mz = 0.5 * (p[(3 * u) + 2] + p[(3 * v) + 2]);
            double scale = Math.Max(Math.Abs(q00), Math.Max(Math.Abs(q11), Math.Abs(q22)));
            double cost;
            if (Math.Abs(det) > 1e-9 * scale * scale * scale)
            {
                // Solve A x = -b by Cramer's rule.
                double r0 = -q03, r1 = -q13, r2 = -q23;
                double x = ((r0 * ((q11 * q22) - (q12 * q12))) - (q01 * ((r1 * q22) - (q12 * r2))) + (q02 * ((r1 * q12) - (q11 * r2)))) / det;
                double y = ((q00 * ((r1 * q22) - (q12 * r2))) - (r0 * ((q01 * q22) - (q12 * q02))) + (q02 * ((q01 * r2) - (r1 * q02)))) / det;
                double z = ((q00 * ((q11 * r2) - (r1 * q12))) - (q01 * ((q01 * r2) - (r1 * q02))) + (r0 * ((q01 * q12) - (q11 * q02)))) / det;
                // Keep the solution near the edge: a far-away optimum means an ill-conditioned quadric.
                double ex = p[3 * u] - p[3 * v], ey = p[(3 * u) + 1] - p[(3 * v) + 1], ez = p[(3 * u) + 2] - p[(3 * v) + 2];
                double edge2 = (ex * ex) + (ey * ey) + (ez * ez);
                double dx = x - mx, dy = y - my, dz = z - mz;
                if ((dx * dx) + (dy * dy) + (dz * dz) <= 4 * edge2)
                {
                    best[0] = x; best[1] = y; best[2] = z;
                    return Error(u, v, x, y, z);
                }
            }

            best[0] = mx; best[1] = my; best[2] = mz;
            cost = Error(u, v, mx, my, mz);
            return cost;
        }

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private void Push(int u, int v)
        {
            Span<double> best = stackalloc double[3];
            // Shortest edges go first, so the result keeps an even vertex density (what per-vertex thickness
            // maps need: QEM order would leave flat plateaus with a handful of huge triangles); the quadric
            // still places each merged vertex on the surface. A tiny quadric term breaks ties by shape.
            double quadric = Optimal(u, v, best);
            double ex = p[3 * u] - p[3 * v], ey = p[(3 * u) + 1] - p[(3 * v) + 1], ez = p[(3 * u) + 2] - p[(3 * v) + 2];
            double cost = (ex * ex) + (ey * ey) + (ez * ez) + (1e-3 * Math.Max(0, quadric));
            long tie = ((long)Math.Min(u, v) << 32) | (uint)Math.Max(u, v);
            heap.Enqueue((u, v, version[u], version[v]), (cost, tie));
        }

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private void Prune(int v)
        {
            List<int> list = faces[v];
            int keep = 0;
            for (int i = 0; i < list.Count; i++)
            {
                if (faceAlive[list[i]])
                {
                    list[keep++] = list[i];
                }
            }

            list.RemoveRange(keep, list.Count - keep);
        }

        // The vertices adjacent to both u and v must be exactly the apexes of the two triangles on edge uv.
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private bool LinkConditionHolds(int u, int v)
        {
            Prune(u);
            Prune(v);
            markGeneration++;
            int shared = 0, onEdge = 0, valenceU = 0, valenceV = 0;
            foreach (int f in faces[u])
            {
                for (int c = 0; c < 3; c++)
                {
                    int w = tri[(3 * f) + c];
                    if (w != u && mark[w] != markGeneration)
                    {
                        mark[w] = markGeneration;
                        valenceU++;
                    }
                }
            }

            markGeneration++;
            int first = markGeneration - 1;
            foreach (int f in faces[v])
            {
                bool hasU = false;
                for (int c = 0; c < 3; c++)
                {
                    hasU |= tri[(3 * f) + c] == u;
                }

                if (hasU)
                {
                    onEdge++;
                }

                for (int c = 0; c < 3; c++)
                {
                    int w = tri[(3 * f) + c];
                    if (w == v || w == u || mark[w] == markGeneration)
                    {
                        continue;
                    }

                    if (mark[w] == first)
                    {
                        shared++;
                    }

                    mark[w] = markGeneration;
                    valenceV++;
                }
            }

            // Also refuse hubs: a merged vertex of high valence makes slivers (and quadratic work).
            int merged = valenceU + valenceV - shared - 1;
            return onEdge == 2 && shared == 2 && merged <= MaxValence;
        }

        // Would moving 'moving' to the new position flip or squash a triangle that survives the collapse?
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private bool Folds(int moving, int other, ReadOnlySpan<double> target)
        {
            foreach (int f in faces[moving])
            {
                int a = tri[3 * f], b = tri[(3 * f) + 1], c = tri[(3 * f) + 2];
                if (a == other || b == other || c == other)
                {
                    continue;
                }

                Vec3d pa = Position(a), pb = Position(b), pc = Position(c);
                Vec3d before = (pb - pa).Cross(pc - pa);
                var newPoint = new Vec3d(target[0], target[1], target[2]);
                if (a == moving) { pa = newPoint; }
                else if (b == moving) { pb = newPoint; }
                else { pc = newPoint; }

                Vec3d after = (pb - pa).Cross(pc - pa);
                double la = after.Length, lb = before.Length;
                if (la <= 1e-12 || after.Dot(before) < 0.2 * la * lb)
                {
                    return true;
                }
            }

            return false;
        }

        private Vec3d Position(int v) => new(p[3 * v], p[(3 * v) + 1], p[(3 * v) + 2]);

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private void Collapse(int u, int v, ReadOnlySpan<double> target)
        {
            foreach (int f in faces[v])
            {
                int o = 3 * f;
                if (tri[o] == u || tri[o + 1] == u || tri[o + 2] == u)
                {
                    faceAlive[f] = false;
                    continue;
                }

                for (int c = 0; c < 3; c++)
                {
                    if (tri[o + c] == v)
                    {
                        tri[o + c] = u;
                    }
                }

                faces[u].Add(f);
            }

            faces[v].Clear();
            vertexAlive[v] = false;
            aliveVertices--;
            p[3 * u] = target[0];
            p[(3 * u) + 1] = target[1];
            p[(3 * u) + 2] = target[2];
            for (int i = 0; i < 10; i++)
            {
                q[(10 * u) + i] += q[(10 * v) + i];
            }

            version[u]++;
            Prune(u);
            markGeneration++;
            foreach (int f in faces[u])
            {
                for (int c = 0; c < 3; c++)
                {
                    int w = tri[(3 * f) + c];
                    if (w != u && mark[w] != markGeneration)
                    {
                        mark[w] = markGeneration;
                        Push(u, w);
                    }
                }
            }
        }

        public TriangleMesh ToMesh()
        {
            var remap = new int[vertexAlive.Length];
            var positions = new List<double>(aliveVertices * 3);
            int next = 0;
            for (int v = 0; v < vertexAlive.Length; v++)
            {
                if (vertexAlive[v])
                {
                    remap[v] = next++;
                    positions.Add(p[3 * v]);
                    positions.Add(p[(3 * v) + 1]);
                    positions.Add(p[(3 * v) + 2]);
                }
                else
                {
                    remap[v] = -1;
                }
            }

            var triangles = new List<int>();
            for (int f = 0; f < faceAlive.Length; f++)
            {
                if (faceAlive[f])
                {
                    triangles.Add(remap[tri[3 * f]]);
                    triangles.Add(remap[tri[(3 * f) + 1]]);
                    triangles.Add(remap[tri[(3 * f) + 2]]);
                }
            }

            return new TriangleMesh([.. positions], [.. triangles]);
        }
    }
}
