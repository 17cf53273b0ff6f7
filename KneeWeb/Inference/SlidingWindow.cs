namespace KneeWeb.Inference;

/// <summary>Tile placement and importance weights of nnU-Net's sliding-window prediction.</summary>
public static class SlidingWindow
{
    /// <summary>
    /// Tile starts along one axis: as few tiles as keep neighbours overlapping by at least
    /// <paramref name="overlap"/> of a patch, spread evenly so the last one ends at the edge.
    /// </summary>
    public static int[] Starts(int size, int patch, double overlap)
    {
        if (patch >= size)
        {
            return [0];
        }

        double targetStep = patch * (1 - overlap);
        int count = (int)Math.Ceiling((size - patch) / targetStep) + 1;
        double actualStep = (double)(size - patch) / (count - 1);
        var starts = new int[count];
        for (int t = 0; t < count; t++)
        {
            starts[t] = (int)Math.Round(actualStep * t, MidpointRounding.AwayFromZero);
        }

        return starts;
    }

    /// <summary>Every tile's first voxel (i, j, k), k outermost: slabs below the current k start are final and can be released.</summary>
    public static List<(int I, int J, int K)> Tiles(Imaging.Dims3 padded, int patchI, int patchJ, int patchK, double overlap)
    {
        int[] si = Starts(padded.I, patchI, overlap), sj = Starts(padded.J, patchJ, overlap), sk = Starts(padded.K, patchK, overlap);
        var tiles = new List<(int I, int J, int K)>(si.Length * sj.Length * sk.Length);
        foreach (int k in sk)
        {
            foreach (int j in sj)
            {
                foreach (int i in si)
                {
                    tiles.Add((i, j, k));
                }
            }
        }

        return tiles;
    }

    /// <summary>
    /// Gaussian importance map over a patch [k][j][i] (sigma = patch / 8 per axis, centred on
    /// patch / 2, peak 1); zeros are raised to the smallest positive value so every voxel counts.
    /// Uniform ones when <paramref name="gaussian"/> is false.
    /// </summary>
    public static float[] ImportanceMap(int patchI, int patchJ, int patchK, bool gaussian = true)
    {
        var map = new float[(long)patchI * patchJ * patchK];
        if (!gaussian)
        {
            Array.Fill(map, 1f);
            return map;
        }

        double[] gi = Profile(patchI), gj = Profile(patchJ), gk = Profile(patchK);
        float smallest = float.MaxValue;
        int n = 0;
        for (int k = 0; k < patchK; k++)
        {
            for (int j = 0; j < patchJ; j++)
            {
                for (int i = 0; i < patchI; i++)
                {
                    float v = (float)(gi[i] * gj[j] * gk[k]);
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

    private static double[] Profile(int patch)
    {
        var profile = new double[patch];
        double sigma = patch / 8.0, centre = patch / 2;
        for (int x = 0; x < patch; x++)
        {
            double d = x - centre;
            profile[x] = Math.Exp(-(d * d) / (2 * sigma * sigma));
        }

        return profile;
    }
}
