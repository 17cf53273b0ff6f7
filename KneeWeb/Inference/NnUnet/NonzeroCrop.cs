namespace KneeWeb.Inference.NnUnet;

/// <summary>A box [Lo, Hi) in network axes.</summary>
public readonly record struct Box3(int Lo0, int Lo1, int Lo2, int Hi0, int Hi1, int Hi2)
{
    public Grid3 Size => new(Hi0 - Lo0, Hi1 - Lo1, Hi2 - Lo2);

    public static Box3 Whole(Grid3 grid) => new(0, 0, 0, grid.N0, grid.N1, grid.N2);
}

/// <summary>
/// nnU-Net's crop_to_nonzero (preprocessing/cropping/cropping.py): the mask of voxels where any
/// channel is non-zero, holes filled (scipy binary_fill_holes: background not reachable from the
/// border through face neighbours), and its tight bounding box.
/// </summary>
public static class NonzeroCrop
{
    /// <summary>The filled mask over the whole grid (1 inside) and its box; the whole grid when nothing is non-zero.</summary>
    public static (byte[] Mask, Box3 Box) Find(IReadOnlyList<float[]> channels, Grid3 grid)
    {
        ArgumentNullException.ThrowIfNull(channels);
        var mask = new byte[grid.Count];
        foreach (float[] channel in channels)
        {
            for (long v = 0; v < mask.LongLength; v++)
            {
                if (channel[v] != 0)
                {
                    mask[v] = 1;
                }
            }
        }

        FillHoles(mask, grid);
        return (mask, BoundingBox(mask, grid));
    }

    /// <summary>In place: every 0 voxel not connected to the grid's border through 0 face-neighbours becomes 1.</summary>
    public static void FillHoles(byte[] mask, Grid3 grid)
    {
        ArgumentNullException.ThrowIfNull(mask);
        const byte Outside = 2;
        var stack = new Stack<long>();
        void Seed(long v)
        {
            if (mask[v] == 0)
            {
                mask[v] = Outside;
                stack.Push(v);
            }
        }

        for (int a = 0; a < grid.N0; a++)
        {
            for (int b = 0; b < grid.N1; b++)
            {
                for (int c = 0; c < grid.N2; c++)
                {
                    bool border = a == 0 || b == 0 || c == 0 || a == grid.N0 - 1 || b == grid.N1 - 1 || c == grid.N2 - 1;
                    if (border)
                    {
                        Seed(grid.Index(a, b, c));
                    }
                    else if (c == 1)
                    {
                        c = grid.N2 - 2; // jump over the interior of the row
                    }
                }
            }
        }

        long s1 = grid.N2, s0 = (long)grid.N1 * grid.N2;
        while (stack.Count > 0)
        {
            long v = stack.Pop();
            long a = v / s0, b = v / s1 % grid.N1, c = v % s1;
            if (a > 0) Seed(v - s0);
            if (a < grid.N0 - 1) Seed(v + s0);
            if (b > 0) Seed(v - s1);
            if (b < grid.N1 - 1) Seed(v + s1);
            if (c > 0) Seed(v - 1);
            if (c < grid.N2 - 1) Seed(v + 1);
        }

        for (long v = 0; v < mask.LongLength; v++)
        {
            mask[v] = mask[v] == Outside ? (byte)0 : (byte)1;
        }
    }

    private static Box3 BoundingBox(byte[] mask, Grid3 grid)
    {
        int lo0 = int.MaxValue, lo1 = int.MaxValue, lo2 = int.MaxValue, hi0 = -1, hi1 = -1, hi2 = -1;
        for (int a = 0; a < grid.N0; a++)
        {
            for (int b = 0; b < grid.N1; b++)
            {
                ReadOnlySpan<byte> row = mask.AsSpan((int)grid.Index(a, b, 0), grid.N2);
                int first = row.IndexOf((byte)1);
                if (first < 0)
                {
                    continue;
                }

                int last = row.LastIndexOf((byte)1);
                lo0 = Math.Min(lo0, a);
                hi0 = Math.Max(hi0, a);
                lo1 = Math.Min(lo1, b);
                hi1 = Math.Max(hi1, b);
                lo2 = Math.Min(lo2, first);
                hi2 = Math.Max(hi2, last);
            }
        }

        return hi0 < 0 ? Box3.Whole(grid) : new Box3(lo0, lo1, lo2, hi0 + 1, hi1 + 1, hi2 + 1);
    }

    /// <summary>The box's part of one grid-sized array.</summary>
    public static T[] Crop<T>(T[] source, Grid3 grid, Box3 box)
    {
        ArgumentNullException.ThrowIfNull(source);
        Grid3 size = box.Size;
        var result = new T[size.Count];
        for (int a = 0; a < size.N0; a++)
        {
            for (int b = 0; b < size.N1; b++)
            {
                source.AsSpan((int)grid.Index(box.Lo0 + a, box.Lo1 + b, box.Lo2), size.N2).CopyTo(result.AsSpan((int)size.Index(a, b, 0), size.N2));
            }
        }

        return result;
    }
}
