namespace KneeWeb.Inference.NnUnet;

/// <summary>A tile's first voxel on the padded grid, network axes.</summary>
public readonly record struct TileStart(int S0, int S1, int S2);

/// <summary>
/// nnU-Net's sliding window (inference/sliding_window_prediction.py): centred zero padding up to
/// the patch, tile starts per axis, Gaussian importance weights.
/// </summary>
public sealed class NnUnetTilePlan
{
    public NnUnetTilePlan(Grid3 modelGrid, Grid3 patch, double stepSize)
    {
        ModelGrid = modelGrid;
        Patch = patch;
        Padded = new Grid3(Math.Max(modelGrid.N0, patch.N0), Math.Max(modelGrid.N1, patch.N1), Math.Max(modelGrid.N2, patch.N2));
        // acvl pad_nd_image: difference // 2 below, the rest (the odd voxel) above.
        PadBelow = new Grid3((Padded.N0 - modelGrid.N0) / 2, (Padded.N1 - modelGrid.N1) / 2, (Padded.N2 - modelGrid.N2) / 2);
        int[] s0 = Starts(Padded.N0, patch.N0, stepSize), s1 = Starts(Padded.N1, patch.N1, stepSize), s2 = Starts(Padded.N2, patch.N2, stepSize);
        var tiles = new List<TileStart>(s0.Length * s1.Length * s2.Length);
        foreach (int a in s0)
        {
            foreach (int b in s1)
            {
                foreach (int c in s2)
                {
                    tiles.Add(new TileStart(a, b, c));
                }
            }
        }

        Tiles = tiles;
    }

    public Grid3 ModelGrid { get; }

    public Grid3 Patch { get; }

    public Grid3 Padded { get; }

    /// <summary>Zeros added below the model grid on each axis.</summary>
    public Grid3 PadBelow { get; }

    /// <summary>In nnU-Net's order (axis 0 outermost).</summary>
    public IReadOnlyList<TileStart> Tiles { get; }

    /// <summary>compute_steps_for_sliding_window for one axis; numpy's round is half to even.</summary>
    public static int[] Starts(int size, int patch, double stepSize)
    {
        if (size < patch)
        {
            throw new ArgumentOutOfRangeException(nameof(size), size, "The grid is padded to at least the patch.");
        }

        double targetStep = patch * stepSize;
        int count = (int)Math.Ceiling((size - patch) / targetStep) + 1;
        var starts = new int[count];
        if (count == 1)
        {
            return starts;
        }

        double actualStep = (double)(size - patch) / (count - 1);
        for (int t = 0; t < count; t++)
        {
            starts[t] = (int)Math.Round(actualStep * t, MidpointRounding.ToEven);
        }

        return starts;
    }

    /// <summary>
    /// compute_gaussian: a unit impulse at patch // 2 blurred with sigma = patch / 8 (scipy's
    /// gaussian_filter, constant mode, truncated at 4 sigma), scaled to a peak of 10, zeros raised to
    /// the smallest non-zero value. Separable, so a product of per-axis profiles.
    /// </summary>
    public static float[] Gaussian(Grid3 patch)
    {
        double[] g0 = Profile(patch.N0), g1 = Profile(patch.N1), g2 = Profile(patch.N2);
        var map = new float[patch.Count];
        float smallest = float.MaxValue;
        int n = 0;
        for (int a = 0; a < patch.N0; a++)
        {
            for (int b = 0; b < patch.N1; b++)
            {
                for (int c = 0; c < patch.N2; c++)
                {
                    float v = (float)(g0[a] * g1[b] * g2[c] * 10.0);
                    map[n++] = v;
                    if (v > 0 && v < smallest)
                    {
                        smallest = v;
                    }
                }
            }
        }

        for (int m = 0; m < map.Length; m++)
        {
            if (map[m] == 0f)
            {
                map[m] = smallest;
            }
        }

        return map;
    }

    // The 1D blurred impulse relative to its peak: exp(-d^2 / 2 sigma^2) within the kernel's radius, 0 beyond.
    private static double[] Profile(int patch)
    {
        double sigma = patch / 8.0;
        int radius = (int)((4.0 * sigma) + 0.5);
        int centre = patch / 2;
        var profile = new double[patch];
        for (int x = 0; x < patch; x++)
        {
            int d = x - centre;
            profile[x] = Math.Abs(d) <= radius ? Math.Exp(-0.5 * d * d / (sigma * sigma)) : 0;
        }

        return profile;
    }
}
