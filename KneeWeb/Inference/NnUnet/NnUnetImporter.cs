using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using KneeWeb.Inference.ModelBuilding;

namespace KneeWeb.Inference.NnUnet;

/// <summary>
/// Imports an nnU-Net v2 trained folder as a KneeWeb model (.onnx + sidecar), in C# alone: reads
/// dataset.json, plans.json and the chosen folds' checkpoints, writes one ONNX graph (folds
/// averaged) and the sidecar with the nnunet section and provenance. Everything is written into a
/// temporary folder inside the models folder, checked by the registry's own rules, then renamed
/// into place; on any failure nothing is left behind. A 3d_cascade_fullres brings its 3d_lowres
/// parent along as a model of its own.
/// </summary>
public static partial class NnUnetImporter
{
    private sealed record Source(string Folder, string Dataset, string Trainer, string Plans, string Configuration);

    public static NnUnetImportResult Import(NnUnetImportOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        Source source = ParseFolder(options.TrainedFolder);
        string outFolder = Path.GetFullPath(options.OutputFolder);
        IReadOnlyDictionary<string, JsonElement>? userMap = ReadUserMap(options.LabelsMapPath);

        string name = options.Name ?? DefaultName(source.Dataset, source.Configuration);
        CheckName(name);
        NnUnetPlans plans = NnUnetPlans.Parse(ReadText(source.Folder, "plans.json"), Path.Combine(source.Configuration, "plans.json"));
        NnUnetConfiguration configuration = plans.Configuration(source.Configuration);
        var jobs = new List<(Source Source, string Name, string? Previous, NnUnetFoldSelection Folds)>();
        if (configuration.PreviousStage is { } previous)
        {
            string parentFolder = Path.Combine(Path.GetDirectoryName(source.Folder)!, $"{source.Trainer}__{source.Plans}__{previous}");
            if (!Directory.Exists(parentFolder))
            {
                throw new NnUnetImportException($"{source.Configuration} is a cascade stage after {previous}, but {Path.GetFileName(parentFolder)} is not beside it: import both from the same nnUNet_results dataset folder");
            }

            string parentName = options.Name is null ? DefaultName(source.Dataset, previous) : $"{options.Name}-{Slug(previous)}";
            CheckName(parentName);
            // The parent is a model of its own, trained with its own folds: it takes every fold it has.
            jobs.Add((source with { Folder = parentFolder, Configuration = previous }, parentName, null, new NnUnetFoldSelection { Default = true }));
            jobs.Add((source, name, parentName, options.Folds));
        }
        else
        {
            jobs.Add((source, name, null, options.Folds));
        }

        Directory.CreateDirectory(outFolder);
        foreach ((_, string modelName, _, _) in jobs)
        {
            CheckFree(outFolder, modelName);
        }

        string temporary = Path.Combine(outFolder, $".import-{Guid.NewGuid():N}");
        Directory.CreateDirectory(temporary);
        try
        {
            var written = new List<NnUnetImportedModel>();
            foreach ((Source job, string modelName, string? previousName, NnUnetFoldSelection folds) in jobs)
            {
                written.Add(WriteModel(job, modelName, previousName, temporary, options with { Folds = folds }, userMap));
            }

            Validate(temporary, written, options.Runtime);
            return new NnUnetImportResult(Commit(temporary, outFolder, written));
        }
        finally
        {
            TryDelete(temporary);
        }
    }

    /// <summary>The registry name a folder gets without --name: dataset and configuration, lower-case.</summary>
    public static string DefaultName(string dataset, string configuration) => $"{Slug(dataset)}-{Slug(configuration)}";

    private static string Slug(string text) => NonName().Replace(text.ToLowerInvariant(), "-").Trim('-');

    private static void CheckName(string name)
    {
        if (!ModelName().IsMatch(name))
        {
            throw new NnUnetImportException($"model name '{name}' is not usable: lower-case letters, digits, '-', '_' and '.', starting with a letter or digit, at most 80 characters");
        }
    }

    private static void CheckFree(string outFolder, string name)
    {
        if (File.Exists(Path.Combine(outFolder, name + ".onnx")) || File.Exists(Path.Combine(outFolder, name + ".json")))
        {
            throw new NnUnetImportException($"a model named {name} already exists in {outFolder}: choose another --name or remove it first");
        }
    }

    private static Source ParseFolder(string trainedFolder)
    {
        string folder = Path.GetFullPath(trainedFolder.TrimEnd('/', '\\'));
        if (!Directory.Exists(folder))
        {
            throw new DirectoryNotFoundException($"The trained model folder {folder} does not exist.");
        }

        string[] parts = Path.GetFileName(folder).Split("__");
        if (parts.Length != 3 || parts.Any(p => p.Length == 0))
        {
            throw new NnUnetImportException($"{Path.GetFileName(folder)} is not an nnU-Net trained model folder name (<Trainer>__<Plans>__<Configuration>, inside nnUNet_results/DatasetNNN_Name)");
        }

        string dataset = Path.GetFileName(Path.GetDirectoryName(folder)) ?? "nnunet";
        return new Source(folder, dataset, parts[0], parts[1], parts[2]);
    }

    private static Dictionary<string, JsonElement>? ReadUserMap(string? path)
    {
        if (path is null)
        {
            return null;
        }

        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"The --labels file {path} does not exist.", path);
        }

        if (new FileInfo(path).Length > 1 << 20)
        {
            throw new NnUnetFormatException($"--labels {Path.GetFileName(path)} is larger than 1 MB");
        }

        try
        {
            return JsonSerializer.Deserialize<Dictionary<string, JsonElement>>(File.ReadAllText(path))
                ?? throw new NnUnetFormatException($"--labels {Path.GetFileName(path)} is empty");
        }
        catch (JsonException e)
        {
            throw new NnUnetFormatException($"--labels {Path.GetFileName(path)} is not a JSON object of label name or value -> schema label: {e.Message}", e);
        }
    }

    private static string ReadText(string folder, string file)
    {
        string path = Path.Combine(folder, file);
        if (!File.Exists(path))
        {
            throw new NnUnetFormatException($"{Path.GetFileName(folder)}/{file} is missing: not an nnU-Net trained model folder");
        }

        if (new FileInfo(path).Length > 16 << 20)
        {
            throw new NnUnetFormatException($"{Path.GetFileName(folder)}/{file} is larger than 16 MB");
        }

        return File.ReadAllText(path);
    }

    private static NnUnetImportedModel WriteModel(Source source, string name, string? previousStage, string temporary, NnUnetImportOptions options, IReadOnlyDictionary<string, JsonElement>? userMap)
    {
        string where = Path.GetFileName(source.Folder);
        NnUnetDataset dataset = NnUnetDataset.Parse(ReadText(source.Folder, "dataset.json"), $"{where}/dataset.json");
        NnUnetPlans plans = NnUnetPlans.Parse(ReadText(source.Folder, "plans.json"), $"{where}/plans.json");
        NnUnetConfiguration configuration = plans.Configuration(source.Configuration);
        Dictionary<string, int> labels = NnUnetLabelMapper.Map(dataset, userMap, $"{where}/dataset.json");
        int[] modelLabels = dataset.ModelLabels;
        int imageChannels = dataset.ChannelNames.Length;
        if (configuration.NormalizationSchemes.Length != imageChannels)
        {
            throw new NnUnetFormatException($"{where}/plans.json: {configuration.NormalizationSchemes.Length} normalization schemes for {imageChannels} channel(s)");
        }

        int inputChannels = imageChannels + (configuration.PreviousStage is null ? 0 : dataset.ForegroundLabels.Length);
        List<int> folds = ResolveFolds(source.Folder, options.Folds, options.Checkpoint);
        string checkpointFile = options.Checkpoint == NnUnetCheckpointKind.Best ? "checkpoint_best.pth" : "checkpoint_final.pth";
        var files = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["dataset.json"] = ModelRegistry.Sha256Of(Path.Combine(source.Folder, "dataset.json")),
            ["plans.json"] = ModelRegistry.Sha256Of(Path.Combine(source.Folder, "plans.json")),
        };
        var checkpoints = new List<NnUnetCheckpoint>();
        try
        {
            foreach (int fold in folds)
            {
                string relative = $"{NnUnetFoldSelection.FolderName(fold)}/{checkpointFile}";
                string path = Path.Combine(source.Folder, NnUnetFoldSelection.FolderName(fold), checkpointFile);
                files[relative] = ModelRegistry.Sha256Of(path);
                NnUnetCheckpoint checkpoint = NnUnetCheckpoint.Open(path, options.Limits);
                checkpoints.Add(checkpoint);
                if (checkpoint.Configuration is { } trained && !string.Equals(trained, source.Configuration, StringComparison.Ordinal))
                {
                    throw new NnUnetImportException($"{where}/{relative} was trained as configuration {trained}, not {source.Configuration}");
                }
            }

            OnnxGraphBuilder graph = NnUnetGraphWriter.Build(configuration.Architecture, inputChannels, modelLabels.Length, checkpoints, name);
            foreach (NnUnetCheckpoint checkpoint in checkpoints)
            {
                checkpoint.CheckAllUsed(configuration.Architecture.Stages - 2);
            }

            graph.AddMetadata("nnunet_dataset", source.Dataset);
            graph.AddMetadata("nnunet_configuration", source.Configuration);
            string modelPath = Path.Combine(temporary, name + ".onnx");
            graph.Save(modelPath);
            string sha = ModelRegistry.Sha256Of(modelPath);
            var settings = new NnUnetSettings
            {
                TransposeForward = plans.TransposeForward,
                TransposeBackward = plans.TransposeBackward,
                PatchSize = configuration.PatchSize,
                SpacingMm = configuration.SpacingMm,
                Normalization = Normalizations(plans, configuration, where),
                MirrorAxes = checkpoints[0].MirrorAxes,
                DataOrder = configuration.DataOrder,
                DataOrderZ = configuration.DataOrderZ,
                LogitsOrder = configuration.LogitsOrder,
                LogitsOrderZ = configuration.LogitsOrderZ,
                ModelLabels = modelLabels,
                PreviousStage = previousStage,
                CascadeForegroundLabels = configuration.PreviousStage is null ? null : dataset.ForegroundLabels,
                Source = new NnUnetProvenance
                {
                    Dataset = source.Dataset,
                    Trainer = checkpoints[0].TrainerName ?? source.Trainer,
                    Plans = source.Plans,
                    Configuration = source.Configuration,
                    Folds = [.. folds],
                    Checkpoint = options.Checkpoint == NnUnetCheckpointKind.Best ? "best" : "final",
                    NetworkClass = configuration.Architecture.NetworkClassName,
                    FilesSha256 = files,
                    ImportedBy = options.ImportedBy,
                    ImportedAt = DateTimeOffset.UtcNow,
                },
            };
            ModelSidecar sidecar = NnUnetSidecarFactory.Create(name, sha, inputChannels, labels, settings, configuration);
            string sidecarPath = Path.Combine(temporary, name + ".json");
            File.WriteAllText(sidecarPath, sidecar.ToJson());
            return new NnUnetImportedModel(name, modelPath, sidecarPath, sha, sidecar);
        }
        finally
        {
            foreach (NnUnetCheckpoint checkpoint in checkpoints)
            {
                checkpoint.Dispose();
            }
        }
    }

    private static NnUnetChannelNormalization[] Normalizations(NnUnetPlans plans, NnUnetConfiguration configuration, string where)
    {
        var result = new NnUnetChannelNormalization[configuration.NormalizationSchemes.Length];
        for (int c = 0; c < result.Length; c++)
        {
            string scheme = configuration.NormalizationSchemes[c];
            bool mask = c < configuration.UseMaskForNorm.Length && configuration.UseMaskForNorm[c];
            result[c] = scheme switch
            {
                "ZScoreNormalization" => new NnUnetChannelNormalization { Scheme = NnUnetChannelScheme.ZScore, UseMaskForNorm = mask },
                "NoNormalization" => new NnUnetChannelNormalization { Scheme = NnUnetChannelScheme.NoNormalization },
                "RescaleTo01Normalization" => new NnUnetChannelNormalization { Scheme = NnUnetChannelScheme.RescaleTo01 },
                "RGBTo0_1Normalization" => new NnUnetChannelNormalization { Scheme = NnUnetChannelScheme.RgbTo01 },
                "CTNormalization" => Ct(plans, c, where),
                _ => throw new NnUnetImportException($"{where}/plans.json: normalization scheme {scheme} (channel {c}) is not supported"),
            };
        }

        return result;
    }

    private static NnUnetChannelNormalization Ct(NnUnetPlans plans, int channel, string where)
    {
        if (plans.IntensityProperties(channel) is not { } p || !double.IsFinite(p.Mean) || !(p.Std > 0) || !(p.Low <= p.High))
        {
            throw new NnUnetFormatException($"{where}/plans.json: CTNormalization of channel {channel} needs foreground_intensity_properties_per_channel with mean, std > 0 and the 0.5/99.5 percentiles");
        }

        return new NnUnetChannelNormalization { Scheme = NnUnetChannelScheme.Ct, Mean = p.Mean, Std = p.Std, ClipLow = p.Low, ClipHigh = p.High };
    }

    private static List<int> ResolveFolds(string folder, NnUnetFoldSelection selection, NnUnetCheckpointKind kind)
    {
        string file = kind == NnUnetCheckpointKind.Best ? "checkpoint_best.pth" : "checkpoint_final.pth";
        var numbered = new List<int>();
        foreach (string dir in Directory.EnumerateDirectories(folder, "fold_*"))
        {
            string suffix = Path.GetFileName(dir)[5..];
            if (int.TryParse(suffix, NumberStyles.None, CultureInfo.InvariantCulture, out int fold) && File.Exists(Path.Combine(dir, file)))
            {
                numbered.Add(fold);
            }
        }

        numbered.Sort();
        bool hasAll = File.Exists(Path.Combine(folder, "fold_all", file));
        List<int> chosen;
        if (selection.Default)
        {
            chosen = numbered.Count > 0 ? numbered : hasAll ? [NnUnetFoldSelection.FoldAll] : [];
        }
        else if (selection.AllNumbered)
        {
            chosen = numbered;
        }
        else
        {
            chosen = [.. selection.Folds];
            foreach (int fold in chosen)
            {
                if (!File.Exists(Path.Combine(folder, NnUnetFoldSelection.FolderName(fold), file)))
                {
                    throw new NnUnetImportException($"{Path.GetFileName(folder)}/{NnUnetFoldSelection.FolderName(fold)}/{file} does not exist (folds with {file}: {Describe(numbered, hasAll)})");
                }
            }
        }

        return chosen.Count > 0
            ? chosen
            : throw new NnUnetImportException($"{Path.GetFileName(folder)} has no fold_N/{file} (folds found: {Describe(numbered, hasAll)})");
    }

    private static string Describe(List<int> numbered, bool hasAll)
    {
        var names = numbered.Select(NnUnetFoldSelection.FolderName).ToList();
        if (hasAll)
        {
            names.Add("fold_all");
        }

        return names.Count == 0 ? "none" : string.Join(", ", names);
    }

    private static void Validate(string temporary, List<NnUnetImportedModel> written, OrtRuntime? runtime)
    {
        var registry = new ModelRegistry(temporary, runtime);
        foreach (NnUnetImportedModel model in written)
        {
            ModelEntry? entry = registry.Find(model.Name);
            if (entry is null || !entry.Enabled)
            {
                throw new NnUnetImportException($"the imported model {model.Name} does not pass the registry's checks: {entry?.DisabledReason ?? "not found"}");
            }
        }
    }

    private static List<NnUnetImportedModel> Commit(string temporary, string outFolder, List<NnUnetImportedModel> written)
    {
        var moved = new List<string>();
        var result = new List<NnUnetImportedModel>();
        try
        {
            foreach (NnUnetImportedModel model in written)
            {
                CheckFree(outFolder, model.Name);
            }

            foreach (NnUnetImportedModel model in written)
            {
                string modelPath = Path.Combine(outFolder, model.Name + ".onnx");
                string sidecarPath = Path.Combine(outFolder, model.Name + ".json");
                File.Move(model.ModelPath, modelPath);
                moved.Add(modelPath);
                File.Move(model.SidecarPath, sidecarPath);
                moved.Add(sidecarPath);
                result.Add(model with { ModelPath = modelPath, SidecarPath = sidecarPath });
            }

            return result;
        }
        catch
        {
            foreach (string path in moved)
            {
                TryDeleteFile(path);
            }

            throw;
        }
    }

    private static void TryDelete(string folder)
    {
        try
        {
            if (Directory.Exists(folder))
            {
                Directory.Delete(folder, recursive: true);
            }
        }
        catch (IOException)
        {
            // Best effort: a leftover temporary folder is hidden and never read as a model.
        }
        catch (UnauthorizedAccessException)
        {
        }
    }

    private static void TryDeleteFile(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }

    [GeneratedRegex("[^a-z0-9]+")]
    private static partial Regex NonName();

    [GeneratedRegex("^[a-z0-9][a-z0-9._-]{0,79}$")]
    private static partial Regex ModelName();
}
