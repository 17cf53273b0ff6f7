using System.Text.Json;
using System.Text.Json.Serialization;

namespace KneeWeb.Jobs;

/// <summary>
/// A job's catalog error as a file in its folder: how a run in another process (a Slurm job)
/// tells the site why it failed, in the same terms as an in-process failure.
/// </summary>
public static class JobErrorFile
{
    private sealed record Document(
        [property: JsonPropertyName("code")] string Code,
        [property: JsonPropertyName("message")] string Message,
        [property: JsonPropertyName("hint")] string Hint,
        [property: JsonPropertyName("details")] string Details);

    /// <summary>Writes the file whole (temp file, then rename), so a reader never sees half of it.</summary>
    public static void Write(string path, JobError error)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(error);
        string full = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        string temp = full + ".part";
        File.WriteAllText(temp, JsonSerializer.Serialize(new Document(error.CodeName, error.Message, error.Hint, error.Details)));
        File.Move(temp, full, overwrite: true);
    }

    /// <summary>The error the job wrote, or null when there is none or it is not a catalog error.</summary>
    public static JobError? TryRead(string path)
    {
        if (!File.Exists(path))
        {
            return null;
        }

        try
        {
            Document? doc = JsonSerializer.Deserialize<Document>(File.ReadAllText(path));
            if (doc is null || !Enum.TryParse(doc.Code, ignoreCase: false, out ErrorCode code) || !Enum.IsDefined(code))
            {
                return null;
            }

            // Message and hint come from this site's catalog when the job's are missing.
            ErrorEntry entry = ErrorCatalog.Get(code);
            return new JobError(code, string.IsNullOrWhiteSpace(doc.Message) ? entry.Message : doc.Message, string.IsNullOrWhiteSpace(doc.Hint) ? entry.Hint : doc.Hint, doc.Details ?? "");
        }
        catch (Exception ex) when (ex is JsonException or IOException)
        {
            return null;
        }
    }
}
