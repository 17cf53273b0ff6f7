using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using KneeWeb.Imaging;
using KneeWeb.Imaging.Io;

namespace KneeWeb.Cli;

/// <summary>
/// `KneeWeb inspect FILE [--json]` and `KneeWeb convert IN OUT`: the image IO verbs. Failures
/// print the catalog code and message on stderr and exit non-zero.
/// </summary>
public static class ImagingCommands
{
    public static Command CreateInspect()
    {
        var file = new Argument<string>("file") { Description = "Image file (NIfTI, NRRD, MRC) or DICOM zip/folder." };
        var json = new Option<bool>("--json") { Description = "Print one JSON object (format, dims, datatype, spacing_mm, affine_ras, min, max, mean)." };
        var series = SeriesOption();
        var command = new Command("inspect", "Print an image's format, size, voxel type, spacing, RAS affine and value range.");
        command.Arguments.Add(file);
        command.Options.Add(json);
        command.Options.Add(series);
        command.SetAction(parse => Inspect(parse.GetValue(file)!, parse.GetValue(json), parse.GetValue(series),
            parse.InvocationConfiguration.Output, parse.InvocationConfiguration.Error));
        return command;
    }

    public static Command CreateConvert()
    {
        var input = new Argument<string>("input") { Description = "Image file or DICOM zip/folder to read." };
        var output = new Argument<string>("output") { Description = "File to write; its name picks the format: .nii.gz, .nii, .nrrd, .nhdr, .mrc." };
        var series = SeriesOption();
        var command = new Command("convert", "Convert an image to NIfTI, NRRD or MRC, keeping voxel type and geometry.");
        command.Arguments.Add(input);
        command.Arguments.Add(output);
        command.Options.Add(series);
        command.SetAction(parse => Convert(parse.GetValue(input)!, parse.GetValue(output)!, parse.GetValue(series),
            parse.InvocationConfiguration.Output, parse.InvocationConfiguration.Error));
        return command;
    }

    public static int Inspect(string path, bool json, string? series, TextWriter output, TextWriter error)
    {
        ArgumentNullException.ThrowIfNull(output);
        return Guard(error, () =>
        {
            Volume volume = VolumeIo.Read(path, new VolumeReadOptions { DicomSeries = series });
            VolumeStatistics stats = VolumeStatistics.Of(volume);
            string format = volume.Metadata?.Format ?? VolumeIo.NameOf(VolumeIo.DetectFormat(path));
            int[] dims = volume.Frames > 1
                ? [volume.Dims.I, volume.Dims.J, volume.Dims.K, volume.Frames]
                : [volume.Dims.I, volume.Dims.J, volume.Dims.K];
            Vec3d spacing = volume.Geometry.SpacingMm;
            double[][] affine = volume.Geometry.IndexToRas.ToRows();
            if (json)
            {
                var report = new InspectReport(format, dims, DatatypeName(volume.VoxelType), [spacing.X, spacing.Y, spacing.Z], affine,
                    Finite(stats.Min), Finite(stats.Max), Finite(stats.Mean));
                output.WriteLine(JsonSerializer.Serialize(report, InspectJson.Options));
                return 0;
            }

            var c = CultureInfo.InvariantCulture;
            output.WriteLine($"file:        {path}");
            output.WriteLine($"format:      {format}");
            output.WriteLine($"dims:        {string.Join(" x ", dims)}{(volume.Frames > 1 ? " (4D: last is frames)" : "")}");
            output.WriteLine($"datatype:    {DatatypeName(volume.VoxelType)}{(volume.IsScaled ? string.Create(c, $" (scaled: x {volume.Slope:G9} + {volume.Intercept:G9})") : "")}");
            output.WriteLine(string.Create(c, $"spacing_mm:  {spacing.X:G9} {spacing.Y:G9} {spacing.Z:G9}"));
            output.WriteLine("affine_ras:  (voxel index i,j,k -> RAS mm)");
            foreach (double[] row in affine)
            {
                output.WriteLine("  [" + string.Join(", ", row.Select(v => v.ToString("G9", c).PadLeft(14))) + " ]");
            }

            output.WriteLine(string.Create(c, $"min:         {stats.Min:G9}"));
            output.WriteLine(string.Create(c, $"max:         {stats.Max:G9}"));
            output.WriteLine(string.Create(c, $"mean:        {stats.Mean:G9}"));
            if (volume.Metadata is { Properties.Count: > 0 } meta)
            {
                foreach ((string key, string value) in meta.Properties.OrderBy(p => p.Key, StringComparer.Ordinal))
                {
                    output.WriteLine($"  {key}: {value}");
                }
            }

            return 0;
        });
    }

    public static int Convert(string input, string outputPath, string? series, TextWriter output, TextWriter error)
    {
        ArgumentNullException.ThrowIfNull(output);
        return Guard(error, () =>
        {
            if (VolumeIo.OutputFormatOf(outputPath) == ImageFormat.Unknown)
            {
                return Report(error, "INVALID_FORMAT", $"Cannot tell the output format from the name {Path.GetFileName(outputPath)}.",
                    "Name the output .nii.gz, .nii, .nrrd, .nhdr or .mrc.");
            }

            Volume volume = VolumeIo.Read(input, new VolumeReadOptions { DicomSeries = series });
            VolumeIo.Write(volume, outputPath);
            output.WriteLine($"wrote {outputPath} ({volume.Dims}{(volume.Frames > 1 ? $" x {volume.Frames} frames" : "")}, {DatatypeName(volume.VoxelType)})");
            return 0;
        });
    }

    /// <summary>nibabel/numpy names of the voxel types.</summary>
    public static string DatatypeName(VoxelType type) => type.ToString().ToLowerInvariant();

    private static Option<string?> SeriesOption() => new("--series")
    {
        Description = "For DICOM input holding several series: the series number or description to read.",
    };

    private static int Guard(TextWriter error, Func<int> run)
    {
        ArgumentNullException.ThrowIfNull(error);
        try
        {
            return run();
        }
        catch (InvalidImageException e)
        {
            return Report(error, "INVALID_FORMAT", e.Message, "Check that the file is a complete NIfTI-1/2, NRRD, MRC image or DICOM zip.");
        }
        catch (DicomSeriesException e)
        {
            return Report(error, "DICOM_ERROR", e.Message, "Choose one series with --series, or check the DICOM files.");
        }
        catch (FileNotFoundException e)
        {
            return Report(error, "FILE_NOT_FOUND", e.Message, "Check the path.");
        }
        catch (DirectoryNotFoundException e)
        {
            return Report(error, "FILE_NOT_FOUND", e.Message, "Check the path.");
        }
        catch (ArgumentException e)
        {
            return Report(error, "INVALID_FORMAT", e.Message, null);
        }
        catch (IOException e)
        {
            return Report(error, "PIPELINE_ERROR", e.Message, null);
        }
        catch (UnauthorizedAccessException e)
        {
            return Report(error, "PIPELINE_ERROR", e.Message, null);
        }
    }

    private static int Report(TextWriter error, string code, string message, string? hint) => CliErrors.Report(error, code, message, hint);

    private static double? Finite(double value) => double.IsFinite(value) ? value : null;

    private sealed record InspectReport(string Format, int[] Dims, string Datatype, double[] SpacingMm, double[][] AffineRas, double? Min, double? Max, double? Mean);

    private static class InspectJson
    {
        public static readonly JsonSerializerOptions Options = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };
    }
}
