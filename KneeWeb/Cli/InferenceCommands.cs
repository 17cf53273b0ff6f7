using System.CommandLine;
using KneeWeb.Imaging.Phantom;
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
        var list = new Command("list", "List every model with its version and whether it is enabled (and why not).") { folderOption };
        list.SetAction(parseResult => List(parseResult.GetValue(folderOption)));
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
        models.Subcommands.Add(ModelsPhantomKneeCommand.Create());
        models.Subcommands.Add(ModelsImportNnUnetCommand.Create());

        var dataOut = new Option<string>("--out") { Description = "Folder for the raw phantom volumes.", Required = true };
        var seedsOption = new Option<string>("--seeds") { Description = "Comma-separated phantom seeds.", DefaultValueFactory = _ => "1,2,3,4" };
        var coarseningOption = new Option<int>("--coarsening") { Description = "Phantom grid coarsening (2: 192x192x80 at 0.72x0.72x1.4 mm).", DefaultValueFactory = _ => 2 };
        var data = new Command("phantom-data", "Write knee phantoms as raw volumes (int16 image, uint8 labels, C order k-j-i) for training the demo model.") { dataOut, seedsOption, coarseningOption };
        data.SetAction(parseResult => WritePhantomData(parseResult.GetValue(dataOut)!, parseResult.GetValue(seedsOption)!, parseResult.GetValue(coarseningOption)));
        models.Subcommands.Add(data);
        return models;
    }

    private static int WritePhantomData(string folder, string seeds, int coarsening)
    {
        Directory.CreateDirectory(folder);
        foreach (string text in seeds.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            int seed = int.Parse(text, System.Globalization.CultureInfo.InvariantCulture);
            PhantomResult phantom = KneePhantom.Generate(new PhantomOptions { Seed = seed, Coarsening = coarsening });
            File.WriteAllBytes(Path.Combine(folder, $"phantom_{seed}_image.i16"), System.Runtime.InteropServices.MemoryMarshal.AsBytes(phantom.Image.Span<short>()).ToArray());
            File.WriteAllBytes(Path.Combine(folder, $"phantom_{seed}_labels.u8"), phantom.Labels.Span<byte>().ToArray());
            Imaging.Dims3 d = phantom.Image.Dims;
            Imaging.Vec3d s = phantom.Image.Geometry.SpacingMm;
            File.WriteAllText(Path.Combine(folder, "phantom.json"), FormattableString.Invariant($"{{\"dims_ijk\": [{d.I}, {d.J}, {d.K}], \"spacing_mm_ijk\": [{s.X}, {s.Y}, {s.Z}]}}\n"));
            Console.WriteLine($"phantom seed {seed}: {d} written");
        }

        return 0;
    }

    private static int List(string? folder)
    {
        folder ??= ModelRegistry.FindDefaultFolder();
        if (folder is null || !Directory.Exists(folder))
        {
            return CliErrors.Report("FILE_NOT_FOUND", $"No models folder{(folder is null ? string.Empty : $" at {folder}")}.", "Pass --folder, or run from the repository.");
        }

        OrtRuntime? runtime;
        try
        {
            runtime = OrtRuntime.Load();
        }
        catch (ModelConfigurationException e)
        {
            return CliErrors.Report(ModelConfigurationException.ErrorCode, e.Message, "ONNX Runtime comes with the build (NuGet Microsoft.ML.OnnxRuntime): rebuild with `dotnet build`.");
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
