namespace KneeWeb.Imaging.Segmentation.Preprocessing;

/// <summary>How intensities are normalised before a model sees them (nnU-Net's schemes).</summary>
public enum IntensityNormalization
{
    ZScore,
    Fixed,
    None,
}

/// <summary>An index box [Min, Max) of a voxel grid.</summary>
public readonly record struct IndexBox(int MinI, int MinJ, int MinK, int MaxI, int MaxJ, int MaxK)
{
    public Dims3 Size => new(MaxI - MinI, MaxJ - MinJ, MaxK - MinK);

    public static IndexBox Full(Dims3 dims) => new(0, 0, 0, dims.I, dims.J, dims.K);
}

/// <summary>What a model expects of its input grid and intensities (kept apart from hot loops).</summary>
public sealed record PreprocessingSettings
{
    public required Vec3d TargetSpacingMm { get; init; }

    public IntensityNormalization Normalization { get; init; } = IntensityNormalization.ZScore;

    /// <summary>Z-score statistics over the non-zero voxels only, zero outside them (nnU-Net's use_mask_for_norm).</summary>
    public bool UseNonzeroMask { get; init; }

    public double FixedMean { get; init; }

    public double FixedStd { get; init; } = 1.0;

    public double? ClipLow { get; init; }

    public double? ClipHigh { get; init; }

    public bool CropToNonzero { get; init; } = true;

    /// <summary>nnU-Net's anisotropy rule: above this spacing ratio the coarse axis is resampled nearest-neighbour.</summary>
    public double AnisotropyThreshold { get; init; } = 3.0;
}

/// <summary>An image on the model's grid, with what is needed to put a prediction back.</summary>
public sealed class PreprocessedImage
{
    internal PreprocessedImage(float[][] channels, VolumeGeometry geometry, VolumeGeometry original, IndexBox cropBox, (bool I, bool J, bool K) nearestAxes)
    {
        Channels = channels;
        Geometry = geometry;
        OriginalGeometry = original;
        CropBox = cropBox;
        NearestAxes = nearestAxes;
    }

    /// <summary>One normalised float grid per input channel, on <see cref="Geometry"/>.</summary>
    public float[][] Channels { get; }

    /// <summary>The model's grid: cropped and resampled to the target spacing, placed in the world.</summary>
    public VolumeGeometry Geometry { get; }

    public Dims3 Dims => Geometry.Dims;

    public VolumeGeometry OriginalGeometry { get; }

    /// <summary>The non-zero box of the original grid that was kept.</summary>
    public IndexBox CropBox { get; }

    /// <summary>Axes resampled nearest-neighbour by the anisotropy rule.</summary>
    public (bool I, bool J, bool K) NearestAxes { get; }
}

/// <summary>
/// nnU-Net's preprocessing and its inverse: crop to the non-zero box, normalise, resample to the
/// target spacing (linear, or nearest along the coarse axis of an anisotropic image); after
/// prediction, labels are resampled back nearest-neighbour and pasted into the box, so they land
/// on the input's exact grid.
/// </summary>
public static class NnUnetPreprocessing
{
    public static PreprocessedImage Preprocess(Volume image, PreprocessingSettings settings, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(image);
        ArgumentNullException.ThrowIfNull(settings);
        int channelCount = image.Frames;
        var original = new float[channelCount][];
        for (int c = 0; c < channelCount; c++)
        {
            original[c] = image.ToFloat32(c);
            cancellationToken.ThrowIfCancellationRequested();
        }

        IndexBox box = settings.CropToNonzero ? NonzeroBox(original, image.Dims) : IndexBox.Full(image.Dims);
        Dims3 croppedDims = box.Size;
        Vec3d spacing = image.Geometry.SpacingMm;
        Vec3d target = settings.TargetSpacingMm;
        var newDims = new Dims3(
            NewSize(croppedDims.I, spacing.X, target.X),
            NewSize(croppedDims.J, spacing.Y, target.Y),
            NewSize(croppedDims.K, spacing.Z, target.Z));
        (bool I, bool J, bool K) nearest = AnisotropicAxes(spacing, target, settings.AnisotropyThreshold);

        var channels = new float[channelCount][];
        for (int c = 0; c < channelCount; c++)
        {
            float[] cropped = Crop(original[c], image.Dims, box);
            original[c] = []; // let the full-size copy go before resampling allocates
            cancellationToken.ThrowIfCancellationRequested();
            Normalize(cropped, settings);
            cancellationToken.ThrowIfCancellationRequested();
            channels[c] = Resampling.Resample(cropped, croppedDims, newDims, nearest, cancellationToken);
        }

        VolumeGeometry croppedGeometry = new(croppedDims, CroppedAffine(image.Geometry.IndexToRas, box));
        return new PreprocessedImage(channels, Resampling.ResampledGeometry(croppedGeometry, newDims), image.Geometry, box, nearest);
    }

    /// <summary>Puts a label grid on the model's grid back onto the original image's grid.</summary>
    public static byte[] RestoreLabels(byte[] labels, PreprocessedImage preprocessed)
    {
        ArgumentNullException.ThrowIfNull(labels);
        ArgumentNullException.ThrowIfNull(preprocessed);
        IndexBox box = preprocessed.CropBox;
        Dims3 boxDims = box.Size;
        byte[] inBox = Resampling.ResampleNearest(labels, preprocessed.Dims, boxDims);
        Dims3 full = preprocessed.OriginalGeometry.Dims;
        if (boxDims == full)
        {
            return inBox;
        }

        var result = new byte[full.VoxelCount];
        Parallel.For(0, boxDims.K, k =>
        {
            for (int j = 0; j < boxDims.J; j++)
            {
                inBox.AsSpan(checked((int)boxDims.Index(0, j, k)), boxDims.I)
                    .CopyTo(result.AsSpan(checked((int)full.Index(box.MinI, box.MinJ + j, box.MinK + k)), boxDims.I));
            }
        });
        return result;
    }

    /// <summary>nnU-Net's target shape: round(size * spacing / target spacing), at least 1.</summary>
    public static int NewSize(int size, double spacingMm, double targetSpacingMm) =>
        Math.Max(1, (int)Math.Round(size * spacingMm / targetSpacingMm, MidpointRounding.AwayFromZero));

    /// <summary>The coarse axis, where original or target spacing is anisotropic beyond the threshold.</summary>
    public static (bool I, bool J, bool K) AnisotropicAxes(Vec3d spacingMm, Vec3d targetSpacingMm, double threshold)
    {
        Vec3d reference = IsAnisotropic(spacingMm, threshold) ? spacingMm
            : IsAnisotropic(targetSpacingMm, threshold) ? targetSpacingMm
            : default;
        if (reference == default)
        {
            return default;
        }

        double max = Math.Max(reference.X, Math.Max(reference.Y, reference.Z));
        return reference.Z == max ? (false, false, true) : reference.Y == max ? (false, true, false) : (true, false, false);
    }

    /// <summary>The box of voxels that are non-zero in any channel (the whole grid when none is).</summary>
    public static IndexBox NonzeroBox(float[][] channels, Dims3 dims)
    {
        ArgumentNullException.ThrowIfNull(channels);
        var minI = new int[dims.K];
        var maxI = new int[dims.K];
        var minJ = new int[dims.K];
        var maxJ = new int[dims.K];
        Parallel.For(0, dims.K, k =>
        {
            int loI = int.MaxValue, hiI = -1, loJ = int.MaxValue, hiJ = -1;
            for (int j = 0; j < dims.J; j++)
            {
                foreach (float[] channel in channels)
                {
                    ReadOnlySpan<float> row = channel.AsSpan(checked((int)dims.Index(0, j, k)), dims.I);
                    int first = row.IndexOfAnyExcept(0f);
                    if (first < 0)
                    {
                        continue;
                    }

                    int last = row.LastIndexOfAnyExcept(0f);
                    loI = Math.Min(loI, first);
                    hiI = Math.Max(hiI, last);
                    loJ = Math.Min(loJ, j);
                    hiJ = Math.Max(hiJ, j);
                }
            }

            minI[k] = loI;
            maxI[k] = hiI;
            minJ[k] = loJ;
            maxJ[k] = hiJ;
        });

        int boxMinI = int.MaxValue, boxMaxI = -1, boxMinJ = int.MaxValue, boxMaxJ = -1, boxMinK = int.MaxValue, boxMaxK = -1;
        for (int k = 0; k < dims.K; k++)
        {
            if (maxI[k] < 0)
            {
                continue;
            }

            boxMinI = Math.Min(boxMinI, minI[k]);
            boxMaxI = Math.Max(boxMaxI, maxI[k]);
            boxMinJ = Math.Min(boxMinJ, minJ[k]);
            boxMaxJ = Math.Max(boxMaxJ, maxJ[k]);
            boxMinK = Math.Min(boxMinK, k);
            boxMaxK = k;
        }

        return boxMaxK < 0 ? IndexBox.Full(dims) : new IndexBox(boxMinI, boxMinJ, boxMinK, boxMaxI + 1, boxMaxJ + 1, boxMaxK + 1);
    }

    public static float[] Crop(float[] data, Dims3 dims, IndexBox box)
    {
        ArgumentNullException.ThrowIfNull(data);
        Dims3 size = box.Size;
        if (size == dims)
        {
            return data;
        }

        var result = GC.AllocateUninitializedArray<float>(checked((int)size.VoxelCount));
        Parallel.For(0, size.K, k =>
        {
            for (int j = 0; j < size.J; j++)
            {
                data.AsSpan(checked((int)dims.Index(box.MinI, box.MinJ + j, box.MinK + k)), size.I)
                    .CopyTo(result.AsSpan(checked((int)size.Index(0, j, k)), size.I));
            }
        });
        return result;
    }

    /// <summary>Normalises in place by the settings' scheme.</summary>
    public static void Normalize(float[] data, PreprocessingSettings settings)
    {
        ArgumentNullException.ThrowIfNull(data);
        ArgumentNullException.ThrowIfNull(settings);
        switch (settings.Normalization)
        {
            case IntensityNormalization.None:
                return;
            case IntensityNormalization.Fixed:
                {
                    float low = (float)(settings.ClipLow ?? double.NegativeInfinity), high = (float)(settings.ClipHigh ?? double.PositiveInfinity);
                    float mean = (float)settings.FixedMean, inverse = (float)(1.0 / settings.FixedStd);
                    ForChunks(data, span =>
                    {
                        System.Numerics.Tensors.TensorPrimitives.Max(span, low, span);
                        System.Numerics.Tensors.TensorPrimitives.Min(span, high, span);
                        System.Numerics.Tensors.TensorPrimitives.Subtract(span, mean, span);
                        System.Numerics.Tensors.TensorPrimitives.Multiply(span, inverse, span);
                    });
                    return;
                }

            default:
                ZScore(data, settings.UseNonzeroMask);
                return;
        }
    }

    private static void ZScore(float[] data, bool useMask)
    {
        const int Chunk = 1 << 16;
        int chunks = (data.Length + Chunk - 1) / Chunk;
        var sums = new double[chunks];
        var squares = new double[chunks];
        var counts = new long[chunks];
        Parallel.For(0, chunks, c =>
        {
            ReadOnlySpan<float> span = data.AsSpan(c * Chunk, Math.Min(Chunk, data.Length - (c * Chunk)));
            double sum = 0, square = 0;
            long count = 0;
            foreach (float v in span)
            {
                if (useMask && v == 0f)
                {
                    continue;
                }

                sum += v;
                square += (double)v * v;
                count++;
            }

            sums[c] = sum;
            squares[c] = square;
            counts[c] = count;
        });
        double total = 0, totalSquares = 0;
        long n = 0;
        for (int c = 0; c < chunks; c++)
        {
            total += sums[c];
            totalSquares += squares[c];
            n += counts[c];
        }

        double mean = n > 0 ? total / n : 0;
        double std = n > 0 ? Math.Sqrt(Math.Max(0, (totalSquares / n) - (mean * mean))) : 1;
        float m = (float)mean, inverse = (float)(1.0 / Math.Max(std, 1e-8));
        ForChunks(data, span =>
        {
            if (!useMask)
            {
                System.Numerics.Tensors.TensorPrimitives.Subtract(span, m, span);
                System.Numerics.Tensors.TensorPrimitives.Multiply(span, inverse, span);
                return;
            }

            for (int i = 0; i < span.Length; i++)
            {
                // Outside the mask stays 0, as nnU-Net does with use_mask_for_norm.
                span[i] = span[i] == 0f ? 0f : (span[i] - m) * inverse;
            }
        });
    }

    private static void ForChunks(float[] data, SpanAction action)
    {
        const int Chunk = 1 << 16;
        Parallel.For(0, (data.Length + Chunk - 1) / Chunk, c => action(data.AsSpan(c * Chunk, Math.Min(Chunk, data.Length - (c * Chunk)))));
    }

    private delegate void SpanAction(Span<float> span);

    private static bool IsAnisotropic(Vec3d spacing, double threshold)
    {
        double max = Math.Max(spacing.X, Math.Max(spacing.Y, spacing.Z));
        double min = Math.Min(spacing.X, Math.Min(spacing.Y, spacing.Z));
        return max / min > threshold;
    }

    private static AffineRas CroppedAffine(AffineRas affine, IndexBox box)
    {
        Vec3d origin = affine.Apply(new Vec3d(box.MinI, box.MinJ, box.MinK));
        return new AffineRas(
            affine[0, 0], affine[0, 1], affine[0, 2], origin.X,
            affine[1, 0], affine[1, 1], affine[1, 2], origin.Y,
            affine[2, 0], affine[2, 1], affine[2, 2], origin.Z);
    }
}
