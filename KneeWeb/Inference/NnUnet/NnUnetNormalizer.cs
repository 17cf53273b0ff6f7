namespace KneeWeb.Inference.NnUnet;

/// <summary>
/// nnU-Net's default_normalization_schemes.py on one cropped channel, in place (float32 data as
/// nnU-Net's, statistics in double). Z-score with use_mask_for_norm touches only voxels inside the
/// filled non-zero mask; the others keep their value.
/// </summary>
public static class NnUnetNormalizer
{
    public static void Apply(float[] channel, byte[] insideMask, NnUnetChannelNormalization settings)
    {
        ArgumentNullException.ThrowIfNull(channel);
        ArgumentNullException.ThrowIfNull(insideMask);
        ArgumentNullException.ThrowIfNull(settings);
        switch (settings.Scheme)
        {
            case NnUnetChannelScheme.ZScore:
                ZScore(channel, settings.UseMaskForNorm ? insideMask : null);
                break;
            case NnUnetChannelScheme.Ct:
                Ct(channel, settings);
                break;
            case NnUnetChannelScheme.RescaleTo01:
                float min = channel.Length == 0 ? 0 : System.Numerics.Tensors.TensorPrimitives.Min(channel);
                for (int v = 0; v < channel.Length; v++)
                {
                    channel[v] -= min;
                }

                float max = channel.Length == 0 ? 0 : System.Numerics.Tensors.TensorPrimitives.Max(channel);
                System.Numerics.Tensors.TensorPrimitives.Divide(channel, Math.Max(max, 1e-8f), channel);
                break;
            case NnUnetChannelScheme.RgbTo01:
                System.Numerics.Tensors.TensorPrimitives.Divide(channel, 255f, channel);
                break;
            case NnUnetChannelScheme.NoNormalization:
                break;
            default:
                throw new ModelConfigurationException($"Unknown nnU-Net normalisation scheme {settings.Scheme}.");
        }
    }

    private static void ZScore(float[] channel, byte[]? mask)
    {
        double sum = 0;
        long n = 0;
        for (int v = 0; v < channel.Length; v++)
        {
            if (mask is null || mask[v] != 0)
            {
                sum += channel[v];
                n++;
            }
        }

        if (n == 0)
        {
            return;
        }

        double mean = sum / n, squares = 0;
        for (int v = 0; v < channel.Length; v++)
        {
            if (mask is null || mask[v] != 0)
            {
                double d = channel[v] - mean;
                squares += d * d;
            }
        }

        float meanF = (float)mean;
        float std = (float)Math.Max(Math.Sqrt(squares / n), 1e-8);
        for (int v = 0; v < channel.Length; v++)
        {
            if (mask is null || mask[v] != 0)
            {
                channel[v] = (channel[v] - meanF) / std;
            }
        }
    }

    private static void Ct(float[] channel, NnUnetChannelNormalization settings)
    {
        if (settings.Mean is not double mean || settings.Std is not double std || settings.ClipLow is not double low || settings.ClipHigh is not double high)
        {
            throw new ModelConfigurationException("CT normalisation needs mean, std and the 0.5/99.5 percentiles in the sidecar.");
        }

        float meanF = (float)mean, stdF = (float)Math.Max(std, 1e-8), lowF = (float)low, highF = (float)high;
        for (int v = 0; v < channel.Length; v++)
        {
            channel[v] = (Math.Clamp(channel[v], lowF, highF) - meanF) / stdF;
        }
    }
}
