using System.Diagnostics;
using KneeWeb.Imaging;

namespace KneeWeb.Inference.NnUnet;

/// <summary>
/// Segments with an imported nnU-Net model: the previous stage first for a cascade (its labels in
/// nnU-Net's label values become extra inputs), then this model, then output channels mapped to
/// model labels and those to KneeWeb schema labels through the sidecar.
/// </summary>
internal sealed class NnUnetSegmentation(SegmentationPredictor owner, ModelEntry model, SegmentationOptions options, IProgress<double>? progress, Action<SegmentationPreview>? preview, CancellationToken cancellationToken)
{
    public SegmentationResult Segment(Volume image)
    {
        var total = Stopwatch.StartNew();
        ModelSidecar sidecar = model.Sidecar!;
        NnUnetSettings settings = sidecar.NnUnet!;
        Check(model, image);
        int[]? previous = null;
        var fallbacks = new List<string>();
        if (settings.PreviousStage is string previousName)
        {
            ModelEntry stage = owner.ModelResolver?.Invoke(previousName)
                ?? throw new ModelConfigurationException($"Model '{model.Name}' is a cascade stage whose previous stage '{previousName}' is not installed.");
            if (!stage.Enabled || stage.Sidecar?.NnUnet is null)
            {
                throw new ModelConfigurationException($"The previous stage '{previousName}' of '{model.Name}' is disabled or not an nnU-Net model: {stage.DisabledReason}");
            }

            Check(stage, image);
            // The first stage takes the first half of the progress bar.
            IProgress<double>? half = progress is null ? null : new Progress<double>(f => progress.Report(f / 2));
            NnUnetPrediction first = new NnUnetRun(owner, stage, options, half, cancellationToken).Predict(image, null);
            previous = ToModelLabels(first.Channels, stage.Sidecar.NnUnet.ModelLabels);
            fallbacks.AddRange(first.Fallbacks.Select(f => $"{previousName}: {f}"));
        }

        IProgress<double>? rest = progress is null || previous is null ? progress : new Progress<double>(f => progress.Report(0.5 + (f / 2)));
        byte[] toSchema = SchemaByChannel(sidecar);
        var run = new NnUnetRun(owner, model, options, rest, cancellationToken)
        {
            Preview = preview is null ? null : (new PreviewSampler(preview, owner.PreviewInterval), toSchema),
        };
        NnUnetPrediction prediction = run.Predict(image, previous);
        fallbacks.AddRange(prediction.Fallbacks);
        byte[] labels = prediction.Channels;
        for (long v = 0; v < labels.LongLength; v++)
        {
            labels[v] = toSchema[labels[v]];
        }

        Grid3 grid = prediction.ModelGrid;
        return new SegmentationResult
        {
            Labels = Volume.CreateLabelMap(image.Geometry, labels),
            ModelName = model.Name,
            ModelVersion = model.Version,
            Provider = prediction.Provider,
            Fallbacks = fallbacks,
            Tiles = prediction.Tiles,
            BatchSize = prediction.BatchSize,
            Mirrored = prediction.Mirrored,
            ModelGrid = new Dims3(grid.N2, grid.N1, grid.N0), // reported fastest axis first, like every Dims3
            Timings = new SegmentationTimings
            {
                Preprocess = prediction.Preprocess,
                ModelRuns = prediction.ModelRuns,
                Postprocess = prediction.Export,
                Total = total.Elapsed,
            },
        };
    }

    /// <summary>The nnunet section holds what the run relies on; a bad one is a configuration error, not a crash.</summary>
    private static void Check(ModelEntry entry, Volume image)
    {
        NnUnetSettings s = entry.Sidecar!.NnUnet!;
        var problems = new List<string>();
        if (s.PatchSize is not { Length: 3 } || s.PatchSize.Any(p => p < 1))
        {
            problems.Add("patch_size must be three positive sizes");
        }

        if (s.SpacingMm is not { Length: 3 } || s.SpacingMm.Any(x => !(x > 0) || !double.IsFinite(x)))
        {
            problems.Add("spacing_mm must be three positive spacings");
        }

        if (s.ModelLabels is not { Length: >= 2 and <= 255 })
        {
            problems.Add("model_labels must list 2 to 255 labels");
        }

        if (s.MirrorAxes.Any(a => a is < 0 or > 2))
        {
            problems.Add("mirror_axes may hold only 0, 1 and 2");
        }

        if (!(s.TileStepSize > 0 && s.TileStepSize <= 1))
        {
            problems.Add("tile_step_size must be in (0, 1]");
        }

        if (s.DataOrder is not (1 or 3) || s.LogitsOrder is not (1 or 3) || s.DataOrderZ is not (0 or 1) || s.LogitsOrderZ is not (0 or 1))
        {
            problems.Add("resampling orders must be 1 or 3 (0 or 1 along z)");
        }

        if (problems.Count > 0)
        {
            throw new ModelConfigurationException($"Model '{entry.Name}' has an unusable nnunet section: {string.Join("; ", problems)}.");
        }

        if (image.Frames != s.Normalization.Length)
        {
            throw new ModelConfigurationException($"Model '{entry.Name}' takes {s.Normalization.Length} channel(s); the image has {image.Frames}.");
        }
    }

    private static int[] ToModelLabels(byte[] channels, int[] modelLabels)
    {
        var labels = new int[channels.Length];
        for (long v = 0; v < channels.LongLength; v++)
        {
            labels[v] = modelLabels[channels[v]];
        }

        return labels;
    }

    // Output channel c is model label ModelLabels[c]; the sidecar's labels map model labels to the schema.
    private static byte[] SchemaByChannel(ModelSidecar sidecar)
    {
        int[] modelLabels = sidecar.NnUnet!.ModelLabels;
        var table = new byte[256];
        for (int c = 0; c < modelLabels.Length; c++)
        {
            string key = modelLabels[c].ToString(System.Globalization.CultureInfo.InvariantCulture);
            table[c] = sidecar.Labels is not null && sidecar.Labels.TryGetValue(key, out int schema) ? (byte)schema : (byte)0;
        }

        return table;
    }
}
