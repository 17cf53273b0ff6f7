using System.Numerics.Tensors;

namespace KneeWeb.Inference;

/// <summary>
/// Gaussian-weighted class scores of the padded grid, one k-slab at a time: a slab is allocated
/// when the first tile reaches it and, once no later tile can (tiles come in k order), its argmax
/// is taken into <see cref="Labels"/> and its scores freed, unless a restore still needs them.
/// Memory is about one patch depth of scores, not the whole grid's.
/// </summary>
internal sealed class ScoreAccumulator(TilePlan plan, float[] importance, byte[] labelLookup, bool keepForRestore)
{
    private readonly float[]?[] slabs = new float[plan.Padded.K][];
    private readonly float[]?[] weightSums = new float[plan.Padded.K][];

    /// <summary>Schema labels of the padded grid; final below <see cref="FinalizedBelowK"/>.</summary>
    public byte[] Labels { get; } = new byte[plan.Padded.VoxelCount];

    public int FinalizedBelowK { get; private set; }

    private int Slice => plan.Padded.I * plan.Padded.J;

    /// <summary>The weighted scores of slab z ([class][j][i]), null when freed or never reached.</summary>
    public float[]? Scores(int z) => slabs[z];

    /// <summary>The summed weights of slab z (kept only for a restore), null otherwise.</summary>
    public float[]? WeightSums(int z) => weightSums[z];

    /// <summary>Frees slab z (the restore has read it).</summary>
    public void Release(int z)
    {
        slabs[z] = null;
        weightSums[z] = null;
    }

    /// <summary>Adds batch entry <paramref name="b"/> of <paramref name="sum"/> (mirror-summed scores), weighted, at its tile.</summary>
    public void Add(float[] sum, int b, (int I, int J, int K) tile)
    {
        (int pI, int pJ, int pK) = (plan.Patch.I, plan.Patch.J, plan.Patch.K);
        int classes = plan.Classes;
        int patchVoxels = plan.PatchVoxels;
        int slice = Slice;
        int rowLength = plan.Padded.I;
        for (int z = 0; z < pK; z++)
        {
            slabs[tile.K + z] ??= new float[(long)classes * slice];
            if (keepForRestore)
            {
                weightSums[tile.K + z] ??= new float[slice];
            }
        }

        Parallel.For(0, pK, z =>
        {
            float[] target = slabs[tile.K + z]!;
            for (int c = 0; c < classes; c++)
            {
                int sourceBase = (((b * classes) + c) * patchVoxels) + (z * pJ * pI);
                for (int y = 0; y < pJ; y++)
                {
                    ReadOnlySpan<float> weights = importance.AsSpan(((z * pJ) + y) * pI, pI);
                    ReadOnlySpan<float> values = sum.AsSpan(sourceBase + (y * pI), pI);
                    Span<float> destination = target.AsSpan((c * slice) + ((tile.J + y) * rowLength) + tile.I, pI);
                    TensorPrimitives.MultiplyAdd(values, weights, destination, destination);
                }
            }

            if (weightSums[tile.K + z] is float[] sums)
            {
                // Scores are weighted sums; interpolating between voxels needs them as weighted means.
                for (int y = 0; y < pJ; y++)
                {
                    Span<float> destination = sums.AsSpan(((tile.J + y) * rowLength) + tile.I, pI);
                    TensorPrimitives.Add(destination, importance.AsSpan(((z * pJ) + y) * pI, pI), destination);
                }
            }
        });
    }

    /// <summary>
    /// Argmax of every slab below <paramref name="k"/> (no later tile reaches it), freeing its scores
    /// unless a restore keeps them; false when nothing new was final. <paramref name="from"/>: the first newly final slab.
    /// </summary>
    public bool FinalizeBelow(int k, out int from)
    {
        from = FinalizedBelowK;
        if (k <= FinalizedBelowK)
        {
            return false;
        }

        int slice = Slice;
        int classes = plan.Classes;
        Parallel.For(from, k, z =>
        {
            float[]? scores = slabs[z];
            Span<byte> labels = Labels.AsSpan(z * slice, slice);
            if (scores is null)
            {
                labels.Clear();
                return;
            }

            for (int v = 0; v < slice; v++)
            {
                int best = 0;
                float bestScore = scores[v];
                for (int c = 1; c < classes; c++)
                {
                    float s = scores[(c * slice) + v];
                    if (s > bestScore)
                    {
                        bestScore = s;
                        best = c;
                    }
                }

                labels[v] = labelLookup[best];
            }

            if (!keepForRestore)
            {
                slabs[z] = null;
            }
        });
        FinalizedBelowK = k;
        return true;
    }

    /// <summary>Argmax of a single tile that is the whole padded grid, straight from its output tensor.</summary>
    public void ArgmaxWholeGrid(float[] output)
    {
        int slice = Slice;
        int classes = plan.Classes;
        long classStride = plan.Padded.VoxelCount;
        Parallel.For(0, plan.Padded.K, z =>
        {
            // Class by class over the slice: each class's scores are read as one contiguous stream.
            float[] bestScores = System.Buffers.ArrayPool<float>.Shared.Rent(slice);
            byte[] bestClasses = System.Buffers.ArrayPool<byte>.Shared.Rent(slice);
            try
            {
                long sliceStart = (long)z * slice;
                output.AsSpan((int)sliceStart, slice).CopyTo(bestScores);
                Array.Clear(bestClasses, 0, slice);
                for (int c = 1; c < classes; c++)
                {
                    ReadOnlySpan<float> scores = output.AsSpan(checked((int)((c * classStride) + sliceStart)), slice);
                    for (int v = 0; v < slice; v++)
                    {
                        if (scores[v] > bestScores[v])
                        {
                            bestScores[v] = scores[v];
                            bestClasses[v] = (byte)c;
                        }
                    }
                }

                Span<byte> labels = Labels.AsSpan((int)sliceStart, slice);
                for (int v = 0; v < slice; v++)
                {
                    labels[v] = labelLookup[bestClasses[v]];
                }
            }
            finally
            {
                System.Buffers.ArrayPool<float>.Shared.Return(bestScores);
                System.Buffers.ArrayPool<byte>.Shared.Return(bestClasses);
            }
        });
        FinalizedBelowK = plan.Padded.K;
    }
}
