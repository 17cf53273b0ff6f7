using KneeWeb.Imaging;

namespace KneeWeb.Inference.NnUnet;

/// <summary>An image on the model's grid and what is needed to bring the prediction back.</summary>
public sealed record NnUnetCase
{
    /// <summary>Input channels (image channels, then any cascade one-hot channels) on <see cref="ModelGrid"/>, network axes.</summary>
    public required float[][] Channels { get; init; }

    /// <summary>The image's grid in network axes (after transpose_forward, before cropping).</summary>
    public required Grid3 TransposedGrid { get; init; }

    /// <summary>The non-zero bounding box in <see cref="TransposedGrid"/>.</summary>
    public required Box3 Box { get; init; }

    /// <summary>After resampling to the model's spacing.</summary>
    public required Grid3 ModelGrid { get; init; }

    /// <summary>The image's spacing in network axes.</summary>
    public required double[] OriginalSpacingMm { get; init; }
}

/// <summary>
/// nnU-Net's DefaultPreprocessor.run_case_npy for inference: transpose, crop to the filled non-zero
/// mask, normalise each channel on the crop, resample to the model's spacing (cubic, separate z
/// where anisotropic). A cascade's previous-stage labels follow like nnU-Net's seg: cropped with
/// -1 outside the mask, resampled per label with order 1, one-hot over the foreground labels.
/// </summary>
public static class NnUnetPreprocessor
{
    /// <summary>Order of resampling_fn_seg (nnU-Net's default plans: 1, order_z 0).</summary>
    public const int SegmentationOrder = 1;

    public static NnUnetCase Prepare(Volume image, NnUnetSettings settings, int[]? previousStageLabels)
    {
        ArgumentNullException.ThrowIfNull(image);
        ArgumentNullException.ThrowIfNull(settings);
        if (settings.Normalization.Length != image.Frames)
        {
            throw new ModelConfigurationException($"The model normalises {settings.Normalization.Length} channel(s); the image has {image.Frames}.");
        }

        var transpose = new AxisTranspose(settings.TransposeForward);
        Grid3 grid = transpose.ToNetwork(image.Dims);
        double[] spacing = transpose.ToNetwork(ReaderSpacingMm(image));
        var channels = new float[image.Frames][];
        for (int c = 0; c < image.Frames; c++)
        {
            channels[c] = transpose.ToNetwork<float>(image.ToFloat32(c), image.Dims);
        }

        (byte[] mask, Box3 box) = NonzeroCrop.Find(channels, grid);
        byte[] inside = NonzeroCrop.Crop(mask, grid, box);
        Grid3 cropped = box.Size;
        Grid3 modelGrid = SplineResize.NewShape(cropped, spacing, settings.SpacingMm);
        int? separateZ = SplineResize.SeparateZAxis(spacing, settings.SpacingMm, settings.AnisotropyThreshold);
        int cascadeChannels = settings.CascadeForegroundLabels?.Length ?? 0;
        var result = new float[image.Frames + cascadeChannels][];
        for (int c = 0; c < image.Frames; c++)
        {
            float[] channel = NonzeroCrop.Crop(channels[c], grid, box);
            channels[c] = [];
            NnUnetNormalizer.Apply(channel, inside, settings.Normalization[c]);
            result[c] = cropped == modelGrid
                ? channel
                : ToFloat(SplineResize.ResampleData(ToDouble(channel), cropped, modelGrid, settings.DataOrder, settings.DataOrderZ, separateZ));
        }

        if (cascadeChannels > 0)
        {
            if (previousStageLabels is null)
            {
                throw new ModelConfigurationException("This cascade model needs the previous stage's labels.");
            }

            int[] seg = NonzeroCrop.Crop(transpose.ToNetwork<int>(previousStageLabels, image.Dims), grid, box);
            for (int v = 0; v < seg.Length; v++)
            {
                if (seg[v] == 0 && inside[v] == 0)
                {
                    seg[v] = -1;
                }
            }

            int[] resampled = ResampleSegmentation(seg, cropped, modelGrid, separateZ);
            for (int f = 0; f < cascadeChannels; f++)
            {
                int label = settings.CascadeForegroundLabels![f];
                var oneHot = new float[resampled.Length];
                for (int v = 0; v < resampled.Length; v++)
                {
                    oneHot[v] = resampled[v] == label ? 1f : 0f;
                }

                result[image.Frames + f] = oneHot;
            }
        }

        return new NnUnetCase
        {
            Channels = result,
            TransposedGrid = grid,
            Box = box,
            ModelGrid = modelGrid,
            OriginalSpacingMm = spacing,
        };
    }

    /// <summary>
    /// batchgenerators' resize_segmentation with order 1 inside nnU-Net's resample_data_or_seg: each
    /// label's mask resized linearly, voxels >= 0.5 take the label, labels in ascending order (later
    /// ones win); with separate z, in-plane per slice then nearest along the coarse axis.
    /// </summary>
    public static int[] ResampleSegmentation(int[] seg, Grid3 from, Grid3 to, int? separateAxis)
    {
        ArgumentNullException.ThrowIfNull(seg);
        if (from == to)
        {
            return seg;
        }

        Grid3 inPlane = to;
        if (separateAxis is int z)
        {
            inPlane = to.With(z, from[z]);
        }

        var result = new int[inPlane.Count];
        foreach (int label in seg.Distinct().Order())
        {
            var mask = new double[seg.Length];
            for (int v = 0; v < seg.Length; v++)
            {
                mask[v] = seg[v] == label ? 1 : 0;
            }

            double[] resized = mask;
            Grid3 shape = from;
            for (int axis = 0; axis < 3; axis++)
            {
                if (shape[axis] != inPlane[axis])
                {
                    resized = SplineResize.ResizeAxis(resized, shape, axis, inPlane[axis], SegmentationOrder);
                    shape = shape.With(axis, inPlane[axis]);
                }
            }

            for (int v = 0; v < resized.Length; v++)
            {
                if (resized[v] >= 0.5)
                {
                    result[v] = label;
                }
            }
        }

        return separateAxis is int coarse && inPlane[coarse] != to[coarse] ? SplineResize.NearestAxis(result, inPlane, coarse, to[coarse]) : result;
    }

    internal static double[] ToDouble(float[] values)
    {
        var result = new double[values.Length];
        for (int v = 0; v < values.Length; v++)
        {
            result[v] = values[v];
        }

        return result;
    }

    internal static float[] ToFloat(double[] values)
    {
        var result = new float[values.Length];
        for (int v = 0; v < values.Length; v++)
        {
            result[v] = (float)values[v];
        }

        return result;
    }

    /// <summary>
    /// The spacing nnU-Net's readers would report: SimpleITK and nibabel give a NIfTI's pixdim,
    /// not its sform's column lengths, so a file whose sform was rewritten without pixdim is
    /// resampled by pixdim (shared/NNUNET.md, reading). Formats without a header spacing: the geometry's.
    /// </summary>
    internal static Vec3d ReaderSpacingMm(Volume image) => image.Metadata?.HeaderSpacingMm ?? image.Geometry.SpacingMm;
}
