using System.Buffers;
using System.Numerics.Tensors;

namespace KneeWeb.Imaging.Segmentation.Preprocessing;

/// <summary>
/// Where one model-grid slab of class scores lies in memory: the score of class c at model voxel (i, j)
/// of the slab is <c>Scores[Origin + c * ClassStride + j * RowStride + i]</c>.
/// </summary>
public readonly record struct ScoreSlab(float[] Scores, long Origin, int RowStride, long ClassStride);

/// <summary>
/// nnU-Net's inverse for class scores: the scores on the model grid are resampled to the input's grid
/// (linear, nearest along an axis the image was resampled nearest-neighbour, the same pixel-centre
/// convention as <see cref="Resampling"/>) and the argmax is taken there, so a structure thinner than a
/// model voxel keeps its sub-voxel borders. Output slice by output slice, from the two model slabs it
/// reads: no score volume at the input's resolution is ever held.
/// </summary>
public sealed class LinearScoreRestore
{
    private readonly int classes;
    private readonly int[] lowerI, lowerJ, lowerK;
    private readonly float[] weightI, weightJ, weightK;

    public LinearScoreRestore(PreprocessedImage preprocessed, int classes)
    {
        ArgumentNullException.ThrowIfNull(preprocessed);
        ArgumentOutOfRangeException.ThrowIfLessThan(classes, 1);
        this.classes = classes;
        ModelDims = preprocessed.Dims;
        Box = preprocessed.CropBox;
        Dims3 box = Box.Size;
        (bool I, bool J, bool K) nearest = preprocessed.NearestAxes;
        (lowerI, weightI) = Resampling.LinearTable(ModelDims.I, box.I, nearest.I);
        (lowerJ, weightJ) = Resampling.LinearTable(ModelDims.J, box.J, nearest.J);
        (lowerK, weightK) = Resampling.LinearTable(ModelDims.K, box.K, nearest.K);
    }

    /// <summary>The model grid the scores are on.</summary>
    public Dims3 ModelDims { get; }

    /// <summary>The box of the input grid that the model grid covers (the crop).</summary>
    public IndexBox Box { get; }

    /// <summary>True when the model grid is the box voxel for voxel, and nearest restore is already exact.</summary>
    public static bool IsIdentity(PreprocessedImage preprocessed)
    {
        ArgumentNullException.ThrowIfNull(preprocessed);
        return preprocessed.Dims == preprocessed.CropBox.Size;
    }

    /// <summary>The model slabs (k on the model grid) that output slice <paramref name="kOut"/> of the box reads.</summary>
    public (int Lower, int Upper) SourceSlabs(int kOut) =>
        (lowerK[kOut], weightK[kOut] == 0f ? lowerK[kOut] : lowerK[kOut] + 1);

    /// <summary>
    /// Labels of output slice <paramref name="kOut"/> of the box: scores interpolated from the slabs
    /// <see cref="SourceSlabs"/> names, argmax, model label to schema label through <paramref name="labelLookup"/>.
    /// </summary>
    public void ArgmaxSlice(int kOut, ScoreSlab lower, ScoreSlab upper, ReadOnlySpan<byte> labelLookup, Span<byte> labels)
    {
        ArgumentNullException.ThrowIfNull(lower.Scores);
        ArgumentNullException.ThrowIfNull(upper.Scores);
        Dims3 box = Box.Size;
        if (labels.Length < box.I * box.J)
        {
            throw new ArgumentException($"{labels.Length} labels for a {box.I}x{box.J} slice.", nameof(labels));
        }

        int modelI = ModelDims.I;
        float wk = weightK[kOut];
        float[] rows = ArrayPool<float>.Shared.Rent(classes * modelI);
        float[] scratch = ArrayPool<float>.Shared.Rent(modelI);
        try
        {
            for (int jOut = 0; jOut < box.J; jOut++)
            {
                int j0 = lowerJ[jOut];
                float wj = weightJ[jOut];
                int j1 = wj == 0f ? j0 : j0 + 1;
                // Per class, the model row blended along j and k; then along i per output voxel.
                for (int c = 0; c < classes; c++)
                {
                    Span<float> row = rows.AsSpan(c * modelI, modelI);
                    BlendRows(lower, c, j0, j1, wj, row);
                    if (wk != 0f)
                    {
                        Span<float> next = scratch.AsSpan(0, modelI);
                        BlendRows(upper, c, j0, j1, wj, next);
                        Lerp(row, next, wk, row);
                    }
                }

                Span<byte> target = labels.Slice(jOut * box.I, box.I);
                for (int iOut = 0; iOut < box.I; iOut++)
                {
                    int i0 = lowerI[iOut];
                    float wi = weightI[iOut];
                    int best = 0;
                    float bestScore = float.NegativeInfinity;
                    for (int c = 0; c < classes; c++)
                    {
                        int at = (c * modelI) + i0;
                        float score = wi == 0f ? rows[at] : rows[at] + (wi * (rows[at + 1] - rows[at]));
                        if (score > bestScore)
                        {
                            bestScore = score;
                            best = c;
                        }
                    }

                    target[iOut] = labelLookup[best];
                }
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(rows);
            ArrayPool<float>.Shared.Return(scratch);
        }
    }

    /// <summary>
    /// Softmax across classes, in place, for <paramref name="voxels"/> consecutive voxels whose class c
    /// score is at <c>start + c * classStride + n</c>. Logits are turned into probabilities before they are
    /// interpolated (as nnU-Net v1 resampled its softmax output): a convex mix of two voxels' probabilities
    /// picks one of their classes, whereas mixed logits of an intensity-like model can favour a third class
    /// whose logit is middling at both.
    /// </summary>
    public static void SoftmaxAcrossClasses(float[] scores, long start, long classStride, int classes, int voxels)
    {
        ArgumentNullException.ThrowIfNull(scores);
        float[] maxBuffer = ArrayPool<float>.Shared.Rent(voxels);
        float[] sumBuffer = ArrayPool<float>.Shared.Rent(voxels);
        try
        {
            Span<float> max = maxBuffer.AsSpan(0, voxels), sum = sumBuffer.AsSpan(0, voxels);
            scores.AsSpan(checked((int)start), voxels).CopyTo(max);
            for (int c = 1; c < classes; c++)
            {
                TensorPrimitives.Max(max, scores.AsSpan(checked((int)(start + (c * classStride))), voxels), max);
            }

            sum.Clear();
            for (int c = 0; c < classes; c++)
            {
                Span<float> values = scores.AsSpan(checked((int)(start + (c * classStride))), voxels);
                TensorPrimitives.Subtract(values, max, values);
                TensorPrimitives.Exp(values, values);
                TensorPrimitives.Add(sum, values, sum);
            }

            for (int c = 0; c < classes; c++)
            {
                Span<float> values = scores.AsSpan(checked((int)(start + (c * classStride))), voxels);
                TensorPrimitives.Divide(values, sum, values);
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(maxBuffer);
            ArrayPool<float>.Shared.Return(sumBuffer);
        }
    }

    private void BlendRows(ScoreSlab slab, int c, int j0, int j1, float wj, Span<float> target)
    {
        int modelI = ModelDims.I;
        ReadOnlySpan<float> a = slab.Scores.AsSpan(checked((int)(slab.Origin + (c * slab.ClassStride) + ((long)j0 * slab.RowStride))), modelI);
        if (wj == 0f)
        {
            a.CopyTo(target);
            return;
        }

        ReadOnlySpan<float> b = slab.Scores.AsSpan(checked((int)(slab.Origin + (c * slab.ClassStride) + ((long)j1 * slab.RowStride))), modelI);
        Lerp(a, b, wj, target);
    }

    // target = a + w * (b - a); target may be a.
    private static void Lerp(ReadOnlySpan<float> a, ReadOnlySpan<float> b, float w, Span<float> target)
    {
        float[] difference = ArrayPool<float>.Shared.Rent(a.Length);
        try
        {
            Span<float> d = difference.AsSpan(0, a.Length);
            TensorPrimitives.Subtract(b, a, d);
            TensorPrimitives.MultiplyAdd(d, w, a, target);
        }
        finally
        {
            ArrayPool<float>.Shared.Return(difference);
        }
    }
}
