namespace KneeWeb.Inference.NnUnet;

/// <summary>
/// Resizing as nnU-Net does it (preprocessing/resampling/default_resampling.py), axis by axis:
/// skimage <c>resize(order, mode='edge', anti_aliasing=False)</c> is scipy <c>zoom(grid_mode=True,
/// mode='nearest')</c>, a tensor-product spline, so one axis at a time gives the same numbers.
/// Order 3 pads 12 edge voxels, applies the cubic B-spline prefilter (scipy's reflect-type
/// boundary start) and evaluates at <c>(o + 0.5) * in / out - 0.5</c>; order 1 interpolates
/// linearly with the coordinate clamped (edge); order 0 is scipy map_coordinates' nearest
/// (<c>floor(c + 0.5)</c>, clamped). Work arrays are double, as scipy's are.
/// </summary>
public static class SplineResize
{
    private const int SplinePad = 12; // scipy's _prepad_for_spline_filter for mode 'nearest'
    private static readonly double Pole = Math.Sqrt(3) - 2;

    /// <summary>
    /// nnU-Net's resample_data_or_seg for one channel of data: when <paramref name="separateAxis"/>
    /// is set, every slice across it is resized in-plane with <paramref name="order"/> (clipped to
    /// that slice's range, as skimage does per 2D call) and then the coarse axis with
    /// <paramref name="orderZ"/>; otherwise one 3D resize clipped to the volume's range.
    /// </summary>
    public static double[] ResampleData(double[] data, Grid3 from, Grid3 to, int order, int orderZ, int? separateAxis)
    {
        ArgumentNullException.ThrowIfNull(data);
        if (from == to)
        {
            return data;
        }

        double[] current = data;
        Grid3 shape = from;
        if (separateAxis is int z)
        {
            (double Min, double Max)[]? sliceRanges = order > 1 ? SliceRanges(data, from, z) : null;
            for (int axis = 0; axis < 3; axis++)
            {
                if (axis != z && shape[axis] != to[axis])
                {
                    current = ResizeAxis(current, shape, axis, to[axis], order);
                    shape = shape.With(axis, to[axis]);
                }
            }

            if (sliceRanges is not null)
            {
                ClipSlices(current, shape, z, sliceRanges);
            }

            if (shape[z] != to[z])
            {
                current = orderZ == 0 ? NearestAxis(current, shape, z, to[z]) : ResizeAxis(current, shape, z, to[z], orderZ);
            }

            return current;
        }

        (double min, double max) = order > 1 ? Range(data) : (0, 0);
        for (int axis = 0; axis < 3; axis++)
        {
            if (shape[axis] != to[axis])
            {
                current = ResizeAxis(current, shape, axis, to[axis], order);
                shape = shape.With(axis, to[axis]);
            }
        }

        if (order > 1)
        {
            Clip(current, min, max);
        }

        return current;
    }

    /// <summary>One axis resized with skimage's grid mapping; order 1 or 3 (no clipping here).</summary>
    public static double[] ResizeAxis(double[] source, Grid3 shape, int axis, int newLength, int order)
    {
        ArgumentNullException.ThrowIfNull(source);
        if (order is not (1 or 3))
        {
            throw new ArgumentOutOfRangeException(nameof(order), order, "Spline order 1 or 3.");
        }

        (int outer, int length, int inner) = shape.Split(axis);
        var result = new double[(long)outer * newLength * inner];
        double zoom = (double)length / newLength;
        Parallel.For(0, outer, o =>
        {
            ReadOnlySpan<double> slab = source.AsSpan(o * length * inner, length * inner);
            Span<double> target = result.AsSpan(o * newLength * inner, newLength * inner);
            if (order == 3)
            {
                CubicSlab(slab, target, length, newLength, inner, zoom);
            }
            else
            {
                LinearSlab(slab, target, length, newLength, inner, zoom);
            }
        });
        return result;
    }

    /// <summary>scipy map_coordinates(order=0, mode='nearest') along one axis at <c>(o + 0.5) * in / out - 0.5</c>.</summary>
    public static T[] NearestAxis<T>(T[] source, Grid3 shape, int axis, int newLength)
    {
        ArgumentNullException.ThrowIfNull(source);
        (int outer, int length, int inner) = shape.Split(axis);
        var result = new T[(long)outer * newLength * inner];
        double scale = (double)length / newLength;
        var sourceIndex = new int[newLength];
        for (int o = 0; o < newLength; o++)
        {
            double c = (scale * (o + 0.5)) - 0.5;
            sourceIndex[o] = Math.Clamp((int)Math.Floor(c + 0.5), 0, length - 1);
        }

        Parallel.For(0, outer, o =>
        {
            for (int r = 0; r < newLength; r++)
            {
                source.AsSpan(((o * length) + sourceIndex[r]) * inner, inner).CopyTo(result.AsSpan(((o * newLength) + r) * inner, inner));
            }
        });
        return result;
    }

    /// <summary>Output size of a spacing change: Python round (half to even) of old / new * size, in that order.</summary>
    public static Grid3 NewShape(Grid3 size, IReadOnlyList<double> oldSpacingMm, IReadOnlyList<double> newSpacingMm)
    {
        ArgumentNullException.ThrowIfNull(oldSpacingMm);
        ArgumentNullException.ThrowIfNull(newSpacingMm);
        var sizes = new int[3];
        for (int a = 0; a < 3; a++)
        {
            sizes[a] = (int)Math.Round(oldSpacingMm[a] / newSpacingMm[a] * size[a], MidpointRounding.ToEven);
        }

        return Grid3.Of(sizes);
    }

    /// <summary>
    /// nnU-Net's separate-z choice: the lone coarsest axis of the first spacing whose max/min ratio
    /// exceeds the threshold (current first, then target); null when neither does or the coarsest is not unique.
    /// </summary>
    public static int? SeparateZAxis(IReadOnlyList<double> currentSpacingMm, IReadOnlyList<double> targetSpacingMm, double threshold)
    {
        ArgumentNullException.ThrowIfNull(currentSpacingMm);
        ArgumentNullException.ThrowIfNull(targetSpacingMm);
        IReadOnlyList<double>? decisive = IsAnisotropic(currentSpacingMm, threshold) ? currentSpacingMm
            : IsAnisotropic(targetSpacingMm, threshold) ? targetSpacingMm : null;
        if (decisive is null)
        {
            return null;
        }

        double max = decisive.Max();
        int[] coarse = [.. Enumerable.Range(0, 3).Where(a => max / decisive[a] == 1)];
        return coarse.Length == 1 ? coarse[0] : null;
    }

    private static bool IsAnisotropic(IReadOnlyList<double> spacing, double threshold) => spacing.Max() / spacing.Min() > threshold;

    private static void CubicSlab(ReadOnlySpan<double> slab, Span<double> target, int length, int newLength, int inner, double zoom)
    {
        int padded = length + (2 * SplinePad);
        double[] coefficients = System.Buffers.ArrayPool<double>.Shared.Rent(padded * inner);
        try
        {
            Span<double> c = coefficients.AsSpan(0, padded * inner);
            for (int r = 0; r < padded; r++)
            {
                int sourceRow = Math.Clamp(r - SplinePad, 0, length - 1);
                slab.Slice(sourceRow * inner, inner).CopyTo(c.Slice(r * inner, inner));
            }

            Prefilter(c, padded, inner);
            for (int o = 0; o < newLength; o++)
            {
                double cc = ((o + 0.5) * zoom) - 0.5 + SplinePad;
                int f = (int)Math.Floor(cc);
                CubicWeights(cc - f, out double w0, out double w1, out double w2, out double w3);
                var row = new CubicRow(c.Slice((f - 1) * inner, 4 * inner), inner);
                row.Evaluate(w0, w1, w2, w3, target.Slice(o * inner, inner));
            }
        }
        finally
        {
            System.Buffers.ArrayPool<double>.Shared.Return(coefficients);
        }
    }

    private static void LinearSlab(ReadOnlySpan<double> slab, Span<double> target, int length, int newLength, int inner, double zoom)
    {
        for (int o = 0; o < newLength; o++)
        {
            double cc = Math.Clamp(((o + 0.5) * zoom) - 0.5, 0, length - 1);
            int f = (int)Math.Floor(cc);
            double t = cc - f;
            int g = Math.Min(f + 1, length - 1);
            ReadOnlySpan<double> a = slab.Slice(f * inner, inner), b = slab.Slice(g * inner, inner);
            Span<double> destination = target.Slice(o * inner, inner);
            for (int x = 0; x < inner; x++)
            {
                destination[x] = ((1 - t) * a[x]) + (t * b[x]);
            }
        }
    }

    /// <summary>Cubic B-spline prefilter along the rows of [rows][inner], every column at once (scipy's ni_splines.c).</summary>
    private static void Prefilter(Span<double> c, int rows, int inner)
    {
        double z = Pole;
        const double Gain = 6.0; // (1 - z)(1 - 1/z) for the cubic pole
        foreach (ref double v in c)
        {
            v *= Gain;
        }

        double zn = Math.Pow(z, rows);
        for (int x = 0; x < inner; x++)
        {
            // Causal start, reflect-type boundary (scipy uses it for mode 'nearest').
            double c0 = c[x];
            double sum = c0 + (zn * c[((rows - 1) * inner) + x]);
            double zi = z;
            for (int i = 1; i < rows; i++)
            {
                sum += zi * (c[(i * inner) + x] + (zn * c[((rows - 1 - i) * inner) + x]));
                zi *= z;
            }

            c[x] = (sum * z / (1 - (zn * zn))) + c0;
        }

        for (int i = 1; i < rows; i++)
        {
            Span<double> row = c.Slice(i * inner, inner);
            ReadOnlySpan<double> previous = c.Slice((i - 1) * inner, inner);
            for (int x = 0; x < inner; x++)
            {
                row[x] += z * previous[x];
            }
        }

        Span<double> last = c.Slice((rows - 1) * inner, inner);
        for (int x = 0; x < inner; x++)
        {
            last[x] *= z / (z - 1);
        }

        for (int i = rows - 2; i >= 0; i--)
        {
            Span<double> row = c.Slice(i * inner, inner);
            ReadOnlySpan<double> next = c.Slice((i + 1) * inner, inner);
            for (int x = 0; x < inner; x++)
            {
                row[x] = z * (next[x] - row[x]);
            }
        }
    }

    private static void CubicWeights(double t, out double w0, out double w1, out double w2, out double w3)
    {
        double t2 = t * t, t3 = t2 * t, u = 1 - t;
        w0 = u * u * u / 6;
        w1 = (4 - (6 * t2) + (3 * t3)) / 6;
        w2 = (1 + (3 * t) + (3 * t2) - (3 * t3)) / 6;
        w3 = t3 / 6;
    }

    private static (double Min, double Max) Range(ReadOnlySpan<double> values)
    {
        double min = double.PositiveInfinity, max = double.NegativeInfinity;
        foreach (double v in values)
        {
            min = Math.Min(min, v);
            max = Math.Max(max, v);
        }

        return (min, max);
    }

    private static void Clip(Span<double> values, double min, double max)
    {
        foreach (ref double v in values)
        {
            v = Math.Clamp(v, min, max);
        }
    }

    private static (double Min, double Max)[] SliceRanges(double[] data, Grid3 shape, int axis)
    {
        (int outer, int length, int inner) = shape.Split(axis);
        var ranges = new (double Min, double Max)[length];
        Array.Fill(ranges, (double.PositiveInfinity, double.NegativeInfinity));
        for (int o = 0; o < outer; o++)
        {
            for (int s = 0; s < length; s++)
            {
                (double min, double max) = Range(data.AsSpan(((o * length) + s) * inner, inner));
                ranges[s] = (Math.Min(ranges[s].Min, min), Math.Max(ranges[s].Max, max));
            }
        }

        return ranges;
    }

    private static void ClipSlices(double[] data, Grid3 shape, int axis, (double Min, double Max)[] ranges)
    {
        (int outer, int length, int inner) = shape.Split(axis);
        Parallel.For(0, outer, o =>
        {
            for (int s = 0; s < length; s++)
            {
                Clip(data.AsSpan(((o * length) + s) * inner, inner), ranges[s].Min, ranges[s].Max);
            }
        });
    }

    /// <summary>Four neighbouring coefficient rows of a slab, combined with the cubic weights.</summary>
    private readonly ref struct CubicRow(ReadOnlySpan<double> rows, int inner)
    {
        private readonly ReadOnlySpan<double> rows = rows;

        public void Evaluate(double w0, double w1, double w2, double w3, Span<double> destination)
        {
            ReadOnlySpan<double> r0 = rows[..inner], r1 = rows.Slice(inner, inner), r2 = rows.Slice(2 * inner, inner), r3 = rows.Slice(3 * inner, inner);
            for (int x = 0; x < destination.Length; x++)
            {
                destination[x] = (w0 * r0[x]) + (w1 * r1[x]) + (w2 * r2[x]) + (w3 * r3[x]);
            }
        }
    }
}
