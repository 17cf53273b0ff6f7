using System.Text.Json;

namespace KneeWeb.Inference;

/// <summary>An Admin's switch on one model: off (with who and when), or back on.</summary>
public sealed record ModelState(bool Enabled, string? ChangedBy, DateTimeOffset ChangedAt);

/// <summary>
/// Which models an Admin switched off, kept beside the models in &lt;models&gt;/.kneeweb-model-states
/// (JSON; not a .json file, so the registry never takes it for a sidecar). The registry reads it
/// and lists a switched-off model as disabled with who did it; the files themselves stay untouched.
/// </summary>
public static class ModelStates
{
    public const string FileName = ".kneeweb-model-states";

    private static readonly Lock WriteGate = new();

    /// <summary>The recorded states by model name; an unreadable file reads as none (every model on).</summary>
    public static Dictionary<string, ModelState> Read(string modelsFolder)
    {
        string path = Path.Combine(modelsFolder, FileName);
        try
        {
            return File.Exists(path)
                ? JsonSerializer.Deserialize<Dictionary<string, ModelState>>(File.ReadAllText(path), ModelSidecar.JsonOptions) ?? []
                : [];
        }
        catch (Exception e) when (e is JsonException or IOException or NotSupportedException)
        {
            return [];
        }
    }

    /// <summary>Records a switch (written beside and renamed, so a reader never sees half a file).</summary>
    public static void Set(string modelsFolder, string name, bool enabled, string? changedBy)
    {
        lock (WriteGate)
        {
            Dictionary<string, ModelState> states = Read(modelsFolder);
            states[name] = new ModelState(enabled, changedBy, DateTimeOffset.UtcNow);
            string path = Path.Combine(modelsFolder, FileName);
            string temporary = path + ".tmp";
            File.WriteAllText(temporary, JsonSerializer.Serialize(states, ModelSidecar.JsonOptions));
            File.Move(temporary, path, overwrite: true);
        }
    }
}
