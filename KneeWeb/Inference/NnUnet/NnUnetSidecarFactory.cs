using System.Globalization;

namespace KneeWeb.Inference.NnUnet;

/// <summary>
/// The sidecar of an imported model: the nnunet section as the predictor's source of truth, and
/// the generic fields (i, j, k order) filled from it for pages and the registry.
/// </summary>
public static class NnUnetSidecarFactory
{
    /// <summary>The sidecar for one imported model; labels go from output channel (as a string) to schema label.</summary>
    public static ModelSidecar Create(string name, string sha256, int inputChannels, Dictionary<string, int> labels, NnUnetSettings settings, NnUnetConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(configuration);
        NnUnetProvenance source = settings.Source ?? new();
        string folds = source.Folds is null ? "?" : string.Join(",", source.Folds.Select(f => f == NnUnetFoldSelection.FoldAll ? "all" : f.ToString(CultureInfo.InvariantCulture)));
        NnUnetChannelNormalization first = settings.Normalization[0];
        return new ModelSidecar
        {
            Name = name,
            Version = $"{source.Configuration} folds {folds} checkpoint_{source.Checkpoint}",
            Description = $"nnU-Net v2 {source.Dataset} {source.Configuration} ({configuration.Architecture.NetworkClass}, {source.Trainer}__{source.Plans})",
            InputChannels = inputChannels,
            NumClasses = settings.ModelLabels.Length,
            PatchSizeIjk = ToIjk(settings.PatchSize.Select(v => (double)v).ToArray(), settings.TransposeForward).Select(v => (int)v).ToArray(),
            TargetSpacingMmIjk = ToIjk(settings.SpacingMm, settings.TransposeForward),
            Normalization = first.Scheme switch
            {
                NnUnetChannelScheme.Ct => new NormalizationSettings
                {
                    Scheme = NormalizationScheme.Fixed,
                    Mean = first.Mean ?? 0,
                    Std = first.Std ?? 1,
                    Clip = [first.ClipLow ?? double.MinValue, first.ClipHigh ?? double.MaxValue],
                },
                NnUnetChannelScheme.ZScore => new NormalizationSettings { Scheme = NormalizationScheme.ZScore, UseNonzeroMask = first.UseMaskForNorm },
                _ => new NormalizationSettings { Scheme = NormalizationScheme.None },
            },
            Output = OutputKind.Logits,
            Labels = labels,
            Mirroring = new MirroringSettings
            {
                Enabled = settings.MirrorAxes.Length > 0,
                Axes = [.. settings.MirrorAxes.Select(a => 2 - settings.TransposeForward[a]).Order()],
            },
            Provenance = new ModelProvenance
            {
                Builder = "KneeWeb models import-nnunet",
                TrainingData = source.Dataset,
                Source = $"nnUNet_results/{source.Dataset}/{source.Trainer}__{source.Plans}__{source.Configuration}",
                Notes = "Imported from an nnU-Net v2 trained folder; run with nnU-Net's own inference semantics (the nnunet section).",
            },
            NnUnet = settings,
            Sha256 = sha256,
        };
    }

    /// <summary>
    /// Network-axis values to (i, j, k): network axis a is image axis TransposeForward[a], image
    /// axes being (k, j, i) = 0, 1, 2.
    /// </summary>
    public static double[] ToIjk(double[] network, int[] transposeForward)
    {
        ArgumentNullException.ThrowIfNull(network);
        ArgumentNullException.ThrowIfNull(transposeForward);
        var image = new double[3];
        for (int a = 0; a < 3; a++)
        {
            image[transposeForward[a]] = network[a];
        }

        return [image[2], image[1], image[0]];
    }
}
