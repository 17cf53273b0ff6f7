using System.CommandLine;
using KneeWeb.Inference;
using KneeWeb.Inference.ModelBuilding;

namespace KneeWeb.Cli;

/// <summary>`KneeWeb models ...`: list the registry with each model's status, rebuild the demo model.</summary>
public static class InferenceCommands
{
    public static Command Create()
    {
        var models = new Command("models", "Segmentation models: list them with their status, rebuild the demo model.");

        var folderOption = new Option<string?>("--folder") { Description = "Models folder (default: models/ found upward from here)." };
        var runtimeOption = new Option<string?>("--onnxruntime") { Description = "ONNX Runtime library or its folder (default: KNEEWEB_ONNXRUNTIME, then node_modules/onnxruntime-node)." };
        var list = new Command("list", "List every model with its version and whether it is enabled (and why not).") { folderOption, runtimeOption };
        list.SetAction(parseResult => List(parseResult.GetValue(folderOption), parseResult.GetValue(runtimeOption)));
        models.Subcommands.Add(list);

        var outOption = new Option<string>("--out") { Description = "Folder to write demo-knee.onnx and demo-knee.json into.", DefaultValueFactory = _ => "models" };
        var build = new Command("build-demo", "Write the demo model (demo-knee.onnx + sidecar) reproducibly from this source.") { outOption };
        build.SetAction(parseResult =>
        {
            string folder = parseResult.GetValue(outOption)!;
            Directory.CreateDirectory(folder);
            string path = DemoModel.Write(folder);
            Console.WriteLine($"{path} sha256 {ModelRegistry.Sha256Of(path)}");
            return 0;
        });
        models.Subcommands.Add(build);
        return models;
    }

    private static int List(string? folder, string? runtimePath)
    {
        folder ??= ModelRegistry.FindDefaultFolder();
        if (folder is null || !Directory.Exists(folder))
        {
            return CliErrors.Report("FILE_NOT_FOUND", $"No models folder{(folder is null ? string.Empty : $" at {folder}")}.", "Pass --folder, or run from the repository.");
        }

        OrtRuntime? runtime;
        try
        {
            runtime = OrtRuntime.Load(runtimePath);
        }
        catch (ModelConfigurationException e)
        {
            return CliErrors.Report(ModelConfigurationException.ErrorCode, e.Message, "Install onnxruntime-node with npm, or pass --onnxruntime.");
        }

        var registry = new ModelRegistry(folder, runtime);
        Console.WriteLine($"ONNX Runtime {runtime.Version} ({runtime.LibraryPath}); providers: {string.Join(", ", runtime.AvailableProviders)}; CUDA library {(runtime.IsCudaProviderPresent ? "present" : "absent")}");
        foreach (ModelEntry model in registry.Models)
        {
            Console.WriteLine(model.Enabled
                ? $"{model.Name} {model.Version}: enabled. {model.Description}"
                : $"{model.Name} {model.Version}: DISABLED: {model.DisabledReason}");
        }

        return 0;
    }
}
