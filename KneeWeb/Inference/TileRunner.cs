using System.Diagnostics;
using System.Numerics.Tensors;

namespace KneeWeb.Inference;

/// <summary>Where a run's time goes (SegmentationTimings).</summary>
internal sealed class RunClocks
{
    /// <summary>Inside ONNX Runtime's Run calls.</summary>
    public Stopwatch ModelRuns { get; } = new();

    /// <summary>Tile filling, mirroring, weighted accumulation and argmax.</summary>
    public Stopwatch Tiling { get; } = new();

    /// <summary>The linear restore to the input's grid (postprocessing, though done while tiling).</summary>
    public Stopwatch Restore { get; } = new();
}

/// <summary>A batch's tensors: input tiles, model output, and the mirror-summed output.</summary>
internal sealed record TileBuffers(OrtFloatTensor Input, OrtFloatTensor Output, float[] Sum);

/// <summary>
/// Runs batches of tiles through the model: fills the input tiles (flipped for each mirror), runs
/// the session through the fallback policy, and sums the unflipped outputs. An out-of-memory
/// failure asks the policy for the next rung and reports that the batch must be redone.
/// </summary>
internal sealed class TileRunner(OrtRuntime runtime, TilePlan plan, float[][] channels, ProviderFallback fallback, RunClocks clocks, CancellationToken cancellationToken) : IDisposable
{
    private readonly Dictionary<int, TileBuffers> buffers = [];

    /// <summary>The tensors for batches of <paramref name="take"/> tiles (made once per size).</summary>
    public TileBuffers BuffersFor(int take)
    {
        if (!buffers.TryGetValue(take, out TileBuffers? tensors))
        {
            tensors = new TileBuffers(
                new OrtFloatTensor(runtime, take, channels.Length, plan.Patch.K, plan.Patch.J, plan.Patch.I),
                new OrtFloatTensor(runtime, take, plan.Classes, plan.Patch.K, plan.Patch.J, plan.Patch.I),
                plan.Direct ? [] : new float[(long)take * plan.Classes * plan.PatchVoxels]);
            buffers[take] = tensors;
        }

        return tensors;
    }

    /// <summary>
    /// Runs tiles [first, first + take) (every mirror) into the sum buffer, or the single direct
    /// tile into the output tensor; false when it must be redone: <paramref name="batch"/> is then
    /// the smaller batch, or the session moved to the CPU.
    /// </summary>
    public bool TryRun(int first, int take, TileBuffers tensors, ref int batch)
    {
        Array.Clear(tensors.Sum);
        if (plan.Direct)
        {
            return TryRunDirect(plan.Tiles[first], tensors);
        }

        try
        {
            foreach (int[] axes in plan.Mirrors)
            {
                clocks.Tiling.Start();
                (bool I, bool J, bool K) flip = (axes.Contains(0), axes.Contains(1), axes.Contains(2));
                for (int b = 0; b < take; b++)
                {
                    FillTile(tensors.Input.Data, b, plan.Tiles[first + b], flip);
                }

                clocks.Tiling.Stop();
                clocks.ModelRuns.Start();
                try
                {
                    fallback.Run([tensors.Input], [tensors.Output], take, cancellationToken);
                }
                finally
                {
                    clocks.ModelRuns.Stop();
                }

                clocks.Tiling.Start();
                for (int b = 0; b < take; b++)
                {
                    AddUnflipped(tensors.Output.Data, tensors.Sum, b, flip);
                }

                clocks.Tiling.Stop();
            }

            return true;
        }
        catch (OrtException e) when (e.IsOutOfMemory)
        {
            clocks.Tiling.Stop();
            // Too big a batch: fewer tiles; at batch 1 on the GPU: the same tiles on the CPU (or GPU_OOM).
            batch = fallback.Recover(e, take);
            return false;
        }
        catch (OrtException e)
        {
            throw fallback.Failed(e);
        }
    }

    public void Dispose()
    {
        foreach (TileBuffers tensors in buffers.Values)
        {
            tensors.Input.Dispose();
            tensors.Output.Dispose();
        }

        buffers.Clear();
    }

    /// <summary>The one tile of a whole-grid model, run into its output tensor (no sum buffer: nothing to add up).</summary>
    private bool TryRunDirect((int I, int J, int K) tile, TileBuffers tensors)
    {
        clocks.Tiling.Start();
        FillTile(tensors.Input.Data, 0, tile, default);
        clocks.Tiling.Stop();
        clocks.ModelRuns.Start();
        try
        {
            fallback.Run([tensors.Input], [tensors.Output], 1, cancellationToken);
            return true;
        }
        catch (OrtException e) when (e.IsOutOfMemory)
        {
            fallback.Recover(e, 1);
            return false;
        }
        catch (OrtException e)
        {
            throw fallback.Failed(e);
        }
        finally
        {
            clocks.ModelRuns.Stop();
        }
    }

    private void FillTile(float[] input, int b, (int I, int J, int K) tile, (bool I, bool J, bool K) flip)
    {
        (int pI, int pJ, int pK) = (plan.Patch.I, plan.Patch.J, plan.Patch.K);
        int channelCount = channels.Length;
        int patchVoxels = plan.PatchVoxels;
        Imaging.Dims3 padded = plan.Padded;
        Parallel.For(0, channelCount * pK, ck =>
        {
            int c = ck / pK, z = ck % pK;
            float[] source = channels[c];
            int sz = tile.K + (flip.K ? pK - 1 - z : z);
            Span<float> target = input.AsSpan(((b * channelCount) + c) * patchVoxels, patchVoxels);
            for (int y = 0; y < pJ; y++)
            {
                int sy = tile.J + (flip.J ? pJ - 1 - y : y);
                ReadOnlySpan<float> row = source.AsSpan((int)padded.Index(tile.I, sy, sz), pI);
                Span<float> destination = target.Slice(((z * pJ) + y) * pI, pI);
                row.CopyTo(destination);
                if (flip.I)
                {
                    destination.Reverse();
                }
            }
        });
    }

    private void AddUnflipped(float[] output, float[] sum, int b, (bool I, bool J, bool K) flip)
    {
        (int pI, int pJ, int pK) = (plan.Patch.I, plan.Patch.J, plan.Patch.K);
        int classes = plan.Classes;
        int patchVoxels = plan.PatchVoxels;
        Parallel.For(0, classes * pK, ck =>
        {
            int c = ck / pK, z = ck % pK;
            int offset = ((b * classes) + c) * patchVoxels;
            int sz = flip.K ? pK - 1 - z : z;
            for (int y = 0; y < pJ; y++)
            {
                int sy = flip.J ? pJ - 1 - y : y;
                Span<float> source = output.AsSpan(offset + (((sz * pJ) + sy) * pI), pI);
                Span<float> target = sum.AsSpan(offset + (((z * pJ) + y) * pI), pI);
                if (flip.I)
                {
                    // Reversed in place in the output buffer: it is refilled by the next run anyway.
                    source.Reverse();
                }

                TensorPrimitives.Add(target, source, target);
            }
        });
    }
}
