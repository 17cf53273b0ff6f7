using System.Numerics;
using System.Runtime.CompilerServices;

namespace KneeWeb.Imaging.Meshing;

/// <summary>A box of grid points (inclusive bounds) to restrict work to.</summary>
public readonly record struct GridBox(int I0, int J0, int K0, int I1, int J1, int K1)
{
    public static GridBox Whole(Dims3 dims) => new(0, 0, 0, dims.I - 1, dims.J - 1, dims.K - 1);
}

/// <summary>
/// Marching cubes over a scalar grid, producing one shared vertex per crossed grid edge (as scikit-image's
/// <c>marching_cubes</c>) and a closed, consistently oriented surface wherever the field is below the level
/// on the box's border. Inside is <c>value &gt; level</c>; triangles face outward (towards lower values).
/// The case table is derived at start-up from the cube's faces instead of typed in: on each face the
/// crossings are joined so that inside corners on a diagonal stay apart, and the face segments are chained
/// into loops. Neighbouring cubes agree on their shared face, which is what makes the surface watertight.
/// Work is split over slabs of slices; vertex numbering is fixed by the grid, not by the thread count.
/// </summary>
public static class MarchingCubes
{
    // Corner c of a cube is at offset (c & 1, (c >> 1) & 1, (c >> 2) & 1). Edge e = axis * 4 + n joins
    // corner EdgeCorner[e] and that corner plus one step along the axis.
    private static readonly int[] EdgeCorner = [0, 2, 4, 6, 0, 1, 4, 5, 0, 1, 2, 3];
    private static readonly int[] CaseOffsets = new int[257];
    private static readonly int[] CaseEdges = BuildTable(CaseOffsets);

    /// <summary>Extracts the level surface inside <paramref name="box"/>, mapping vertices through the affine.</summary>
    public static TriangleMesh Extract(float[] field, Dims3 dims, float level, AffineRas indexToRas, GridBox? box = null)
    {
        ArgumentNullException.ThrowIfNull(field);
        if (field.LongLength != dims.VoxelCount)
        {
            throw new ArgumentException($"Field holds {field.LongLength} values; {dims} needs {dims.VoxelCount}.", nameof(field));
        }

        GridBox b = box ?? GridBox.Whole(dims);
        if (b.I1 - b.I0 < 1 || b.J1 - b.J0 < 1 || b.K1 - b.K0 < 1)
        {
            return TriangleMesh.Empty;
        }

        int layers = b.K1 - b.K0 + 1;
        // Pass 0: where each grid row has inside points. Crossings and non-trivial cubes only occur next to
        // inside points, so every later pass visits only those stretches of rows (empty space costs one scan).
        var rows = new RowRanges(b);
        Parallel.For(0, layers, l => rows.Scan(field, dims, level, b.K0 + l));
        // Pass 1: crossings per layer (x and y edges in the layer, z edges up to the next one).
        var counts = new int[layers];
        Parallel.For(0, layers, l => counts[l] = CountLayer(field, dims, level, b, rows, b.K0 + l));
        var bases = new long[layers + 1];
        for (int l = 0; l < layers; l++)
        {
            bases[l + 1] = bases[l] + counts[l];
        }

        long vertexCount = bases[layers];
        var positions = new double[checked(vertexCount * 3)];
        int cubeLayers = layers - 1;
        int slabs = Math.Max(1, Math.Min(cubeLayers, Environment.ProcessorCount * 4));
        var slabTriangles = new List<int>[slabs];
        Parallel.For(0, slabs, s =>
        {
            int l0 = cubeLayers * s / slabs, l1 = cubeLayers * (s + 1) / slabs;
            slabTriangles[s] = MeshSlab(field, dims, level, b, rows, l0, l1, bases, positions, indexToRas, lastSlab: s == slabs - 1);
        });

        int total = 0;
        foreach (List<int> list in slabTriangles)
        {
            total += list.Count;
        }

        var triangles = new int[total];
        int offset = 0;
        foreach (List<int> list in slabTriangles)
        {
            list.CopyTo(triangles, offset);
            offset += list.Count;
        }

        var mesh = new TriangleMesh(positions, triangles);
        if (indexToRas.Determinant < 0)
        {
            mesh.FlipOrientation();
        }

        return mesh;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static int CountLayer(float[] field, Dims3 dims, float level, GridBox b, RowRanges rows, int k)
    {
        int count = 0;
        bool hasUpper = k < b.K1;
        for (int j = b.J0; j <= b.J1; j++)
        {
            (int lo, int hi) = rows.EdgeRange(j, k);
            if (lo > hi)
            {
                continue;
            }

            int row = (int)dims.Index(0, j, k);
            int rowUp = j < b.J1 ? row + dims.I : -1;
            int rowZ = hasUpper ? row + (int)dims.SliceSize : -1;
            for (int i = lo; i <= hi; i++)
            {
                bool inside = field[row + i] > level;
                if (i < b.I1 && (field[row + i + 1] > level) != inside)
                {
                    count++;
                }

                if (rowUp >= 0 && (field[rowUp + i] > level) != inside)
                {
                    count++;
                }

                if (rowZ >= 0 && (field[rowZ + i] > level) != inside)
                {
                    count++;
                }
            }
        }

        return count;
    }

    // Numbers the crossings of one layer in the canonical order of CountLayer, writing the ids of x, y and
    // z edges to the given arrays (indexed i + j * I inside the box) and, when owned, their positions.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void NumberLayer(float[] field, Dims3 dims, float level, GridBox b, RowRanges rows, int k, long baseId,
        int[] xIds, int[] yIds, int[]? zIds, double[] positions, AffineRas affine, bool owned)
    {
        int bi = b.I1 - b.I0 + 1;
        long id = baseId;
        bool hasUpper = k < b.K1;
        for (int j = b.J0; j <= b.J1; j++)
        {
            (int lo, int hi) = rows.EdgeRange(j, k);
            if (lo > hi)
            {
                continue;
            }

            int row = (int)dims.Index(0, j, k);
            int rowUp = j < b.J1 ? row + dims.I : -1;
            int rowZ = hasUpper ? row + (int)dims.SliceSize : -1;
            int local = ((j - b.J0) * bi) + (lo - b.I0);
            for (int i = lo; i <= hi; i++, local++)
            {
                float v0 = field[row + i];
                bool inside = v0 > level;
                if (i < b.I1)
                {
                    float v1 = field[row + i + 1];
                    if ((v1 > level) != inside)
                    {
                        if (owned)
                        {
                            Store(positions, id, affine, i + ((level - v0) / (v1 - v0)), j, k);
                        }

                        xIds[local] = (int)id++;
                    }
                }

                if (rowUp >= 0)
                {
                    float v1 = field[rowUp + i];
                    if ((v1 > level) != inside)
                    {
                        if (owned)
                        {
                            Store(positions, id, affine, i, j + ((level - v0) / (v1 - v0)), k);
                        }

                        yIds[local] = (int)id++;
                    }
                }

                if (rowZ >= 0)
                {
                    float v1 = field[rowZ + i];
                    if ((v1 > level) != inside)
                    {
                        if (owned)
                        {
                            Store(positions, id, affine, i, j, k + ((level - v0) / (v1 - v0)));
                        }

                        if (zIds is not null)
                        {
                            zIds[local] = (int)id;
                        }

                        id++;
                    }
                }
            }
        }
    }

    private static void Store(double[] positions, long id, AffineRas affine, double i, double j, double k)
    {
        Vec3d p = affine.Apply(new Vec3d(i, j, k));
        long o = id * 3;
        positions[o] = p.X;
        positions[o + 1] = p.Y;
        positions[o + 2] = p.Z;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static List<int> MeshSlab(float[] field, Dims3 dims, float level, GridBox b, RowRanges rows, int l0, int l1, long[] bases,
        double[] positions, AffineRas affine, bool lastSlab)
    {
        int bi = b.I1 - b.I0 + 1, bj = b.J1 - b.J0 + 1;
        int layerSize = bi * bj;
        var xLow = new int[layerSize];
        var yLow = new int[layerSize];
        var zLow = new int[layerSize];
        var xHigh = new int[layerSize];
        var yHigh = new int[layerSize];
        var zHigh = new int[layerSize];
        var triangles = new List<int>();
        int slice = (int)dims.SliceSize;
        Span<int> edgeIds = stackalloc int[12];

        NumberLayer(field, dims, level, b, rows, b.K0 + l0, bases[l0], xLow, yLow, zLow, positions, affine, owned: true);
        for (int l = l0; l < l1; l++)
        {
            int k = b.K0 + l;
            // The top layer, numbered once: its x, y (and, inside the slab, z) edge ids for this cube layer and
            // the next. Its positions belong to this slab unless it is the next slab's first layer.
            bool inside = l + 1 < l1;
            NumberLayer(field, dims, level, b, rows, k + 1, bases[l + 1], xHigh, yHigh, inside ? zHigh : null, positions, affine,
                owned: inside || lastSlab);
            for (int j = b.J0; j < b.J1; j++)
            {
                (int lo, int hi) = rows.CubeRange(j, k);
                if (lo > hi)
                {
                    continue;
                }

                int row = (int)dims.Index(0, j, k);
                int local = ((j - b.J0) * bi) + (lo - b.I0);
                for (int i = lo; i <= hi; i++, local++)
                {
                    int v = row + i;
                    int cube = (field[v] > level ? 1 : 0)
                        | (field[v + 1] > level ? 2 : 0)
                        | (field[v + dims.I] > level ? 4 : 0)
                        | (field[v + dims.I + 1] > level ? 8 : 0)
                        | (field[v + slice] > level ? 16 : 0)
                        | (field[v + slice + 1] > level ? 32 : 0)
                        | (field[v + slice + dims.I] > level ? 64 : 0)
                        | (field[v + slice + dims.I + 1] > level ? 128 : 0);
                    if (cube == 0 || cube == 255)
                    {
                        continue;
                    }

                    // x edges: corners 0-1 (j, k), 2-3 (j+1, k), 4-5 (j, k+1), 6-7 (j+1, k+1).
                    edgeIds[0] = xLow[local];
                    edgeIds[1] = xLow[local + bi];
                    edgeIds[2] = xHigh[local];
                    edgeIds[3] = xHigh[local + bi];
                    // y edges: corners 0-2 (i, k), 1-3 (i+1, k), 4-6 (i, k+1), 5-7 (i+1, k+1).
                    edgeIds[4] = yLow[local];
                    edgeIds[5] = yLow[local + 1];
                    edgeIds[6] = yHigh[local];
                    edgeIds[7] = yHigh[local + 1];
                    // z edges: corners 0-4 (i, j), 1-5 (i+1, j), 2-6 (i, j+1), 3-7 (i+1, j+1).
                    edgeIds[8] = zLow[local];
                    edgeIds[9] = zLow[local + 1];
                    edgeIds[10] = zLow[local + bi];
                    edgeIds[11] = zLow[local + bi + 1];
                    int end = CaseOffsets[cube + 1];
                    for (int e = CaseOffsets[cube]; e < end; e++)
                    {
                        triangles.Add(edgeIds[CaseEdges[e]]);
                    }
                }
            }

            // Slide up: the top layer becomes the bottom one.
            (xLow, xHigh) = (xHigh, xLow);
            (yLow, yHigh) = (yHigh, yLow);
            (zLow, zHigh) = (zHigh, zLow);
        }

        return triangles;
    }

    /// <summary>Per grid row (j, k) of the box: the first and last i with an inside point (empty: first &gt; last).</summary>
    private sealed class RowRanges
    {
        private readonly GridBox b;
        private readonly int rowsPerLayer;
        private readonly int[] first;
        private readonly int[] last;

        public RowRanges(GridBox box)
        {
            b = box;
            rowsPerLayer = b.J1 - b.J0 + 1;
            int count = rowsPerLayer * (b.K1 - b.K0 + 1);
            first = new int[count];
            last = new int[count];
        }

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void Scan(float[] field, Dims3 dims, float level, int k)
        {
            for (int j = b.J0; j <= b.J1; j++)
            {
                ReadOnlySpan<float> line = field.AsSpan((int)dims.Index(b.I0, j, k), b.I1 - b.I0 + 1);
                int f = int.MaxValue, l = -1;
                // Empty space dominates: skip it a vector at a time.
                int start = 0;
                var levels = new Vector<float>(level);
                while (start + Vector<float>.Count <= line.Length && !Vector.GreaterThanAny(new Vector<float>(line[start..]), levels))
                {
                    start += Vector<float>.Count;
                }

                for (int i = start; i < line.Length; i++)
                {
                    if (line[i] > level)
                    {
                        f = i;
                        break;
                    }
                }

                if (f != int.MaxValue)
                {
                    int end = line.Length;
                    while (end - Vector<float>.Count > f && !Vector.GreaterThanAny(new Vector<float>(line[(end - Vector<float>.Count)..]), levels))
                    {
                        end -= Vector<float>.Count;
                    }

                    for (int i = end - 1; i >= f; i--)
                    {
                        if (line[i] > level)
                        {
                            l = i;
                            break;
                        }
                    }

                    f += b.I0;
                    l += b.I0;
                }

                int r = (j - b.J0) + (rowsPerLayer * (k - b.K0));
                first[r] = f;
                last[r] = l;
            }
        }

        // Union of the stretches of rows (j, k), (j + 1, k) and (j, k + 1), one step earlier for x edges.
        public (int Lo, int Hi) EdgeRange(int j, int k)
        {
            int r = (j - b.J0) + (rowsPerLayer * (k - b.K0));
            int lo = first[r], hi = last[r];
            if (j < b.J1)
            {
                lo = Math.Min(lo, first[r + 1]);
                hi = Math.Max(hi, last[r + 1]);
            }

            if (k < b.K1)
            {
                lo = Math.Min(lo, first[r + rowsPerLayer]);
                hi = Math.Max(hi, last[r + rowsPerLayer]);
            }

            return hi < 0 ? (1, 0) : (Math.Max(b.I0, lo - 1), Math.Min(b.I1, hi));
        }

        // Cubes of row (j, k) touch rows (j, k), (j + 1, k), (j, k + 1) and (j + 1, k + 1).
        public (int Lo, int Hi) CubeRange(int j, int k)
        {
            int r = (j - b.J0) + (rowsPerLayer * (k - b.K0));
            int lo = Math.Min(Math.Min(first[r], first[r + 1]), Math.Min(first[r + rowsPerLayer], first[r + rowsPerLayer + 1]));
            int hi = Math.Max(Math.Max(last[r], last[r + 1]), Math.Max(last[r + rowsPerLayer], last[r + rowsPerLayer + 1]));
            return hi < 0 ? (1, 0) : (Math.Max(b.I0, lo - 1), Math.Min(b.I1 - 1, hi));
        }
    }

    /// <summary>Triangles of each of the 256 cube cases, as edge numbers, derived from the cube's faces.</summary>
    private static int[] BuildTable(int[] offsets)
    {
        var corners = new (int X, int Y, int Z)[8];
        for (int c = 0; c < 8; c++)
        {
            corners[c] = (c & 1, (c >> 1) & 1, (c >> 2) & 1);
        }

        int EdgeOf(int a, int c)
        {
            int lo = Math.Min(a, c), hi = Math.Max(a, c), axis = (hi - lo) switch { 1 => 0, 2 => 1, _ => 2 };
            for (int n = 0; n < 4; n++)
            {
                if (EdgeCorner[(axis * 4) + n] == lo)
                {
                    return (axis * 4) + n;
                }
            }

            throw new InvalidOperationException("not an edge");
        }

        // Faces as corner lists counter-clockwise seen from outside the cube.
        var faces = new int[6][];
        for (int axis = 0; axis < 3; axis++)
        {
            for (int side = 0; side < 2; side++)
            {
                var list = new List<int>();
                for (int c = 0; c < 8; c++)
                {
                    int coordinate = axis == 0 ? corners[c].X : axis == 1 ? corners[c].Y : corners[c].Z;
                    if (coordinate == side)
                    {
                        list.Add(c);
                    }
                }

                // Outward normal n; basis u, v with u x v = n; sort by angle about the face centre.
                double[] n = [0, 0, 0];
                n[axis] = side == 0 ? -1 : 1;
                double[] u = [0, 0, 0];
                u[(axis + 1) % 3] = 1;
                double[] v =
                [
                    (n[1] * u[2]) - (n[2] * u[1]),
                    (n[2] * u[0]) - (n[0] * u[2]),
                    (n[0] * u[1]) - (n[1] * u[0]),
                ];
                list.Sort((a, c) => Angle(a).CompareTo(Angle(c)));
                faces[(axis * 2) + side] = [.. list];

                double Angle(int c)
                {
                    double px = corners[c].X - 0.5, py = corners[c].Y - 0.5, pz = corners[c].Z - 0.5;
                    return Math.Atan2((px * v[0]) + (py * v[1]) + (pz * v[2]), (px * u[0]) + (py * u[1]) + (pz * u[2]));
                }
            }
        }

        var edges = new List<int>();
        for (int cube = 0; cube < 256; cube++)
        {
            offsets[cube] = edges.Count;
            var next = new int[12];
            Array.Fill(next, -1);
            foreach (int[] face in faces)
            {
                // Crossings in counter-clockwise order; each entry (outside -> inside) joins the next exit,
                // which keeps diagonal inside corners apart and leaves the inside on the segment's right:
                // loops then wind counter-clockwise seen from outside the surface.
                var events = new List<(int Edge, bool Entry)>();
                for (int m = 0; m < 4; m++)
                {
                    int a = face[m], c = face[(m + 1) % 4];
                    bool ia = ((cube >> a) & 1) == 1, ic = ((cube >> c) & 1) == 1;
                    if (ia != ic)
                    {
                        events.Add((EdgeOf(a, c), ic));
                    }
                }

                for (int e = 0; e < events.Count; e++)
                {
                    if (events[e].Entry)
                    {
                        next[events[e].Edge] = events[(e + 1) % events.Count].Edge;
                    }
                }
            }

            var visited = new bool[12];
            for (int start = 0; start < 12; start++)
            {
                if (next[start] < 0 || visited[start])
                {
                    continue;
                }

                var loop = new List<int>();
                for (int e = start; !visited[e]; e = next[e])
                {
                    visited[e] = true;
                    loop.Add(e);
                }

                // A diagonal between two crossings of one face could meet the neighbouring cube's diagonal
                // (a tunnel through a face with four crossings) and make an edge non-manifold: triangulate
                // each loop with diagonals that never join two crossings of a common face.
                var tris = new List<int>();
                if (!Triangulate(loop, tris, FacesOfEdge))
                {
                    tris.Clear();
                    for (int t = 1; t + 1 < loop.Count; t++)
                    {
                        tris.Add(loop[0]);
                        tris.Add(loop[t]);
                        tris.Add(loop[t + 1]);
                    }
                }

                edges.AddRange(tris);
            }
        }

        offsets[256] = edges.Count;
        return [.. edges];

        int FacesOfEdge(int e)
        {
            int axis = e / 4, corner = EdgeCorner[e];
            int mask = 0;
            for (int other = 0; other < 3; other++)
            {
                if (other != axis)
                {
                    int side = (corner >> other) & 1;
                    mask |= 1 << ((other * 2) + side);
                }
            }

            return mask;
        }
    }

    // Triangulates a polygon (as edge numbers) so that no diagonal joins two edges on a common cube face.
    private static bool Triangulate(List<int> polygon, List<int> output, Func<int, int> facesOfEdge)
    {
        int n = polygon.Count;
        if (n < 3)
        {
            return true;
        }

        if (n == 3)
        {
            output.AddRange(polygon);
            return true;
        }

        bool Allowed(int a, int b) => (facesOfEdge(polygon[a]) & facesOfEdge(polygon[b])) == 0;

        // Triangle (0, 1, k) splits the polygon into [1..k] and [k..n-1, 0].
        for (int k = 2; k < n; k++)
        {
            if ((k != 2 && !Allowed(1, k)) || (k != n - 1 && !Allowed(k, 0)))
            {
                continue;
            }

            var left = polygon.GetRange(1, k);
            var right = new List<int>(polygon.GetRange(k, n - k)) { polygon[0] };
            var attempt = new List<int> { polygon[0], polygon[1], polygon[k] };
            if (Triangulate(left, attempt, facesOfEdge) && Triangulate(right, attempt, facesOfEdge))
            {
                output.AddRange(attempt);
                return true;
            }
        }

        return false;
    }
}
