using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;
using KneeWeb.Imaging.Segmentation;

namespace KneeWeb.Inference;

/// <summary>One model found in the models folder, usable or disabled with the reason.</summary>
public sealed record ModelEntry
{
    public required string Name { get; init; }

    public string Version { get; init; } = string.Empty;

    public string Description { get; init; } = string.Empty;

    public bool Enabled => DisabledReason is null;

    /// <summary>Why the model cannot be used (bad sidecar, checksum mismatch, incomplete label map...), or null.</summary>
    public string? DisabledReason { get; init; }

    /// <summary>The parsed sidecar, or null where it could not be read.</summary>
    public ModelSidecar? Sidecar { get; init; }

    public required string ModelPath { get; init; }

    public required string SidecarPath { get; init; }

    /// <summary>Valid, but switched off by an Admin (see <see cref="ModelStates"/>); it can be switched on again.</summary>
    public bool SwitchedOff { get; init; }

    /// <summary>The .onnx file's SHA-256 as computed at start-up (null where the file is missing).</summary>
    public string? ComputedSha256 { get; init; }
}

/// <summary>
/// The segmentation models of one folder: models/&lt;name&gt;.onnx with its models/&lt;name&gt;.json
/// sidecar. Every pair is validated when the registry is built; a model that fails is kept,
/// disabled, with the reason, and never silently dropped.
/// </summary>
public sealed class ModelRegistry
{
    /// <param name="modelsFolder">The folder holding the .onnx and .json files.</param>
    /// <param name="runtime">When given, each model is also loaded once to check its inputs and outputs against the sidecar.</param>
    public ModelRegistry(string modelsFolder, OrtRuntime? runtime = null)
    {
        ArgumentNullException.ThrowIfNull(modelsFolder);
        Folder = Path.GetFullPath(modelsFolder);
        var names = new SortedSet<string>(StringComparer.Ordinal);
        if (Directory.Exists(Folder))
        {
            foreach (string file in Directory.EnumerateFiles(Folder))
            {
                string extension = Path.GetExtension(file);
                if (extension is ".onnx" or ".json")
                {
                    names.Add(Path.GetFileNameWithoutExtension(file));
                }
            }
        }

        var models = new List<ModelEntry>(names.Count);
        Dictionary<string, ModelState> states = ModelStates.Read(Folder);
        foreach (string name in names)
        {
            ModelEntry entry = Validate(Folder, name, runtime);
            if (entry.Enabled && states.TryGetValue(name, out ModelState? state) && !state.Enabled)
            {
                entry = entry with { DisabledReason = $"switched off by an Admin ({state.ChangedBy ?? "unknown"}, {state.ChangedAt:yyyy-MM-dd HH:mm} UTC)", SwitchedOff = true };
            }

            models.Add(entry);
        }

        Models = models;
    }

    public string Folder { get; }

    /// <summary>Every model found, enabled or not, by name.</summary>
    public IReadOnlyList<ModelEntry> Models { get; }

    public ModelEntry? Find(string name)
    {
        foreach (ModelEntry model in Models)
        {
            if (string.Equals(model.Name, name, StringComparison.Ordinal))
            {
                return model;
            }
        }

        return null;
    }

    /// <summary>The models/ folder found by walking up from the app and working folders, or null.</summary>
    public static string? FindDefaultFolder()
    {
        foreach (string start in new[] { AppContext.BaseDirectory, Environment.CurrentDirectory })
        {
            for (DirectoryInfo? dir = new(start); dir is not null; dir = dir.Parent)
            {
                string candidate = Path.Combine(dir.FullName, "models");
                if (Directory.Exists(candidate) && Directory.EnumerateFiles(candidate, "*.json").Any())
                {
                    return candidate;
                }
            }
        }

        return null;
    }

    /// <summary>Lower-case hex SHA-256 of a file.</summary>
    public static string Sha256Of(string path)
    {
        using FileStream stream = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(stream));
    }

    /// <summary>Checks one sidecar against the rules and against its model file; returns the problems found.</summary>
    public static List<string> CheckSidecar(ModelSidecar sidecar, string expectedName)
    {
        ArgumentNullException.ThrowIfNull(sidecar);
        var problems = new List<string>();
        if (!string.Equals(sidecar.Name, expectedName, StringComparison.Ordinal))
        {
            problems.Add($"name is '{sidecar.Name}' but the files are named '{expectedName}'");
        }

        if (string.IsNullOrWhiteSpace(sidecar.Version))
        {
            problems.Add("version is missing");
        }

        if (sidecar.InputChannels < 1)
        {
            problems.Add($"input_channels is {sidecar.InputChannels}; at least 1");
        }

        if (sidecar.NumClasses < 2 || sidecar.NumClasses > 255)
        {
            problems.Add($"num_classes is {sidecar.NumClasses}; 2 to 255 (background included)");
        }

        if (sidecar.PatchSizeIjk is not { Length: 3 } patch || patch.Any(p => p < 1))
        {
            problems.Add("patch_size_ijk must be three positive voxel counts (i, j, k)");
        }

        if (sidecar.TargetSpacingMmIjk is not { Length: 3 } spacing || spacing.Any(s => !(s > 0) || !double.IsFinite(s)))
        {
            problems.Add("target_spacing_mm_ijk must be three positive spacings in mm (i, j, k)");
        }

        NormalizationSettings normalization = sidecar.Normalization ?? new();
        if (normalization.Scheme == NormalizationScheme.Fixed && !(normalization.Std > 0))
        {
            problems.Add($"normalization.std is {normalization.Std}; the fixed scheme needs a positive std");
        }

        if (normalization.Clip is { } clip && (clip.Length != 2 || !(clip[0] < clip[1])))
        {
            problems.Add("normalization.clip must be [low, high] with low < high");
        }

        SlidingWindowSettings window = sidecar.SlidingWindow ?? new();
        if (!(window.Overlap >= 0 && window.Overlap < 1))
        {
            problems.Add($"sliding_window.overlap is {window.Overlap}; 0 <= overlap < 1");
        }

        if (window.BatchSize < 1)
        {
            problems.Add($"sliding_window.batch_size is {window.BatchSize}; at least 1");
        }

        if ((sidecar.Mirroring ?? new()).Axes.Any(a => a is < 0 or > 2))
        {
            problems.Add("mirroring.axes may hold only 0 (i), 1 (j) and 2 (k)");
        }

        CheckLabels(sidecar, problems);
        if (string.IsNullOrWhiteSpace(sidecar.Sha256))
        {
            problems.Add("sha256 of the .onnx file is missing");
        }

        return problems;
    }

    private static void CheckLabels(ModelSidecar sidecar, List<string> problems)
    {
        if (sidecar.Labels is null || sidecar.Labels.Count == 0)
        {
            problems.Add("labels (model label -> KneeWeb schema label) is missing");
            return;
        }

        var seen = new bool[Math.Max(sidecar.NumClasses, 0)];
        foreach (KeyValuePair<string, int> entry in sidecar.Labels)
        {
            if (!int.TryParse(entry.Key, NumberStyles.None, CultureInfo.InvariantCulture, out int modelLabel) || modelLabel >= seen.Length)
            {
                problems.Add($"labels has key '{entry.Key}', not a model label 0..{sidecar.NumClasses - 1}");
                continue;
            }

            seen[modelLabel] = true;
            if (!IsSchemaLabel(entry.Value))
            {
                problems.Add($"model label {modelLabel} maps to {entry.Value}, not a KneeWeb schema label");
            }
            else if (modelLabel == 0 && entry.Value != 0)
            {
                problems.Add($"model label 0 (background) maps to {entry.Value}; it must map to 0");
            }
            else if (modelLabel != 0 && entry.Value == 0)
            {
                problems.Add($"model label {modelLabel} maps to background (0): the structure would be erased from every result");
            }
        }

        var missing = new List<int>();
        for (int i = 0; i < seen.Length; i++)
        {
            if (!seen[i])
            {
                missing.Add(i);
            }
        }

        if (missing.Count > 0)
        {
            problems.Add($"label map is incomplete: model label(s) {string.Join(", ", missing)} have no KneeWeb schema label");
        }
    }

    /// <summary>A label of the DESIGN.md schema: background, a structure (1-9) or a femoral subregion (11-15).</summary>
    public static bool IsSchemaLabel(int label) =>
        label == KneeLabels.Background
        || (label is >= 0 and <= 255 && (KneeLabels.Structures.Contains((byte)label) || KneeLabels.FemoralSubregions.Contains((byte)label)));

    private static ModelEntry Validate(string folder, string name, OrtRuntime? runtime)
    {
        string modelPath = Path.Combine(folder, name + ".onnx");
        string sidecarPath = Path.Combine(folder, name + ".json");
        ModelEntry Disabled(string reason, ModelSidecar? sidecar = null, string? sha = null) => new()
        {
            Name = name,
            Version = sidecar?.Version ?? string.Empty,
            Description = sidecar?.Description ?? string.Empty,
            Sidecar = sidecar,
            ModelPath = modelPath,
            SidecarPath = sidecarPath,
            ComputedSha256 = sha,
            DisabledReason = reason,
        };

        if (!File.Exists(sidecarPath))
        {
            return Disabled($"no sidecar: {name}.json is missing beside {name}.onnx");
        }

        ModelSidecar sidecar;
        try
        {
            sidecar = ModelSidecar.Parse(File.ReadAllText(sidecarPath));
        }
        catch (JsonException e)
        {
            return Disabled($"sidecar {name}.json is not valid: {e.Message}");
        }

        if (!File.Exists(modelPath))
        {
            return Disabled($"model file {name}.onnx is missing", sidecar);
        }

        string sha = Sha256Of(modelPath);
        List<string> problems = CheckSidecar(sidecar, name);
        if (!string.IsNullOrWhiteSpace(sidecar.Sha256) && !string.Equals(sidecar.Sha256, sha, StringComparison.OrdinalIgnoreCase))
        {
            problems.Insert(0, $"checksum mismatch: {name}.onnx has sha256 {sha}, the sidecar says {sidecar.Sha256}");
        }

        if (problems.Count == 0 && runtime is not null)
        {
            CheckAgainstModel(runtime, modelPath, sidecar, problems);
        }

        return problems.Count > 0
            ? Disabled(string.Join("; ", problems), sidecar, sha)
            : new ModelEntry
            {
                Name = name,
                Version = sidecar.Version!,
                Description = sidecar.Description ?? string.Empty,
                Sidecar = sidecar,
                ModelPath = modelPath,
                SidecarPath = sidecarPath,
                ComputedSha256 = sha,
            };
    }

    private static void CheckAgainstModel(OrtRuntime runtime, string modelPath, ModelSidecar sidecar, List<string> problems)
    {
        try
        {
            using OrtSession session = OrtSession.Create(runtime, modelPath, new OrtSessionSettings { Provider = ExecutionProviderPreference.Cpu, IntraOpThreads = 1, Optimization = GraphOptimization.Basic });
            if (session.Inputs.Count != 1 || session.Inputs[0].Shape.Length != 5)
            {
                problems.Add($"the model must take one 5D input [N, C, K, J, I]; it takes {string.Join(", ", session.Inputs)}");
            }
            else if (session.Inputs[0].Shape[1] > 0 && session.Inputs[0].Shape[1] != sidecar.InputChannels)
            {
                problems.Add($"the model takes {session.Inputs[0].Shape[1]} channel(s), the sidecar says {sidecar.InputChannels}");
            }

            if (session.Outputs.Count < 1 || session.Outputs[0].Shape.Length != 5)
            {
                problems.Add($"the model's first output must be 5D [N, C, K, J, I]; it gives {string.Join(", ", session.Outputs)}");
            }
            else if (session.Outputs[0].Shape[1] > 0 && session.Outputs[0].Shape[1] != sidecar.NumClasses)
            {
                problems.Add($"the model gives {session.Outputs[0].Shape[1]} class(es), the sidecar says {sidecar.NumClasses}");
            }
        }
        catch (OrtException e)
        {
            problems.Add($"ONNX Runtime cannot load the model: {e.NativeMessage}");
        }
    }
}
