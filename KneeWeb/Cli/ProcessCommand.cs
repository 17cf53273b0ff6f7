using System.CommandLine;
using KneeWeb.Inference;
using KneeWeb.Jobs;
using KneeWeb.Pipeline;

namespace KneeWeb.Cli;

/// <summary>
/// `KneeWeb process &lt;input&gt; --out &lt;dir&gt;`: the site's pipeline without the site, with a progress
/// bar in the terminal. Writes the same job folder (stats.json, segmentation, results.zip). This is
/// also how a job runs on another machine.
/// </summary>
public static class ProcessCommand
{
    public static Command Create()
    {
        var input = new Argument<string>("input") { Description = "The knee MRI: NIfTI, NRRD, MRC, or a DICOM zip or folder." };
        var output = new Option<string>("--out") { Description = "Job folder to write (must not exist, or be empty).", Required = true };
        var model = new Option<string?>("--model") { Description = "Segmentation model name (default: the first enabled model)." };
        var device = new Option<string>("--device") { Description = "auto, cpu or cuda.", DefaultValueFactory = _ => "auto" };
        var mirroring = new Option<string>("--mirroring") { Description = "Test-time mirroring: model, on or off.", DefaultValueFactory = _ => "model" };
        var nsm = new Option<string>("--nsm") { Description = "Neural shape model: off, bone or bone-cartilage.", DefaultValueFactory = _ => "off" };
        var noThickness = new Option<bool>("--no-thickness") { Description = "Skip cartilage thickness." };
        var subject = new Option<string?>("--subject") { Description = "Subject id recorded in stats.json." };
        var side = new Option<string>("--knee-side") { Description = "auto, left or right.", DefaultValueFactory = _ => "auto" };
        var series = new Option<string?>("--series") { Description = "DICOM series to use when the input holds several." };
        var models = new Option<string?>("--models") { Description = "Models folder (default: models/ found upward from here)." };
        var quiet = new Option<bool>("--quiet") { Description = "No progress bar; errors only." };

        var command = new Command("process", "Run the knee pipeline on one image and write a job folder.")
        {
            input, output, model, device, mirroring, nsm, noThickness, subject, side, series, models, quiet,
        };
        command.SetAction((parse, ct) => RunAsync(
            parse.GetValue(input)!,
            parse.GetValue(output)!,
            new PipelineOptions
            {
                Model = parse.GetValue(model),
                Device = parse.GetValue(device)!,
                Mirroring = MirroringModeJsonConverter.Parse(parse.GetValue(mirroring)!) ?? (MirroringMode)(-1),
                Nsm = parse.GetValue(nsm)!,
                Thickness = !parse.GetValue(noThickness),
                SubjectId = parse.GetValue(subject),
                KneeSide = parse.GetValue(side)!,
                Series = parse.GetValue(series),
            },
            parse.GetValue(models),
            parse.GetValue(quiet),
            ct));
        return command;
    }

    private static async Task<int> RunAsync(string input, string output, PipelineOptions options, string? modelsFolder, bool quiet, CancellationToken ct)
    {
        IReadOnlyList<string> problems = options.Validate();
        if (problems.Count > 0)
        {
            return Report(ErrorCatalog.Create(ErrorCode.CONFIG_ERROR, string.Join(" ", problems), string.Join(" ", problems)));
        }

        string outputFolder = Path.GetFullPath(output);
        if (Directory.Exists(outputFolder) && Directory.EnumerateFileSystemEntries(outputFolder).Any())
        {
            return Report(ErrorCatalog.Create(ErrorCode.CONFIG_ERROR, $"{outputFolder} exists and is not empty.", $"The output folder {outputFolder} already holds files; choose a new folder."));
        }

        string models = modelsFolder ?? ModelRegistry.FindDefaultFolder() ?? Path.GetFullPath("models");
        var engine = new SegmentationEngine(models, new Setup.KneeWebOptions().DefaultModel);
        var context = new PipelineContext
        {
            JobId = Guid.NewGuid(),
            InputPath = Path.GetFullPath(input),
            InputFileName = Path.GetFileName(input),
            Options = options,
            OutputFolder = outputFolder,
        };
        var bar = new TerminalProgress(quiet);
        try
        {
            var pipeline = new KneePipeline(engine);
            IReadOnlyList<ArtifactInfo> artifacts = await pipeline.RunAsync(context, new PipelineRun(bar), ct);
            bar.Finish();
            if (!quiet)
            {
                Console.WriteLine($"Wrote {artifacts.Count} files to {outputFolder}");
            }

            return 0;
        }
#pragma warning disable CA1031 // Every failure ends as a catalog code on stderr and exit code 1.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            bar.Finish();
            return Report(ErrorMapper.Map(ex, null));
        }
    }

    private static int Report(JobError error)
    {
        CliErrors.Report(error.CodeName, error.Message, error.Hint);
        Console.Error.WriteLine($"details: {error.Details.Split(Environment.NewLine)[0]}");
        return CliErrors.ExitFailure;
    }

    /// <summary>A one-line progress bar on stderr (redrawn in place on a terminal, one line per step otherwise).</summary>
    private sealed class TerminalProgress(bool quiet) : IPipelineObserver
    {
        private readonly bool redraw = !Console.IsErrorRedirected;
        private int lastStep = -1;
        private DateTime lastDraw = DateTime.MinValue;

        public void OnProgress(PipelineProgress progress)
        {
            if (quiet)
            {
                return;
            }

            bool newStep = progress.StepIndex != lastStep;
            lastStep = progress.StepIndex;
            if (!redraw)
            {
                if (newStep)
                {
                    Console.Error.WriteLine($"[{progress.OverallPercent,5:0.0}%] step {progress.StepIndex}/{progress.StepCount}: {progress.StepName}{(progress.StepState == StepState.Skipped ? $" (skipped: {progress.Message})" : "")}");
                }

                return;
            }

            if (!newStep && DateTime.UtcNow - lastDraw < TimeSpan.FromMilliseconds(100))
            {
                return;
            }

            lastDraw = DateTime.UtcNow;
            const int Width = 30;
            int filled = (int)Math.Round(Width * progress.OverallPercent / 100);
            string eta = progress.EtaSeconds is double s ? $" ETA {s:0}s" : "";
            Console.Error.Write($"\r[{new string('#', filled)}{new string('.', Width - filled)}] {progress.OverallPercent,5:0.0}% {progress.StepIndex}/{progress.StepCount} {progress.StepName}{eta}".PadRight(100));
        }

        public void OnStepFinished(StepDefinition step, TimeSpan duration)
        {
        }

        public void OnStepSkipped(StepDefinition step, string reason)
        {
        }

        public void OnPreview(PipelinePreview preview)
        {
        }

        public void Finish()
        {
            if (!quiet && redraw)
            {
                Console.Error.WriteLine();
            }
        }
    }
}
