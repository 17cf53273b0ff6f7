using System.Text.Json.Nodes;
using KneeWeb.Imaging;
using KneeWeb.Imaging.Io;

namespace KneeWeb.Inference.NnUnet;

/// <summary>
/// Imports a zipped nnU-Net trained folder (the Models page's upload): extracted with the
/// upload's hostile-zip rules (<see cref="SafeArchive"/>) into a work folder, then the same
/// importer as the command line. The zip holds DatasetNNN_Name/&lt;Trainer&gt;__&lt;Plans&gt;__&lt;Config&gt;/...
/// or the trained folder itself at its root; with a cascade stage, its 3d_lowres sibling too.
/// </summary>
public static class NnUnetArchiveImporter
{
    public static NnUnetImportResult Import(string zipPath, string workFolder, NnUnetImportOptions options, VolumeReadOptions caps)
    {
        ArgumentNullException.ThrowIfNull(options);
        string root = Path.Combine(workFolder, "extracted");
        try
        {
            SafeArchive.ExtractZip(zipPath, root, caps);
        }
        catch (DicomSeriesException e)
        {
            // SafeArchive speaks of DICOM uploads; its refusals hold for any zip.
            throw new NnUnetFormatException(e.Message, e);
        }

        string trained = FindTrainedFolder(root);
        if (string.Equals(Path.GetDirectoryName(trained), root, StringComparison.Ordinal))
        {
            // The trained folder at the zip's root: give it the dataset folder nnUNet_results has.
            string dataset = DatasetName(trained);
            string parent = Path.Combine(workFolder, "datasets", dataset);
            Directory.CreateDirectory(parent);
            string moved = Path.Combine(parent, Path.GetFileName(trained));
            Directory.Move(trained, moved);
            trained = moved;
        }

        return NnUnetImporter.Import(options with { TrainedFolder = trained });
    }

    /// <summary>The one trained folder to import: a cascade stage when there is one (it brings its parent), else the only one.</summary>
    private static string FindTrainedFolder(string root)
    {
        var found = Directory.EnumerateFiles(root, "plans.json", new EnumerationOptions { RecurseSubdirectories = true, MaxRecursionDepth = 3 })
            .Select(Path.GetDirectoryName)
            .OfType<string>()
            .Where(d => Path.GetFileName(d).Split("__").Length == 3)
            .ToList();
        if (found.Count == 0)
        {
            throw new NnUnetFormatException("the zip holds no nnU-Net trained folder (<Trainer>__<Plans>__<Configuration> with plans.json)");
        }

        if (found.Count == 1)
        {
            return found[0];
        }

        List<string> cascades = [.. found.Where(d => Path.GetFileName(d).EndsWith("__3d_cascade_fullres", StringComparison.Ordinal))];
        return cascades.Count == 1
            ? cascades[0]
            : throw new NnUnetImportException($"the zip holds {found.Count} trained folders ({string.Join(", ", found.Select(Path.GetFileName))}): upload one (a cascade stage may come with its 3d_lowres parent)");
    }

    private static string DatasetName(string trained)
    {
        try
        {
            string? name = (JsonNode.Parse(File.ReadAllText(Path.Combine(trained, "plans.json"))) as JsonObject)?["dataset_name"]?.GetValue<string>();
            return string.IsNullOrWhiteSpace(name) || name.Contains('/', StringComparison.Ordinal) || name.Contains('\\', StringComparison.Ordinal) || name.Contains("..", StringComparison.Ordinal) ? "nnunet" : name;
        }
        catch (Exception e) when (e is System.Text.Json.JsonException or InvalidOperationException)
        {
            throw new NnUnetFormatException($"plans.json is not valid JSON: {e.Message}", e);
        }
    }
}
