using System.Numerics.Tensors;
using KneeWeb.Imaging;
using KneeWeb.Imaging.Segmentation.Preprocessing;

namespace KneeWeb.Inference;

/// <summary>
/// Brings labels back from a resampled model grid to the input's grid: scores are interpolated
/// linearly and the argmax taken there, output slice by output slice as soon as the model slabs
/// each slice reads are final, after which slabs no later slice reads are freed.
/// </summary>
internal sealed class LabelRestorer(LinearScoreRestore restore, TilePlan plan, OutputKind output, byte[] labelLookup, Dims3 imageDims)
{
    private int restoredBelowKOut; // output slices (of the crop box) already restored

    /// <summary>Schema labels on the input's grid (background outside the crop box).</summary>
    public byte[] Labels { get; } = new byte[imageDims.VoxelCount];

    /// <summary>Restores every output slice whose model slabs are final, then frees the slabs no later slice reads.</summary>
    public void RestoreReady(ScoreAccumulator scores, int firstNewSlab)
    {
        int slice = plan.Padded.I * plan.Padded.J;
        int classes = plan.Classes;
        int finalizedBelowK = scores.FinalizedBelowK;
        // Interpolation needs scores comparable between voxels: weighted sums become weighted means,
        // logits become probabilities. (The model-grid argmax, taken before, is unchanged by both.)
        Parallel.For(firstNewSlab, finalizedBelowK, z =>
        {
            if (scores.Scores(z) is not float[] slab || scores.WeightSums(z) is not float[] sums)
            {
                return;
            }

            for (int c = 0; c < classes; c++)
            {
                Span<float> classScores = slab.AsSpan(c * slice, slice);
                TensorPrimitives.Divide(classScores, sums, classScores);
            }

            if (output == OutputKind.Logits)
            {
                LinearScoreRestore.SoftmaxAcrossClasses(slab, 0, slice, classes, slice);
            }
        });

        int padK = plan.PadOffset.K;
        int boxK = restore.Box.Size.K;
        int ready = restoredBelowKOut;
        while (ready < boxK && restore.SourceSlabs(ready).Upper + padK < finalizedBelowK)
        {
            ready++;
        }

        Parallel.For(restoredBelowKOut, ready, kOut =>
        {
            (int lower, int upper) = restore.SourceSlabs(kOut);
            RestoreSlice(kOut, SlabOf(scores.Scores(lower + padK)!, 0, slice), SlabOf(scores.Scores(upper + padK)!, 0, slice));
        });
        restoredBelowKOut = ready;

        int keepFrom = ready < boxK ? restore.SourceSlabs(ready).Lower + padK : plan.Padded.K;
        for (int z = 0; z < Math.Min(keepFrom, finalizedBelowK); z++)
        {
            scores.Release(z);
        }
    }

    /// <summary>The single tile's output is the whole padded grid: every output slice reads it directly.</summary>
    public void RestoreFromWholeGrid(float[] scores)
    {
        Dims3 padded = plan.Padded;
        long slice = (long)padded.I * padded.J;
        if (output == OutputKind.Logits)
        {
            Parallel.For(0, padded.K, z => LinearScoreRestore.SoftmaxAcrossClasses(scores, z * slice, padded.VoxelCount, plan.Classes, (int)slice));
        }

        int padK = plan.PadOffset.K;
        Parallel.For(0, restore.Box.Size.K, kOut =>
        {
            (int lower, int upper) = restore.SourceSlabs(kOut);
            RestoreSlice(kOut, SlabOf(scores, (lower + padK) * slice, padded.VoxelCount), SlabOf(scores, (upper + padK) * slice, padded.VoxelCount));
        });
        restoredBelowKOut = restore.Box.Size.K;
    }

    // The unpadded model region of a padded-grid slab starting at slabStart.
    private ScoreSlab SlabOf(float[] scores, long slabStart, long classStride) =>
        new(scores, slabStart + ((long)plan.PadOffset.J * plan.Padded.I) + plan.PadOffset.I, plan.Padded.I, classStride);

    private void RestoreSlice(int kOut, ScoreSlab lower, ScoreSlab upper)
    {
        Dims3 box = restore.Box.Size;
        byte[] sliceLabels = System.Buffers.ArrayPool<byte>.Shared.Rent(box.I * box.J);
        try
        {
            restore.ArgmaxSlice(kOut, lower, upper, labelLookup, sliceLabels);
            for (int j = 0; j < box.J; j++)
            {
                sliceLabels.AsSpan(j * box.I, box.I).CopyTo(Labels.AsSpan(checked((int)imageDims.Index(restore.Box.MinI, restore.Box.MinJ + j, restore.Box.MinK + kOut)), box.I));
            }
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(sliceLabels);
        }
    }
}
