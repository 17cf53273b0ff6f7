using System.Diagnostics;
using KneeWeb.Imaging;

namespace KneeWeb.Inference.NnUnet;

/// <summary>What one nnU-Net-semantics prediction produced: output channel per image voxel and how it ran.</summary>
internal sealed record NnUnetPrediction(byte[] Channels, int Tiles, int BatchSize, bool Mirrored, Grid3 ModelGrid, InferenceProvider Provider, IReadOnlyList<string> Fallbacks, TimeSpan Preprocess, TimeSpan ModelRuns, TimeSpan Export);

/// <summary>
/// One prediction with nnU-Net's semantics (shared/NNUNET.md steps 1-9) through an imported ONNX
/// graph. Peak memory beyond the image: the model-grid channels (padded), (classes + 1) float32
/// volumes of the padded grid for the weighted logits, then during export one class at a time in
/// double on the model and cropped grids plus a running maximum.
/// </summary>
internal sealed class NnUnetRun(SegmentationPredictor owner, ModelEntry model, SegmentationOptions options, IProgress<double>? progress, CancellationToken cancellationToken)
{
    private readonly NnUnetSettings settings = model.Sidecar!.NnUnet!;
    private readonly Stopwatch runClock = new();

    /// <summary>
    /// Where to show the model grid's mid-planes with the labels so far (schema label per output channel). The planes are
    /// taken in the image's own axes (transpose_forward undone), so "k" is a plane across the image's k axis as in
    /// every other preview and PreviewRendering can orient it from the image's affine.
    /// </summary>
    public (PreviewSampler Sampler, byte[] SchemaByChannel)? Preview { get; init; }

    public NnUnetPrediction Predict(Volume image, int[]? previousStageLabels)
    {
        var clock = Stopwatch.StartNew();
        NnUnetCase prepared = NnUnetPreprocessor.Prepare(image, settings, previousStageLabels);
        var plan = new NnUnetTilePlan(prepared.ModelGrid, Grid3.Of(settings.PatchSize), settings.TileStepSize);
        float[][] padded = Pad(prepared.Channels, plan);
        TimeSpan preprocess = clock.Elapsed;
        cancellationToken.ThrowIfCancellationRequested();

        int[] mirrorAxes = options.Mirroring switch
        {
            MirroringMode.Off => [],
            MirroringMode.On => [0, 1, 2],
            _ => settings.MirrorAxes,
        };
        (bool, bool, bool)[] mirrors = MirrorCombinations(mirrorAxes);
        int classes = settings.ModelLabels.Length;
        var accumulator = new LogitAccumulator(plan, classes);
        OfferPreview(plan, padded, accumulator, 0, force: true); // the image at once, before a (possibly minutes-long) first model run
        using var fallback = new ProviderFallback(owner, model, options);
        int batch = Math.Max(1, options.BatchSize ?? model.Sidecar!.SlidingWindow.BatchSize);
        if (fallback.Session.Inputs[0].Shape[0] > 0)
        {
            batch = 1; // a graph exported with a fixed batch of one
        }

        RunTiles(plan, padded, mirrors, classes, accumulator, fallback, ref batch);
        padded = [];
        accumulator.Finish();
        clock.Restart();
        byte[] channels = NnUnetExport.ToImage(accumulator, plan, prepared, settings, image.Dims);
        return new NnUnetPrediction(channels, plan.Tiles.Count, batch, mirrors.Length > 1, prepared.ModelGrid, fallback.Provider, fallback.Fallbacks, preprocess, runClock.Elapsed, clock.Elapsed);
    }

    private void RunTiles(NnUnetTilePlan plan, float[][] padded, (bool, bool, bool)[] mirrors, int classes, LogitAccumulator accumulator, ProviderFallback fallback, ref int batch)
    {
        Grid3 patch = plan.Patch;
        int patchCount = (int)patch.Count;
        IReadOnlyList<TileStart> tiles = plan.Tiles;
        var buffers = new Dictionary<int, (OrtFloatTensor Input, OrtFloatTensor Output, float[] Sum)>();
        try
        {
            int done = 0;
            while (done < tiles.Count)
            {
                cancellationToken.ThrowIfCancellationRequested();
                int take = Math.Min(batch, tiles.Count - done);
                if (!buffers.TryGetValue(take, out var tensors))
                {
                    tensors = (
                        new OrtFloatTensor(owner.Runtime, take, padded.Length, patch.N0, patch.N1, patch.N2),
                        new OrtFloatTensor(owner.Runtime, take, classes, patch.N0, patch.N1, patch.N2),
                        new float[(long)take * classes * patchCount]);
                    buffers[take] = tensors;
                }

                Array.Clear(tensors.Sum);
                try
                {
                    foreach ((bool, bool, bool) flip in mirrors)
                    {
                        for (int b = 0; b < take; b++)
                        {
                            FillTile(tensors.Input.Data, b, padded, plan, tiles[done + b], flip);
                        }

                        runClock.Start();
                        try
                        {
                            fallback.Run([tensors.Input], [tensors.Output], take, cancellationToken);
                        }
                        finally
                        {
                            runClock.Stop();
                        }

                        for (int b = 0; b < take; b++)
                        {
                            AddUnflipped(tensors.Output.Data, tensors.Sum, b * classes * patchCount, classes, patch, flip);
                        }
                    }
                }
                catch (OrtException e) when (e.IsOutOfMemory)
                {
                    batch = fallback.Recover(e, take);
                    continue; // the same tiles again, smaller or on the CPU
                }
                catch (OrtException e)
                {
                    throw fallback.Failed(e);
                }

                float scale = 1f / mirrors.Length;
                System.Numerics.Tensors.TensorPrimitives.Multiply(tensors.Sum, scale, tensors.Sum);
                for (int b = 0; b < take; b++)
                {
                    accumulator.Add(tensors.Sum.AsSpan(b * classes * patchCount, classes * patchCount), tiles[done + b]);
                }

                done += take;
                progress?.Report((double)done / tiles.Count);
                OfferPreview(plan, padded, accumulator, (double)done / tiles.Count, force: done == tiles.Count);
            }
        }
        finally
        {
            foreach (var tensors in buffers.Values)
            {
                tensors.Input.Dispose();
                tensors.Output.Dispose();
            }
        }
    }

    private void OfferPreview(NnUnetTilePlan plan, float[][] padded, LogitAccumulator accumulator, double fraction, bool force)
    {
        if (Preview is not (PreviewSampler sampler, byte[] schema))
        {
            return;
        }

        // Before the first tile every logit is zero: the argmax is channel 0 (background), as in the plain predictor.
        // Weights are positive, so the argmax of the weighted sums is that of the means.
        byte LabelAt(long n)
        {
            float[][] logits = accumulator.Logits;
            int best = 0;
            for (int c = 1; c < logits.Length; c++)
            {
                if (logits[c][n] > logits[best][n])
                {
                    best = c;
                }
            }

            return schema[best];
        }

        var axes = new ImageAxesView(plan, settings.TransposeForward);
        sampler.Offer(fraction, force, n => padded[0][axes.PaddedIndex(n)], n => LabelAt(axes.PaddedIndex(n)), axes.Dims, axes.Centre);
    }

    /// <summary>The plain prediction first, then every non-empty subset of the axes (nnU-Net's order).</summary>
    internal static (bool, bool, bool)[] MirrorCombinations(IReadOnlyList<int> axes)
    {
        int[] distinct = [.. axes.Distinct().Order()];
        var combinations = new List<(bool, bool, bool)>();
        for (int mask = 0; mask < 1 << distinct.Length; mask++)
        {
            bool Has(int axis) => Enumerable.Range(0, distinct.Length).Any(a => (mask & (1 << a)) != 0 && distinct[a] == axis);
            combinations.Add((Has(0), Has(1), Has(2)));
        }

        return [.. combinations];
    }

    private static float[][] Pad(float[][] channels, NnUnetTilePlan plan)
    {
        if (plan.Padded == plan.ModelGrid)
        {
            return channels;
        }

        Grid3 model = plan.ModelGrid, grid = plan.Padded, below = plan.PadBelow;
        var result = new float[channels.Length][];
        for (int c = 0; c < channels.Length; c++)
        {
            var target = new float[grid.Count];
            for (int a = 0; a < model.N0; a++)
            {
                for (int b = 0; b < model.N1; b++)
                {
                    channels[c].AsSpan((int)model.Index(a, b, 0), model.N2).CopyTo(target.AsSpan((int)grid.Index(below.N0 + a, below.N1 + b, below.N2), model.N2));
                }
            }

            result[c] = target;
            channels[c] = [];
        }

        return result;
    }

    private static void FillTile(float[] input, int b, float[][] channels, NnUnetTilePlan plan, TileStart tile, (bool A, bool B, bool C) flip)
    {
        Grid3 patch = plan.Patch, grid = plan.Padded;
        int patchCount = (int)patch.Count;
        Parallel.For(0, channels.Length * patch.N0, ca =>
        {
            int c = ca / patch.N0, a = ca % patch.N0;
            int sa = tile.S0 + (flip.A ? patch.N0 - 1 - a : a);
            Span<float> target = input.AsSpan(((b * channels.Length) + c) * patchCount, patchCount);
            for (int y = 0; y < patch.N1; y++)
            {
                int sy = tile.S1 + (flip.B ? patch.N1 - 1 - y : y);
                Span<float> destination = target.Slice((int)patch.Index(a, y, 0), patch.N2);
                channels[c].AsSpan((int)grid.Index(sa, sy, tile.S2), patch.N2).CopyTo(destination);
                if (flip.C)
                {
                    destination.Reverse();
                }
            }
        });
    }

    private static void AddUnflipped(float[] output, float[] sum, int offset, int classes, Grid3 patch, (bool A, bool B, bool C) flip)
    {
        int patchCount = (int)patch.Count;
        Parallel.For(0, classes * patch.N0, ca =>
        {
            int c = ca / patch.N0, a = ca % patch.N0;
            int classBase = offset + (c * patchCount);
            int sa = flip.A ? patch.N0 - 1 - a : a;
            for (int y = 0; y < patch.N1; y++)
            {
                int sy = flip.B ? patch.N1 - 1 - y : y;
                Span<float> source = output.AsSpan(classBase + (int)patch.Index(sa, sy, 0), patch.N2);
                Span<float> target = sum.AsSpan(classBase + (int)patch.Index(a, y, 0), patch.N2);
                if (flip.C)
                {
                    source.Reverse(); // the output buffer is refilled by the next run anyway
                }

                System.Numerics.Tensors.TensorPrimitives.Add(target, source, target);
            }
        });
    }
}

/// <summary>
/// The model grid (cropped and resampled, inside the padding) seen in the image's axes: image axis m (0 = k,
/// 1 = j, 2 = i, slowest first) is network axis a where transpose_forward[a] = m. Maps a linear index over
/// <see cref="Dims"/> (i fastest) to the padded network grid.
/// </summary>
internal readonly struct ImageAxesView
{
    private readonly Grid3 padded;
    private readonly Grid3 below;
    private readonly int[] forward;

    public ImageAxesView(NnUnetTilePlan plan, IReadOnlyList<int> transposeForward)
    {
        ArgumentNullException.ThrowIfNull(plan);
        ArgumentNullException.ThrowIfNull(transposeForward);
        padded = plan.Padded;
        below = plan.PadBelow;
        forward = [.. transposeForward];
        Grid3 model = plan.ModelGrid;
        int[] network = [model.N0, model.N1, model.N2];
        var imageSizes = new int[3];
        for (int a = 0; a < 3; a++)
        {
            imageSizes[forward[a]] = network[a];
        }

        Dims = new Dims3(imageSizes[2], imageSizes[1], imageSizes[0]);
        Centre = (Dims.I / 2, Dims.J / 2, Dims.K / 2);
    }

    /// <summary>The model grid's sizes along the image's i, j and k.</summary>
    public Dims3 Dims { get; }

    public (int I, int J, int K) Centre { get; }

    public long PaddedIndex(long n)
    {
        long plane = (long)Dims.I * Dims.J;
        int k = (int)(n / plane), j = (int)(n % plane / Dims.I), i = (int)(n % Dims.I);
        return padded.Index(below.N0 + Pick(forward[0], k, j, i), below.N1 + Pick(forward[1], k, j, i), below.N2 + Pick(forward[2], k, j, i));
    }

    /// <summary>The index along image axis <paramref name="imageAxis"/> (0 = k, 1 = j, 2 = i).</summary>
    private static int Pick(int imageAxis, int k, int j, int i) => imageAxis switch { 0 => k, 1 => j, _ => i };
}
