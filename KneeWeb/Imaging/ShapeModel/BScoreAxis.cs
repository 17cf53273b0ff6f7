namespace KneeWeb.Imaging.ShapeModel;

/// <summary>The OA direction of a shape model's latent space, from shapes with a known OA parameter.</summary>
public static class BScoreAxis
{
    public static float[] MeanLatent(IReadOnlyList<float[]> latents)
    {
        ArgumentNullException.ThrowIfNull(latents);
        int l = latents[0].Length;
        var sum = new double[l];
        foreach (float[] z in latents)
        {
            for (int k = 0; k < l; k++)
            {
                sum[k] += z[k];
            }
        }

        var mean = new float[l];
        for (int k = 0; k < l; k++)
        {
            mean[k] = (float)(sum[k] / latents.Count);
        }

        return mean;
    }

    /// <summary>
    /// Least-squares regression of the OA parameter on the latents (with intercept); the axis is the
    /// coefficient vector made unit length, oriented so that OA increases along it. Healthy mean and SD are
    /// those of latent . axis over the shapes with OA 0.
    /// </summary>
    public static BScoreReference Fit(IReadOnlyList<float[]> latents, IReadOnlyList<double> oa)
    {
        ArgumentNullException.ThrowIfNull(latents);
        ArgumentNullException.ThrowIfNull(oa);
        int l = latents[0].Length, n = latents.Count, m = l + 1;
        // Normal equations A^T A beta = A^T y with A = [z, 1]; a tiny ridge keeps them solvable.
        var ata = new double[m, m];
        var aty = new double[m];
        var row = new double[m];
        for (int i = 0; i < n; i++)
        {
            for (int k = 0; k < l; k++)
            {
                row[k] = latents[i][k];
            }

            row[l] = 1;
            for (int a = 0; a < m; a++)
            {
                aty[a] += row[a] * oa[i];
                for (int b = 0; b < m; b++)
                {
                    ata[a, b] += row[a] * row[b];
                }
            }
        }

        for (int a = 0; a < l; a++)
        {
            ata[a, a] += 1e-9 * n;
        }

        double[] beta = Solve(ata, aty);
        double norm = 0;
        for (int k = 0; k < l; k++)
        {
            norm += beta[k] * beta[k];
        }

        norm = Math.Sqrt(norm);
        var axis = new float[l];
        for (int k = 0; k < l; k++)
        {
            axis[k] = (float)(beta[k] / norm);
        }

        double meanOa = 0;
        foreach (double y in oa)
        {
            meanOa += y / n;
        }

        double ssRes = 0, ssTot = 0;
        var healthy = new List<double>();
        for (int i = 0; i < n; i++)
        {
            double predicted = beta[l];
            double projection = 0;
            for (int k = 0; k < l; k++)
            {
                predicted += beta[k] * latents[i][k];
                projection += (double)latents[i][k] * axis[k];
            }

            ssRes += (oa[i] - predicted) * (oa[i] - predicted);
            ssTot += (oa[i] - meanOa) * (oa[i] - meanOa);
            if (oa[i] == 0)
            {
                healthy.Add(projection);
            }
        }

        if (healthy.Count < 2)
        {
            throw new ArgumentException("The BScore axis needs at least two healthy (OA 0) shapes.", nameof(oa));
        }

        double hm = 0;
        foreach (double v in healthy)
        {
            hm += v / healthy.Count;
        }

        double hv = 0;
        foreach (double v in healthy)
        {
            hv += (v - hm) * (v - hm) / (healthy.Count - 1);
        }

        return new BScoreReference
        {
            Axis = axis,
            HealthyMean = hm,
            HealthySd = Math.Sqrt(hv),
            HealthyCount = healthy.Count,
            RegressionR2 = ssTot > 0 ? 1 - (ssRes / ssTot) : 0,
            AxisModel = $"linear regression of the phantom OA parameter on {n} training latents (unit coefficient vector); healthy mean and SD over the {healthy.Count} OA-0 training latents",
        };
    }

    // Gaussian elimination with partial pivoting (small dense systems only).
    private static double[] Solve(double[,] a, double[] b)
    {
        int m = b.Length;
        var x = (double[])b.Clone();
        var aa = (double[,])a.Clone();
        for (int c = 0; c < m; c++)
        {
            int pivot = c;
            for (int r = c + 1; r < m; r++)
            {
                if (Math.Abs(aa[r, c]) > Math.Abs(aa[pivot, c]))
                {
                    pivot = r;
                }
            }

            if (pivot != c)
            {
                for (int k = 0; k < m; k++)
                {
                    (aa[c, k], aa[pivot, k]) = (aa[pivot, k], aa[c, k]);
                }

                (x[c], x[pivot]) = (x[pivot], x[c]);
            }

            for (int r = c + 1; r < m; r++)
            {
                double f = aa[r, c] / aa[c, c];
                for (int k = c; k < m; k++)
                {
                    aa[r, k] -= f * aa[c, k];
                }

                x[r] -= f * x[c];
            }
        }

        for (int c = m - 1; c >= 0; c--)
        {
            for (int k = c + 1; k < m; k++)
            {
                x[c] -= aa[c, k] * x[k];
            }

            x[c] /= aa[c, c];
        }

        return x;
    }
}
