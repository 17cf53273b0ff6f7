using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;

namespace KneeWeb.Imaging.Io;

/// <summary>One series found in a DICOM input (what the choice and the error message show).</summary>
public sealed record DicomSeriesInfo(string Key, string? SeriesNumber, string? Description, int Images);

/// <summary>
/// Reads a DICOM series from a zip or a folder: safe extraction into a fresh folder, conversion
/// with dcm2niix, then the NIfTI it wrote, with an allow-list of facts from its JSON sidecar.
/// </summary>
internal static class DicomSeriesReader
{
    /// <summary>Sidecar keys kept: acquisition facts the lab needs. Names, IDs, birth dates, institutions and UIDs are dropped.</summary>
    public static readonly IReadOnlySet<string> AllowedKeys = new HashSet<string>(StringComparer.Ordinal)
    {
        "SeriesDescription", "SeriesNumber", "ProtocolName", "Modality", "Manufacturer", "ManufacturersModelName",
        "MagneticFieldStrength", "ImagingFrequency", "SoftwareVersions", "MRAcquisitionType", "ScanningSequence",
        "SequenceVariant", "SequenceName", "PulseSequenceName", "ScanOptions", "ImageType", "BodyPartExamined",
        "EchoTime", "RepetitionTime", "InversionTime", "FlipAngle", "SliceThickness", "SpacingBetweenSlices",
        "AcquisitionDateTime", "AcquisitionDate", "AcquisitionTime", "StudyDate", "SeriesDate", "ContentDate",
        "ConversionSoftware", "ConversionSoftwareVersion",
    };

    public static Volume Read(string path, ImageFormat format, VolumeReadOptions options)
    {
        string work = Path.Combine(options.WorkFolder ?? Path.GetTempPath(), "kneeweb-dicom-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(work);
        try
        {
            string input = PrepareInput(path, format, work, options);

            string output = Path.Combine(work, "out");
            Directory.CreateDirectory(output);
            RunDcm2Niix(input, output, options);
            List<(DicomSeriesInfo Info, string Nifti, string? Sidecar)> series = Survey(output);
            if (series.Count == 0)
            {
                throw new DicomSeriesException($"No DICOM image series was found in {Path.GetFileName(path)}.");
            }

            (DicomSeriesInfo info, string nifti, string? sidecar) = Choose(series, options.DicomSeries);
            Volume volume = NiftiReader.Read(nifti, options);
            Dictionary<string, string> properties = sidecar is null ? new(StringComparer.Ordinal) : AllowedProperties(sidecar);
            properties["series_key"] = info.Key;
            properties["series_count"] = series.Count.ToString(CultureInfo.InvariantCulture);
            return new Volume(volume.Geometry, volume.VoxelType, volume.Voxels, volume.Frames, volume.Slope, volume.Intercept)
            {
                Metadata = new ImageMetadata { Format = "DICOM", SourceName = Path.GetFileName(path), Properties = properties },
            };
        }
        finally
        {
            try
            {
                Directory.Delete(work, recursive: true);
            }
            catch (IOException)
            {
                // Leftovers in the work folder are harmless; the volume is already in memory.
            }
        }
    }

    /// <summary>Lists the series of a DICOM zip or folder without choosing one.</summary>
    public static IReadOnlyList<DicomSeriesInfo> List(string path, ImageFormat format, VolumeReadOptions options)
    {
        string work = Path.Combine(options.WorkFolder ?? Path.GetTempPath(), "kneeweb-dicom-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(work);
        try
        {
            string input = PrepareInput(path, format, work, options);

            string output = Path.Combine(work, "out");
            Directory.CreateDirectory(output);
            RunDcm2Niix(input, output, options);
            return [.. Survey(output).Select(s => s.Info)];
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
    }

    /// <summary>The folder dcm2niix reads: a zip extracted safely, a single file copied alone, or a checked folder.</summary>
    private static string PrepareInput(string path, ImageFormat format, string work, VolumeReadOptions options)
    {
        string input = Path.Combine(work, "in");
        switch (format)
        {
            case ImageFormat.DicomZip:
                SafeArchive.ExtractZip(path, input, options);
                return input;
            case ImageFormat.DicomFile:
                Directory.CreateDirectory(input);
                File.Copy(path, Path.Combine(input, "image.dcm"));
                return input;
            default:
                SafeArchive.CheckFolder(path, options);
                return path;
        }
    }

    private static void RunDcm2Niix(string input, string output, VolumeReadOptions options)
    {
        if (!File.Exists(options.Dcm2NiixPath))
        {
            throw new DicomSeriesException($"dcm2niix was not found at {options.Dcm2NiixPath}: install the Debian package dcm2niix.");
        }

        var start = new ProcessStartInfo(options.Dcm2NiixPath)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        // -b y: BIDS sidecar; -ba n: keep its facts, the allow-list drops identifying ones;
        // -z n: plain .nii (read once, no need to compress); -f: names from the series number only.
        foreach (string arg in new[] { "-b", "y", "-ba", "n", "-z", "n", "-f", "s%s", "-o", output, input })
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start) ?? throw new DicomSeriesException("dcm2niix could not be started.");
        var log = new StringBuilder();
        process.OutputDataReceived += (_, e) => Append(log, e.Data);
        process.ErrorDataReceived += (_, e) => Append(log, e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        if (!process.WaitForExit(options.DicomTimeout))
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit();
            throw new DicomSeriesException($"dcm2niix did not finish within {options.DicomTimeout.TotalSeconds:F0} s and was stopped.");
        }

        process.WaitForExit();
        if (process.ExitCode != 0 && !Directory.EnumerateFiles(output, "*.nii").Any())
        {
            string detail = Tail(log);
            throw new DicomSeriesException(process.ExitCode == 2
                ? $"No DICOM images were found in the input. dcm2niix: {detail}"
                : $"dcm2niix failed (exit code {process.ExitCode}): {detail}");
        }
    }

    private static void Append(StringBuilder log, string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (log)
        {
            if (log.Length < 64 * 1024)
            {
                log.AppendLine(line);
            }
        }
    }

    private static string Tail(StringBuilder log)
    {
        string text;
        lock (log)
        {
            text = log.ToString().Trim();
        }

        string[] lines = text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        return string.Join(" / ", lines.Skip(Math.Max(0, lines.Length - 3)));
    }

    private static List<(DicomSeriesInfo Info, string Nifti, string? Sidecar)> Survey(string output)
    {
        var found = new List<(DicomSeriesInfo, string, string?)>();
        foreach (string nifti in Directory.EnumerateFiles(output, "*.nii").Order(StringComparer.Ordinal))
        {
            string key = Path.GetFileNameWithoutExtension(nifti);
            string sidecar = Path.ChangeExtension(nifti, ".json");
            string? number = null, description = null;
            if (File.Exists(sidecar))
            {
                using JsonDocument doc = JsonDocument.Parse(File.ReadAllBytes(sidecar));
                number = Text(doc.RootElement, "SeriesNumber");
                description = Text(doc.RootElement, "SeriesDescription") ?? Text(doc.RootElement, "ProtocolName");
            }

            int images;
            using (Stream stream = File.OpenRead(nifti))
            {
                NiftiHeader h = NiftiReader.ReadHeader(stream);
                images = (int)Math.Min(int.MaxValue, Math.Max(1, h.Dim[0] >= 3 ? h.Dim[3] : 1) * Math.Max(1, h.Dim[0] >= 4 ? h.Dim[4] : 1));
            }

            found.Add((new DicomSeriesInfo(key, number, description, images), nifti, File.Exists(sidecar) ? sidecar : null));
        }

        return found;
    }

    private static (DicomSeriesInfo Info, string Nifti, string? Sidecar) Choose(List<(DicomSeriesInfo Info, string Nifti, string? Sidecar)> series, string? choice)
    {
        if (choice is null)
        {
            if (series.Count == 1)
            {
                return series[0];
            }

            throw new DicomSeriesException($"The DICOM input holds {series.Count} series; choose one by number or description: {Describe(series)}.");
        }

        string wanted = choice.Trim();
        var matches = series.Where(s =>
            string.Equals(s.Info.Key, wanted, StringComparison.OrdinalIgnoreCase)
            || string.Equals(s.Info.SeriesNumber, wanted, StringComparison.Ordinal)
            || string.Equals(s.Info.Description, wanted, StringComparison.OrdinalIgnoreCase)).ToList();
        if (matches.Count == 1)
        {
            return matches[0];
        }

        throw new DicomSeriesException(matches.Count == 0
            ? $"No series matches \"{wanted}\"; the input holds: {Describe(series)}."
            : $"{matches.Count} series match \"{wanted}\"; choose by key: {Describe(matches)}.");
    }

    private static string Describe(List<(DicomSeriesInfo Info, string Nifti, string? Sidecar)> series) =>
        string.Join("; ", series.Select(s =>
            $"series {s.Info.SeriesNumber ?? "?"} \"{s.Info.Description ?? "(no description)"}\" ({s.Info.Images} images, key {s.Info.Key})"));

    private static Dictionary<string, string> AllowedProperties(string sidecar)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        using JsonDocument doc = JsonDocument.Parse(File.ReadAllBytes(sidecar));
        foreach (JsonProperty property in doc.RootElement.EnumerateObject())
        {
            if (AllowedKeys.Contains(property.Name) && Text(doc.RootElement, property.Name) is string value)
            {
                result[property.Name] = value;
            }
        }

        return result;
    }

    private static string? Text(JsonElement root, string name)
    {
        if (!root.TryGetProperty(name, out JsonElement value))
        {
            return null;
        }

        return value.ValueKind switch
        {
            JsonValueKind.String => value.GetString(),
            JsonValueKind.Number => value.GetRawText(),
            JsonValueKind.Array => string.Join("\\", value.EnumerateArray().Select(e => e.ValueKind == JsonValueKind.String ? e.GetString() : e.GetRawText())),
            JsonValueKind.True => "true",
            JsonValueKind.False => "false",
            _ => null,
        };
    }
}
