using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace KneeWeb.Pipeline.Results;

/// <summary>A stats.json that is not a KneeWeb results document (not JSON, a foreign file, a newer schema); the message says which.</summary>
public sealed class StatsDocumentException : JsonException
{
    public StatsDocumentException()
    {
    }

    public StatsDocumentException(string message)
        : base(message)
    {
    }

    public StatsDocumentException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}

/// <summary>Writes and reads stats.json: the current schema through <see cref="StatsJsonContext"/>, older files through <see cref="LegacyStatsReader"/>.</summary>
public static class StatsDocumentIo
{
    public const string FileName = "stats.json";

    /// <summary>stats.json above this size is not one the pipeline wrote (a typical file is a few kB).</summary>
    public const long MaxBytes = 16L * 1024 * 1024;

    public static string Write(StatsDocument document)
    {
        ArgumentNullException.ThrowIfNull(document);
        return JsonSerializer.Serialize(document, StatsJsonContext.Default.StatsDocument);
    }

    public static async Task WriteFileAsync(string path, StatsDocument document, CancellationToken ct) =>
        await File.WriteAllTextAsync(path, Write(document), new UTF8Encoding(false), ct);

    /// <summary>Reads any stats.json KneeWeb has written.</summary>
    /// <exception cref="StatsDocumentException">Not JSON, not an object, a foreign file, or a schema this version does not know.</exception>
    public static StatsDocument Read(string json)
    {
        ArgumentNullException.ThrowIfNull(json);
        JsonNode? node;
        try
        {
            node = JsonNode.Parse(json, documentOptions: new JsonDocumentOptions { MaxDepth = 32 });
        }
        catch (JsonException e)
        {
            throw new StatsDocumentException($"stats.json is not valid JSON ({e.Message}).", e);
        }

        if (node is not JsonObject root)
        {
            throw new StatsDocumentException("stats.json is not a KneeWeb results document: it holds a JSON " + (node?.GetValueKind().ToString().ToLowerInvariant() ?? "null") + ", not an object.");
        }

        if (!root.TryGetPropertyValue("schema_version", out JsonNode? versionNode))
        {
            return LegacyStatsReader.Read(root);
        }

        if (versionNode is not JsonValue v || !v.TryGetValue(out int version))
        {
            throw new StatsDocumentException("stats.json has a schema_version that is not a whole number.");
        }

        if (version > StatsDocument.CurrentSchemaVersion)
        {
            throw new StatsDocumentException($"stats.json has schema version {version}, written by a newer KneeWeb; this version reads up to {StatsDocument.CurrentSchemaVersion}.");
        }

        if (version < StatsDocument.CurrentSchemaVersion)
        {
            throw new StatsDocumentException($"stats.json has schema version {version}, which no KneeWeb wrote (files before version {StatsDocument.CurrentSchemaVersion} have no schema_version).");
        }

        try
        {
            StatsDocument document = JsonSerializer.Deserialize(json, StatsJsonContext.Default.StatsDocument)
                ?? throw new StatsDocumentException("stats.json holds null.");

            // The flags are the evidence: a verdict that disagrees with them (an edited file) is recomputed.
            return document.Qc is { } qc && qc.Verdict != QcSection.Of(qc.Flags).Verdict
                ? document with { Qc = QcSection.Of(qc.Flags) }
                : document;
        }
        catch (JsonException e) when (e is not StatsDocumentException)
        {
            string where = string.IsNullOrEmpty(e.Path) ? "" : $" at {e.Path}";
            throw new StatsDocumentException($"stats.json does not match schema version {version}{where}: {FirstLine(e.Message)}", e);
        }
    }

    /// <summary>The stats.json of a job folder, or null when there is none.</summary>
    public static StatsDocument? ReadFile(string path)
    {
        var info = new FileInfo(path);
        if (!info.Exists)
        {
            return null;
        }

        if (info.Length > MaxBytes)
        {
            throw new StatsDocumentException($"stats.json is {info.Length / (1024 * 1024)} MB, larger than any results document KneeWeb writes ({MaxBytes / (1024 * 1024)} MB at most).");
        }

        return Read(File.ReadAllText(path));
    }

    private static string FirstLine(string message)
    {
        int end = message.IndexOf('\n', StringComparison.Ordinal);
        return end < 0 ? message : message[..end];
    }
}
