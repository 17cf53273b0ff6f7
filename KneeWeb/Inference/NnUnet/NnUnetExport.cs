using KneeWeb.Imaging;

namespace KneeWeb.Inference.NnUnet;

/// <summary>
/// nnU-Net's export_prediction.py: the mean logits, unpadded, resampled back to the cropped grid
/// (order 1, separate z from model then image spacing), argmax with the first maximum winning,
/// pasted into the uncropped grid (class 0 elsewhere) and transposed back to image axes.
/// Classes are resampled one at a time into a running maximum, so no second full logit volume exists.
/// </summary>
public static class NnUnetExport
{
    /// <summary>Output channel index per image voxel, image (k, j, i) order.</summary>
    public static byte[] ToImage(LogitAccumulator accumulator, NnUnetTilePlan plan, NnUnetCase prepared, NnUnetSettings settings, Dims3 imageDims)
    {
        ArgumentNullException.ThrowIfNull(accumulator);
        ArgumentNullException.ThrowIfNull(plan);
        ArgumentNullException.ThrowIfNull(prepared);
        ArgumentNullException.ThrowIfNull(settings);
        Grid3 cropped = prepared.Box.Size;
        int? separateZ = SplineResize.SeparateZAxis(settings.SpacingMm, prepared.OriginalSpacingMm, settings.AnisotropyThreshold);
        var best = new double[cropped.Count];
        var argmax = new byte[cropped.Count];
        for (int c = 0; c < accumulator.Logits.Length; c++)
        {
            double[] classLogits = Unpad(accumulator.Logits[c], plan);
            accumulator.Logits[c] = []; // consumed: the peak holds one class at a time from here on
            double[] resampled = SplineResize.ResampleData(classLogits, plan.ModelGrid, cropped, settings.LogitsOrder, settings.LogitsOrderZ, separateZ);
            if (c == 0)
            {
                resampled.CopyTo(best, 0);
                continue;
            }

            byte label = (byte)c;
            for (long v = 0; v < best.LongLength; v++)
            {
                if (resampled[v] > best[v])
                {
                    best[v] = resampled[v];
                    argmax[v] = label;
                }
            }
        }

        Grid3 grid = prepared.TransposedGrid;
        Box3 box = prepared.Box;
        byte[] full = argmax;
        if (cropped != grid)
        {
            full = new byte[grid.Count];
            for (int a = 0; a < cropped.N0; a++)
            {
                for (int b = 0; b < cropped.N1; b++)
                {
                    argmax.AsSpan((int)cropped.Index(a, b, 0), cropped.N2).CopyTo(full.AsSpan((int)grid.Index(box.Lo0 + a, box.Lo1 + b, box.Lo2), cropped.N2));
                }
            }
        }

        return new AxisTranspose(settings.TransposeForward).ToImage(full, imageDims);
    }

    private static double[] Unpad(float[] padded, NnUnetTilePlan plan)
    {
        Grid3 model = plan.ModelGrid, grid = plan.Padded, below = plan.PadBelow;
        var result = new double[model.Count];
        for (int a = 0; a < model.N0; a++)
        {
            for (int b = 0; b < model.N1; b++)
            {
                ReadOnlySpan<float> row = padded.AsSpan((int)grid.Index(below.N0 + a, below.N1 + b, below.N2), model.N2);
                Span<double> target = result.AsSpan((int)model.Index(a, b, 0), model.N2);
                for (int x = 0; x < row.Length; x++)
                {
                    target[x] = row[x];
                }
            }
        }

        return result;
    }
}
