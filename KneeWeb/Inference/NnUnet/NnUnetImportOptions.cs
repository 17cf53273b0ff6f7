using System.Globalization;

namespace KneeWeb.Inference.NnUnet;

/// <summary>Which checkpoint file of each fold: checkpoint_final.pth or checkpoint_best.pth.</summary>
public enum NnUnetCheckpointKind
{
    Final,
    Best,
}

/// <summary>
/// Which folds to import. Default (no --folds): every numbered fold_N holding the checkpoint, else
/// fold_all. "all": every numbered fold (at least one). A list: those folds; "fold_all" names the
/// model trained on all cases, which is not a fold of the cross-validation (provenance: -1).
/// </summary>
public sealed record NnUnetFoldSelection
{
    public const int FoldAll = -1;

    public bool Default { get; init; }

    public bool AllNumbered { get; init; }

    public int[] Folds { get; init; } = [];

    public static NnUnetFoldSelection Parse(string? text)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            return new NnUnetFoldSelection { Default = true };
        }

        if (text.Trim() == "all")
        {
            return new NnUnetFoldSelection { AllNumbered = true };
        }

        var folds = new List<int>();
        foreach (string part in text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            if (part is "fold_all")
            {
                folds.Add(FoldAll);
            }
            else if (int.TryParse(part.StartsWith("fold_", StringComparison.Ordinal) ? part[5..] : part, NumberStyles.None, CultureInfo.InvariantCulture, out int fold) && fold < 1000)
            {
                folds.Add(fold);
            }
            else
            {
                throw new NnUnetImportException($"--folds '{text}': give fold numbers separated by commas (0,1), 'all' for every numbered fold, or 'fold_all'");
            }
        }

        return folds.Count > 0 && folds.Distinct().Count() == folds.Count
            ? new NnUnetFoldSelection { Folds = [.. folds] }
            : throw new NnUnetImportException($"--folds '{text}' names no fold or a fold twice");
    }

    public static string FolderName(int fold) => fold == FoldAll ? "fold_all" : $"fold_{fold.ToString(CultureInfo.InvariantCulture)}";
}

/// <summary>What `KneeWeb models import-nnunet` (and the Models page) asks of the importer.</summary>
public sealed record NnUnetImportOptions
{
    /// <summary>nnUNet_results/DatasetNNN_Name/&lt;Trainer&gt;__&lt;Plans&gt;__&lt;Configuration&gt;.</summary>
    public required string TrainedFolder { get; init; }

    /// <summary>The models folder the model is added to.</summary>
    public required string OutputFolder { get; init; }

    /// <summary>Registry name (lower-case letters, digits, '-', '_', '.'); default from dataset and configuration.</summary>
    public string? Name { get; init; }

    /// <summary>The folds of the named folder; a cascade's 3d_lowres parent always takes every fold it has.</summary>
    public NnUnetFoldSelection Folds { get; init; } = new() { Default = true };

    public NnUnetCheckpointKind Checkpoint { get; init; } = NnUnetCheckpointKind.Final;

    /// <summary>--labels: a JSON object, label name or value -> schema label number or name.</summary>
    public string? LabelsMapPath { get; init; }

    public string? ImportedBy { get; init; }

    /// <summary>When given, the written model is loaded once to check it, as the registry does at start-up.</summary>
    public OrtRuntime? Runtime { get; init; }

    public CheckpointLimits Limits { get; init; } = new();
}

/// <summary>One model written by an import.</summary>
public sealed record NnUnetImportedModel(string Name, string ModelPath, string SidecarPath, string Sha256, ModelSidecar Sidecar);

/// <summary>What an import wrote: the requested model last, a cascade's parent first.</summary>
public sealed record NnUnetImportResult(IReadOnlyList<NnUnetImportedModel> Models);
