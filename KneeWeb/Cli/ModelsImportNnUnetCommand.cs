using System.CommandLine;
using System.Diagnostics;
using KneeWeb.Inference;
using KneeWeb.Inference.NnUnet;
using KneeWeb.Setup;

namespace KneeWeb.Cli;

/// <summary>
/// `KneeWeb models import-nnunet FOLDER`: an nnU-Net v2 trained folder becomes a registry model
/// (ONNX + sidecar), read in C# alone. Default --out: the configured models folder
/// (KneeWeb:ModelsPath in appsettings.json, or env KneeWeb__ModelsPath).
/// </summary>
public static class ModelsImportNnUnetCommand
{
    public static Command Create()
    {
        var folder = new Argument<string>("trained-model-folder") { Description = "nnUNet_results/DatasetNNN_Name/<Trainer>__<Plans>__<Configuration>" };
        var name = new Option<string?>("--name") { Description = "Registry name (default: dataset and configuration, lower-case)." };
        var folds = new Option<string?>("--folds") { Description = "Folds to average: 0,1 | all (every numbered fold) | fold_all. Default: every numbered fold found, else fold_all." };
        var checkpoint = new Option<string>("--checkpoint") { Description = "final or best.", DefaultValueFactory = _ => "final" };
        var labels = new Option<string?>("--labels") { Description = "JSON: dataset label name or value -> KneeWeb schema label number or name, for labels KneeWeb cannot map by name." };
        var output = new Option<string?>("--out") { Description = "Models folder to add the model to (default: KneeWeb:ModelsPath)." };
        var command = new Command("import-nnunet", "Import an nnU-Net v2 trained model folder (dataset.json, plans.json, fold_N/checkpoint_*.pth) as a KneeWeb model; no Python needed.")
        {
            folder, name, folds, checkpoint, labels, output,
        };
        command.SetAction(parseResult => Run(
            parseResult.GetValue(folder)!,
            parseResult.GetValue(name),
            parseResult.GetValue(folds),
            parseResult.GetValue(checkpoint)!,
            parseResult.GetValue(labels),
            parseResult.GetValue(output)));
        return command;
    }

    /// <summary>The models folder the site uses: KneeWeb:ModelsPath from appsettings.json or the environment.</summary>
    public static string ConfiguredModelsFolder()
    {
        IConfigurationRoot config = new ConfigurationBuilder()
            .AddJsonFile(Path.Combine(AppContext.BaseDirectory, "appsettings.json"), optional: true)
            .AddJsonFile(Path.Combine(Environment.CurrentDirectory, "appsettings.json"), optional: true)
            .AddEnvironmentVariables()
            .Build();
        string? configured = config[$"{KneeWebOptions.Section}:{nameof(KneeWebOptions.ModelsPath)}"];
        return Path.GetFullPath(string.IsNullOrWhiteSpace(configured) ? new KneeWebOptions().ModelsPath : configured);
    }

    private static int Run(string folder, string? name, string? folds, string checkpoint, string? labels, string? output)
    {
        if (checkpoint is not ("final" or "best"))
        {
            return CliErrors.Report(NnUnetImportException.ErrorCode, $"--checkpoint '{checkpoint}': final or best.");
        }

        OrtRuntime? runtime = null;
        try
        {
            runtime = OrtRuntime.Load();
        }
        catch (ModelConfigurationException e)
        {
            Console.Error.WriteLine($"warning: the model is checked without ONNX Runtime ({e.Message})");
        }

        var stopwatch = Stopwatch.StartNew();
        try
        {
            NnUnetImportResult result = NnUnetImporter.Import(new NnUnetImportOptions
            {
                TrainedFolder = folder,
                OutputFolder = output ?? ConfiguredModelsFolder(),
                Name = name,
                Folds = NnUnetFoldSelection.Parse(folds),
                Checkpoint = checkpoint == "best" ? NnUnetCheckpointKind.Best : NnUnetCheckpointKind.Final,
                LabelsMapPath = labels,
                ImportedBy = Environment.UserName,
                Runtime = runtime,
            });
            foreach (NnUnetImportedModel model in result.Models)
            {
                NnUnetProvenance? source = model.Sidecar.NnUnet?.Source;
                Console.WriteLine($"imported {model.Name}: {model.ModelPath} sha256 {model.Sha256} ({source?.NetworkClass}, folds {string.Join(",", source?.Folds ?? [])}, checkpoint_{source?.Checkpoint})");
            }

            Console.WriteLine($"done in {stopwatch.Elapsed.TotalSeconds:F1} s");
            return 0;
        }
        catch (NnUnetFormatException e)
        {
            return CliErrors.Report(NnUnetFormatException.ErrorCode, e.Message, "The trained folder or a checkpoint is damaged or not what nnU-Net v2 writes; nothing was imported.");
        }
        catch (NnUnetImportException e)
        {
            return CliErrors.Report(NnUnetImportException.ErrorCode, e.Message, "Nothing was imported.");
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return CliErrors.Report("FILE_NOT_FOUND", e.Message);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return CliErrors.Report("CONFIG_ERROR", $"Could not write the model: {e.Message}", "Check the --out folder exists and is writable; nothing was imported.");
        }
    }
}
