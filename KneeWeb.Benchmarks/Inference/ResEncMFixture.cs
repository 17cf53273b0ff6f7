using System.Diagnostics;
using System.Text.Json.Nodes;
using KneeWeb.Inference;
using KneeWeb.Inference.NnUnet;

namespace KneeWeb.Benchmarks.Inference;

/// <summary>
/// The ResEnc-M-sized nnU-Net folder both nnU-Net peers use: written with random weights by the
/// fixture generator (scripts/nnunet/make_fixtures.py --resenc-m, Debian python3-torch) unless
/// --trained names one, then imported the way a lab imports theirs (`models import-nnunet`).
/// </summary>
internal static class ResEncMFixture
{
    public const string Python = "/usr/bin/python3";

    public const string Configuration = "nnUNetTrainer__nnUNetResEncUNetMPlans__3d_fullres";

    /// <summary>The repository root: the folder above the build output holding scripts/nnunet.</summary>
    public static string RepoRoot()
    {
        for (DirectoryInfo? dir = new(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "scripts", "nnunet", "make_fixtures.py")))
            {
                return dir.FullName;
            }
        }

        throw new FileNotFoundException("scripts/nnunet/make_fixtures.py not found above the benchmark's folder.");
    }

    /// <summary>The trained-model folder: the one given, or a fresh one from the generator under <paramref name="work"/>.</summary>
    public static async Task<string> TrainedFolderAsync(string? given, string work)
    {
        if (given is not null)
        {
            return Path.GetFullPath(given);
        }

        string root = Path.Combine(work, "nnUNet_results");
        var clock = Stopwatch.StartNew();
        (int code, string _, string stderr) = await RunAsync(Python, [Path.Combine(RepoRoot(), "scripts", "nnunet", "make_fixtures.py"), "--resenc-m", root]);
        if (code != 0)
        {
            throw new InvalidOperationException($"make_fixtures.py --resenc-m failed ({code}): {stderr}");
        }

        string folder = Path.Combine(root, "Dataset500_KneeMRI", Configuration);
        Console.WriteLine($"generated {folder} (random weights) in {clock.Elapsed.TotalSeconds:F0} s");
        return folder;
    }

    /// <summary>
    /// A copy of the trained folder whose plans put the 3d_fullres configuration at another spacing
    /// and/or patch (network axes z, y, x), the checkpoint and dataset.json unchanged.
    /// </summary>
    public static string WithPlans(string trainedFolder, string work, double[]? spacingZyx, int[]? patchZyx)
    {
        string copy = Path.Combine(work, "replanned", Path.GetFileName(trainedFolder));
        Directory.CreateDirectory(copy);
        foreach (string source in Directory.EnumerateFiles(trainedFolder, "*", SearchOption.AllDirectories))
        {
            string target = Path.Combine(copy, Path.GetRelativePath(trainedFolder, source));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(source, target, overwrite: true);
        }

        string plansPath = Path.Combine(copy, "plans.json");
        JsonNode plans = JsonNode.Parse(File.ReadAllText(plansPath)) ?? throw new InvalidDataException("plans.json is empty");
        JsonNode fullres = plans["configurations"]?["3d_fullres"] ?? throw new InvalidDataException("plans.json has no 3d_fullres");
        if (spacingZyx is not null)
        {
            fullres["spacing"] = new JsonArray([.. spacingZyx.Select(v => JsonValue.Create(v))]);
        }

        if (patchZyx is not null)
        {
            fullres["patch_size"] = new JsonArray([.. patchZyx.Select(v => JsonValue.Create(v))]);
        }

        File.WriteAllText(plansPath, plans.ToJsonString());
        return copy;
    }

    /// <summary>
    /// Imports the folder into <paramref name="modelsFolder"/> and returns the registry's entry;
    /// a model of that name already there (--models FOLDER, kept between runs) is used as it is.
    /// </summary>
    public static ModelEntry Import(OrtRuntime runtime, string trainedFolder, string modelsFolder, string name)
    {
        if (new ModelRegistry(modelsFolder, runtime).Find(name) is { Enabled: true } existing)
        {
            Console.WriteLine($"using {existing.ModelPath} as imported before");
            return existing;
        }

        var clock = Stopwatch.StartNew();
        NnUnetImportResult result = NnUnetImporter.Import(new NnUnetImportOptions
        {
            TrainedFolder = trainedFolder,
            OutputFolder = modelsFolder,
            Name = name,
            Runtime = runtime,
        });
        NnUnetImportedModel imported = result.Models[^1];
        Console.WriteLine($"imported {imported.Name}: {new FileInfo(imported.ModelPath).Length / 1e6:F1} MB ONNX in {clock.Elapsed.TotalSeconds:F1} s");
        ModelEntry entry = new ModelRegistry(modelsFolder, runtime).Find(imported.Name)
            ?? throw new InvalidOperationException($"{imported.Name} is not in the registry after the import");
        return entry.Enabled ? entry : throw new InvalidOperationException($"{imported.Name} is disabled: {entry.DisabledReason}");
    }

    public static async Task<(int Code, string Stdout, string Stderr)> RunAsync(string file, IEnumerable<string> arguments)
    {
        var start = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using Process process = Process.Start(start) ?? throw new InvalidOperationException($"{file} did not start");
        Task<string> stdout = process.StandardOutput.ReadToEndAsync();
        Task<string> stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return (process.ExitCode, await stdout, await stderr);
    }
}
