using System.Diagnostics;
using KneeWeb.Imaging;
using KneeWeb.Imaging.Segmentation.Preprocessing;

namespace KneeWeb.Inference;

/// <summary>
/// One segmentation with a KneeWeb-sidecar model: knee-side mirroring, preprocessing, then the
/// tiles in k order (<see cref="TileRunner"/> through the <see cref="ProviderFallback"/> ladder),
/// each batch accumulated (<see cref="ScoreAccumulator"/>) and slabs finalised as soon as no later
/// tile reaches them, restored to the input's grid (<see cref="LabelRestorer"/>) where the model
/// grid is resampled. Progress after every batch; a preview offered after every batch and at the end.
/// </summary>
internal sealed class SegmentationRun(SegmentationPredictor owner, ModelEntry model, SegmentationOptions options, IProgress<double>? progress, Action<SegmentationPreview>? preview, CancellationToken cancellationToken)
{
    private readonly ModelSidecar sidecar = model.Sidecar!;
    private readonly RunClocks clocks = new();

    public SegmentationResult Execute(Volume image)
    {
        var total = Stopwatch.StartNew();
        var stage = Stopwatch.StartNew();
        using var fallback = new ProviderFallback(owner, model, options);
        TimeSpan load = stage.Elapsed;

        stage.Restart();
        int? sideAxis = KneeSideMirror.AxisFor(image.Geometry, options.KneeSide, sidecar.KneeSide);
        Volume input = sideAxis is int axis ? KneeSideMirror.Mirrored(image, axis) : image;
        PreprocessedImage preprocessed = NnUnetPreprocessing.Preprocess(input, PreprocessingFor(sidecar), cancellationToken);
        var plan = new TilePlan(preprocessed, sidecar, options, fallback.Session);
        float[][] channels = plan.Pad(preprocessed.Channels);
        byte[] labelLookup = sidecar.LabelLookup();
        // Resampled to the model's grid: scores go back linearly and the argmax is taken on the input's grid.
        LabelRestorer? restorer = LinearScoreRestore.IsIdentity(preprocessed)
            ? null
            : new LabelRestorer(new LinearScoreRestore(preprocessed, plan.Classes), plan, sidecar.Output, labelLookup, image.Dims);
        TimeSpan preprocess = stage.Elapsed;
        cancellationToken.ThrowIfCancellationRequested();

        float[] importance = plan.Direct ? [] : SlidingWindow.ImportanceMap(plan.Patch.I, plan.Patch.J, plan.Patch.K, sidecar.SlidingWindow.Gaussian);
        var scores = new ScoreAccumulator(plan, importance, labelLookup, keepForRestore: restorer is not null);
        PreviewSampler? sampler = preview is null ? null : new PreviewSampler(preview, owner.PreviewInterval);
        Offer(sampler, plan, channels, scores, 0, force: true); // the image at once, before a (possibly minutes-long) first model run
        int batch = plan.Batch;
        using (var runner = new TileRunner(owner.Runtime, plan, channels, fallback, clocks, cancellationToken))
        {
            int done = 0;
            while (done < plan.Tiles.Count)
            {
                cancellationToken.ThrowIfCancellationRequested();
                int take = Math.Min(batch, plan.Tiles.Count - done);
                FinalizeBelow(scores, restorer, plan.Tiles[done].K);
                TileBuffers tensors = runner.BuffersFor(take);
                if (!runner.TryRun(done, take, tensors, ref batch))
                {
                    continue; // batch halved or provider switched: redo the same tiles
                }

                if (plan.Direct)
                {
                    clocks.Tiling.Start();
                    scores.ArgmaxWholeGrid(tensors.Output.Data);
                    clocks.Tiling.Stop();
                    clocks.Restore.Start();
                    restorer?.RestoreFromWholeGrid(tensors.Output.Data);
                    clocks.Restore.Stop();
                }
                else
                {
                    clocks.Tiling.Start();
                    for (int b = 0; b < take; b++)
                    {
                        scores.Add(tensors.Sum, b, plan.Tiles[done + b]);
                    }

                    clocks.Tiling.Stop();
                }

                done += take;
                progress?.Report((double)done / plan.Tiles.Count);
                Offer(sampler, plan, channels, scores, (double)done / plan.Tiles.Count, force: false);
            }

            FinalizeBelow(scores, restorer, plan.Padded.K);
        }

        Offer(sampler, plan, channels, scores, 1.0, force: true);
        stage.Restart();
        byte[] labels = restorer is null ? NnUnetPreprocessing.RestoreLabels(plan.Unpad(scores.Labels), preprocessed) : restorer.Labels;
        if (sideAxis is int back)
        {
            labels = KneeSideMirror.MirrorAlong(labels, image.Dims, back);
        }

        TimeSpan postprocess = stage.Elapsed;
        return new SegmentationResult
        {
            Labels = Volume.CreateLabelMap(image.Geometry, labels),
            ModelName = model.Name,
            ModelVersion = model.Version,
            Provider = fallback.Provider,
            Fallbacks = fallback.Fallbacks,
            Tiles = plan.Tiles.Count,
            BatchSize = batch,
            Mirrored = plan.Mirrored,
            SideMirrorAxis = sideAxis,
            ModelGrid = preprocessed.Dims,
            Timings = new SegmentationTimings
            {
                SessionLoad = load,
                Preprocess = preprocess,
                ModelRuns = clocks.ModelRuns.Elapsed,
                Tiling = clocks.Tiling.Elapsed,
                Postprocess = postprocess + clocks.Restore.Elapsed,
                Total = total.Elapsed,
            },
        };
    }

    private static PreprocessingSettings PreprocessingFor(ModelSidecar sidecar) => new()
    {
        TargetSpacingMm = new Vec3d(sidecar.TargetSpacingMmIjk![0], sidecar.TargetSpacingMmIjk[1], sidecar.TargetSpacingMmIjk[2]),
        Normalization = sidecar.Normalization.Scheme switch
        {
            NormalizationScheme.Fixed => IntensityNormalization.Fixed,
            NormalizationScheme.None => IntensityNormalization.None,
            _ => IntensityNormalization.ZScore,
        },
        UseNonzeroMask = sidecar.Normalization.UseNonzeroMask,
        FixedMean = sidecar.Normalization.Mean,
        FixedStd = sidecar.Normalization.Std,
        ClipLow = sidecar.Normalization.Clip?[0],
        ClipHigh = sidecar.Normalization.Clip?[1],
    };

    private static void Offer(PreviewSampler? sampler, TilePlan plan, float[][] channels, ScoreAccumulator scores, double fraction, bool force)
    {
        float[] image = channels[0];
        byte[] labels = scores.Labels;
        sampler?.Offer(fraction, force, n => image[n], n => labels[n], plan.Padded, plan.Centre);
    }

    /// <summary>Takes the argmax of every slab below k, then restores the output slices that became ready.</summary>
    private void FinalizeBelow(ScoreAccumulator scores, LabelRestorer? restorer, int k)
    {
        clocks.Tiling.Start();
        bool any = scores.FinalizeBelow(k, out int from);
        clocks.Tiling.Stop();
        if (any && restorer is not null)
        {
            clocks.Restore.Start();
            restorer.RestoreReady(scores, from);
            clocks.Restore.Stop();
        }
    }
}
