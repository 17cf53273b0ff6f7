using System.CommandLine;
using KneeWeb.Imaging;
using KneeWeb.Imaging.Io;
using KneeWeb.Inference;
using KneeWeb.Jobs;
using KneeWeb.Pipeline;

namespace KneeWeb.Cli;

/// <summary>
/// `KneeWeb segment &lt;image&gt; --model NAME --out labels.nii.gz`: the segmentation alone (schema
/// labels, no postprocessing) on the input's grid, NIfTI or NRRD by the output's extension.
/// </summary>
public static class SegmentCommand
{
    public static Command Create()
    {
        var input = new Argument<string>("image") { Description = "The image: NIfTI, NRRD, MRC, or a DICOM zip or folder." };
        var model = new Option<string?>("--model") { Description = "Segmentation model name (default: the configured default, else the first enabled model)." };
        var device = new Option<string>("--device") { Description = "auto, cpu or cuda.", DefaultValueFactory = _ => "auto" };
        var mirroring = new Option<string>("--mirroring") { Description = "model (the checkpoint's axes), on (all three axes) or off.", DefaultValueFactory = _ => "model" };
        var output = new Option<string>("--out") { Description = "Label map to write (.nii, .nii.gz or .nrrd).", Required = true };
        var models = new Option<string?>("--models") { Description = "Models folder (default: models/ found upward from here)." };
        var command = new Command("segment", "Segment one image with a model and write the label map (KneeWeb schema labels) in the image's geometry.")
        {
            input, model, device, mirroring, output, models,
        };
        command.SetAction((parse, ct) => RunAsync(
            parse.GetValue(input)!,
            parse.GetValue(model),
            parse.GetValue(device)!,
            parse.GetValue(mirroring)!,
            parse.GetValue(output)!,
            parse.GetValue(models),
            Console.Out,
            Console.Error,
            ct));
        return command;
    }

    public static async Task<int> RunAsync(string input, string? modelName, string device, string mirroring, string output, string? modelsFolder, TextWriter stdout, TextWriter stderr, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(stdout);
        ArgumentNullException.ThrowIfNull(stderr);
        ExecutionProviderPreference? provider = device switch
        {
            "auto" => ExecutionProviderPreference.Auto,
            "cpu" => ExecutionProviderPreference.Cpu,
            "cuda" => ExecutionProviderPreference.Cuda,
            _ => null,
        };
        MirroringMode? mode = mirroring switch
        {
            "model" => MirroringMode.Model,
            "on" => MirroringMode.On,
            "off" => MirroringMode.Off,
            _ => null,
        };
        if (provider is null || mode is null)
        {
            return Report(stderr, ErrorCatalog.Create(ErrorCode.CONFIG_ERROR, $"--device {device} --mirroring {mirroring}", provider is null ? $"--device is '{device}'; use auto, cpu or cuda." : $"--mirroring is '{mirroring}'; use model, on or off."));
        }

        try
        {
            ImageFormat outputFormat = VolumeIo.OutputFormatOf(output);
            if (outputFormat is not (ImageFormat.Nifti1 or ImageFormat.Nrrd))
            {
                throw new InvalidJobOptionsException($"--out {output}: write the labels as .nii, .nii.gz or .nrrd.");
            }

            string folder = modelsFolder ?? ModelRegistry.FindDefaultFolder() ?? Path.GetFullPath("models");
            var engine = new SegmentationEngine(folder, new Setup.KneeWebOptions().DefaultModel);
            SegmentationPredictor predictor = engine.Predictor;
            ModelEntry model = engine.Resolve(modelName)
                ?? throw new InvalidJobOptionsException(modelName is null ? "No segmentation model is installed." : $"No enabled model named '{modelName}'.");
            Volume image = VolumeIo.Read(Path.GetFullPath(input));
            SegmentationResult result = await predictor.SegmentAsync(image, model, new SegmentationOptions { Provider = provider.Value, Mirroring = mode.Value }, null, null, ct);
            VolumeIo.Write(result.Labels, output);
            stdout.WriteLine($"wrote {output} ({NameOf(outputFormat)}, {image.Dims}) with {result.ModelName} {result.ModelVersion} on {result.Provider.Name()}, {result.Tiles} tiles{(result.Mirrored ? ", mirrored" : "")}");
            return 0;
        }
#pragma warning disable CA1031 // Every failure ends as a catalog code on stderr and exit code 1.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            return Report(stderr, ErrorMapper.Map(ex, "segment"));
        }
    }

    private static string NameOf(ImageFormat format) => VolumeIo.NameOf(format);

    private static int Report(TextWriter stderr, JobError error)
    {
        CliErrors.Report(stderr, error.CodeName, error.Message, error.Hint);
        return CliErrors.ExitFailure;
    }
}
