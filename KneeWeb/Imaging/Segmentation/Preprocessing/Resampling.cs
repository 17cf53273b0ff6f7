namespace KneeWeb.Imaging.Segmentation.Preprocessing;

/// <summary>
/// Axis-by-axis resampling of voxel grids to a new size, with pixel centres aligned (the grid
/// convention of skimage.transform.resize and scipy.ndimage.zoom(grid_mode=True)): output voxel
/// n' along an axis sits at input coordinate (n' + 0.5) * (size / newSize) - 0.5. Linear
/// interpolation is separable, so three 1D passes give exactly trilinear interpolation at a
/// fraction of the memory traffic.
/// </summary>
public static class Resampling
{
    /// <summary>The affine of a grid resampled from <paramref name="geometry"/> to <paramref name="newDims"/> (same field of view).</summary>
    public static VolumeGeometry ResampledGeometry(VolumeGeometry geometry, Dims3 newDims)
    {
        ArgumentNullException.ThrowIfNull(geometry);
        AffineRas a = geometry.IndexToRas;
        double si = (double)geometry.Dims.I / newDims.I, sj = (double)geometry.Dims.J / newDims.J, sk = (double)geometry.Dims.K / newDims.K;
        // Voxel 0 of the new grid sits at old index (0.5 * scale - 0.5) along each axis.
        Vec3d origin = a.Apply(new Vec3d((0.5 * si) - 0.5, (0.5 * sj) - 0.5, (0.5 * sk) - 0.5));
        Vec3d ci = a.Column(0) * si, cj = a.Column(1) * sj, ck = a.Column(2) * sk;
        return new VolumeGeometry(newDims, new AffineRas(ci.X, cj.X, ck.X, origin.X, ci.Y, cj.Y, ck.Y, origin.Y, ci.Z, cj.Z, ck.Z, origin.Z));
    }

    /// <summary>Resamples a float grid; <paramref name="nearestAxes"/> (i, j, k) picks nearest-neighbour along those axes, linear elsewhere.</summary>
    public static float[] Resample(float[] source, Dims3 dims, Dims3 newDims, (bool I, bool J, bool K) nearestAxes = default, CancellationToken cancellationToken = default)
    {
        // Passes over a large grid take seconds: a cancelled job stops between slices, not after the grid.
        var parallel = new ParallelOptions { CancellationToken = cancellationToken };
        ArgumentNullException.ThrowIfNull(source);
        if (source.LongLength != dims.VoxelCount)
        {
            throw new ArgumentException($"{source.Length} values for a {dims} grid.", nameof(source));
        }

        float[] current = source;
        Dims3 currentDims = dims;
        if (newDims.K != dims.K)
        {
            current = AlongK(current, currentDims, newDims.K, nearestAxes.K, parallel);
            currentDims = currentDims with { K = newDims.K };
        }

        if (newDims.J != dims.J)
        {
            current = AlongJ(current, currentDims, newDims.J, nearestAxes.J, parallel);
            currentDims = currentDims with { J = newDims.J };
        }

        if (newDims.I != dims.I)
        {
            current = AlongI(current, currentDims, newDims.I, nearestAxes.I, parallel);
        }

        return ReferenceEquals(current, source) ? (float[])source.Clone() : current;
    }

    /// <summary>Nearest-neighbour resampling of a label grid (same pixel-centre convention).</summary>
    public static byte[] ResampleNearest(byte[] source, Dims3 dims, Dims3 newDims)
    {
        ArgumentNullException.ThrowIfNull(source);
        int[] ti = NearestTable(dims.I, newDims.I), tj = NearestTable(dims.J, newDims.J), tk = NearestTable(dims.K, newDims.K);
        var result = new byte[newDims.VoxelCount];
        Parallel.For(0, newDims.K, k =>
        {
            long sourceSlice = tk[k] * dims.SliceSize;
            long targetSlice = k * newDims.SliceSize;
            for (int j = 0; j < newDims.J; j++)
            {
                ReadOnlySpan<byte> row = source.AsSpan(checked((int)(sourceSlice + ((long)tj[j] * dims.I))), dims.I);
                Span<byte> target = result.AsSpan(checked((int)(targetSlice + ((long)j * newDims.I))), newDims.I);
                for (int i = 0; i < target.Length; i++)
                {
                    target[i] = row[ti[i]];
                }
            }
        });
        return result;
    }

    /// <summary>Source index nearest to each target voxel centre.</summary>
    public static int[] NearestTable(int size, int newSize)
    {
        var table = new int[newSize];
        double scale = (double)size / newSize;
        for (int n = 0; n < newSize; n++)
        {
            double x = ((n + 0.5) * scale) - 0.5;
            table[n] = Math.Clamp((int)Math.Round(x, MidpointRounding.AwayFromZero), 0, size - 1);
        }

        return table;
    }

    /// <summary>Per target voxel: the lower source index and the weight of the next one (0 along a nearest axis), pixel centres aligned.</summary>
    internal static (int[] Lower, float[] Weight) LinearTable(int size, int newSize, bool nearest)
    {
        var lower = new int[newSize];
        var weight = new float[newSize];
        double scale = (double)size / newSize;
        for (int n = 0; n < newSize; n++)
        {
            double x = Math.Clamp(((n + 0.5) * scale) - 0.5, 0, size - 1);
            if (nearest)
            {
                lower[n] = Math.Clamp((int)Math.Round(x, MidpointRounding.AwayFromZero), 0, size - 1);
                weight[n] = 0f;
                continue;
            }

            int x0 = Math.Min((int)Math.Floor(x), Math.Max(size - 2, 0));
            lower[n] = x0;
            weight[n] = size == 1 ? 0f : (float)(x - x0);
        }

        return (lower, weight);
    }

    private static float[] AlongK(float[] source, Dims3 dims, int newK, bool nearest, ParallelOptions parallel)
    {
        (int[] lower, float[] weight) = LinearTable(dims.K, newK, nearest);
        int slice = checked((int)dims.SliceSize);
        var result = GC.AllocateUninitializedArray<float>(checked(slice * newK));
        Parallel.For(0, newK, parallel, k =>
        {
            Span<float> target = result.AsSpan(k * slice, slice);
            ReadOnlySpan<float> a = source.AsSpan(lower[k] * slice, slice);
            float w = weight[k];
            if (w == 0f)
            {
                a.CopyTo(target);
                return;
            }

            ReadOnlySpan<float> b = source.AsSpan((lower[k] + 1) * slice, slice);
            Blend(a, b, w, target);
        });
        return result;
    }

    private static float[] AlongJ(float[] source, Dims3 dims, int newJ, bool nearest, ParallelOptions parallel)
    {
        (int[] lower, float[] weight) = LinearTable(dims.J, newJ, nearest);
        int rowLength = dims.I;
        var result = GC.AllocateUninitializedArray<float>(checked(rowLength * newJ * dims.K));
        Parallel.For(0, dims.K, parallel, k =>
        {
            int sourceSlice = k * dims.J * rowLength;
            int targetSlice = k * newJ * rowLength;
            for (int j = 0; j < newJ; j++)
            {
                Span<float> target = result.AsSpan(targetSlice + (j * rowLength), rowLength);
                ReadOnlySpan<float> a = source.AsSpan(sourceSlice + (lower[j] * rowLength), rowLength);
                float w = weight[j];
                if (w == 0f)
                {
                    a.CopyTo(target);
                    continue;
                }

                Blend(a, source.AsSpan(sourceSlice + ((lower[j] + 1) * rowLength), rowLength), w, target);
            }
        });
        return result;
    }

    private static float[] AlongI(float[] source, Dims3 dims, int newI, bool nearest, ParallelOptions parallel)
    {
        (int[] lower, float[] weight) = LinearTable(dims.I, newI, nearest);
        int rows = dims.J * dims.K;
        var result = GC.AllocateUninitializedArray<float>(checked(newI * rows));
        // Rows in chunks: one row is too little work to hand to a thread.
        int chunk = Math.Max(1, 4096 / Math.Max(1, newI));
        Parallel.For(0, (rows + chunk - 1) / chunk, parallel, c =>
        {
            int end = Math.Min(rows, (c + 1) * chunk);
            for (int r = c * chunk; r < end; r++)
            {
                ReadOnlySpan<float> row = source.AsSpan(r * dims.I, dims.I);
                Span<float> target = result.AsSpan(r * newI, newI);
                for (int i = 0; i < target.Length; i++)
                {
                    int x0 = lower[i];
                    float w = weight[i];
                    target[i] = w == 0f ? row[x0] : row[x0] + (w * (row[x0 + 1] - row[x0]));
                }
            }
        });
        return result;
    }

    private static void Blend(ReadOnlySpan<float> a, ReadOnlySpan<float> b, float w, Span<float> target)
    {
        // target = a + w * (b - a), vectorised.
        System.Numerics.Tensors.TensorPrimitives.Subtract(b, a, target);
        System.Numerics.Tensors.TensorPrimitives.MultiplyAdd(target, w, a, target);
    }
}
