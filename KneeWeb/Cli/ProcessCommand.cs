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
        // How a job runs on a cluster node (the Slurm executor writes these): the site's own options
        // and ids, progress as JSON lines and the catalog error as a file, both in the job's folder.
        var optionsFile = new Option<string?>("--options-file") { Description = "Job options as JSON (the API's options part); replaces the option flags above." };
        var jobId = new Option<Guid?>("--job-id") { Description = "Job id recorded in stats.json (default: a new one)." };
        var inputName = new Option<string?>("--input-name") { Description = "Input file name recorded in stats.json (default: the input's name)." };
        var defaultModel = new Option<string?>("--default-model") { Description = "Model used when the options name none (default: phantom-knee, or the first enabled one)." };
        var progressFile = new Option<string?>("--progress-file") { Description = "Append progress as JSON lines to this file (previews are written beside it)." };
        var errorFile = new Option<string?>("--error-file") { Description = "On failure, write the catalog error (code, message, hint, details) as JSON to this file." };
        // Test seam, not production behaviour: the site's KneeWeb:Jobs:DiagnosticStepDelay, so cancel and
        // time-limit behaviour can be exercised on inputs that otherwise finish in a blink.
        var stepDelay = new Option<TimeSpan?>("--diagnostic-step-delay") { Hidden = true };

        var command = new Command("process", "Run the knee pipeline on one image and write a job folder.")
        {
            input, output, model, device, mirroring, nsm, noThickness, subject, side, series, models, quiet,
            optionsFile, jobId, inputName, defaultModel, progressFile, errorFile, stepDelay,
        };
        command.SetAction((parse, ct) => RunAsync(
            new ProcessRequest(
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
                parse.GetValue(optionsFile),
                parse.GetValue(models),
                parse.GetValue(quiet),
                parse.GetValue(jobId),
                parse.GetValue(inputName),
                parse.GetValue(defaultModel),
                parse.GetValue(progressFile),
                parse.GetValue(errorFile),
                parse.GetValue(stepDelay) ?? TimeSpan.Zero),
            ct));
        return command;
    }

    private sealed record ProcessRequest(
        string Input,
        string Output,
        PipelineOptions FlagOptions,
        string? OptionsFile,
        string? ModelsFolder,
        bool Quiet,
        Guid? JobId,
        string? InputName,
        string? DefaultModel,
        string? ProgressFile,
        string? ErrorFile,
        TimeSpan StepDelay);

    private static async Task<int> RunAsync(ProcessRequest request, CancellationToken ct)
    {
        if (!TryReadOptions(request, out PipelineOptions options, out JobError? optionsError))
        {
            return Report(optionsError!, request.ErrorFile);
        }

        IReadOnlyList<string> problems = options.Validate();
        if (problems.Count > 0)
        {
            return Report(ErrorCatalog.Create(ErrorCode.CONFIG_ERROR, string.Join(" ", problems), string.Join(" ", problems)), request.ErrorFile);
        }

        string outputFolder = Path.GetFullPath(request.Output);
        if (Directory.Exists(outputFolder) && Directory.EnumerateFileSystemEntries(outputFolder).Any())
        {
            return Report(ErrorCatalog.Create(ErrorCode.CONFIG_ERROR, $"{outputFolder} exists and is not empty.", $"The output folder {outputFolder} already holds files; choose a new folder."), request.ErrorFile);
        }

        string models = request.ModelsFolder ?? ModelRegistry.FindDefaultFolder() ?? Path.GetFullPath("models");
        var engine = new SegmentationEngine(models, request.DefaultModel ?? new Setup.KneeWebOptions().DefaultModel);
        var context = new PipelineContext
        {
            JobId = request.JobId ?? Guid.NewGuid(),
            InputPath = Path.GetFullPath(request.Input),
            InputFileName = request.InputName ?? Path.GetFileName(request.Input),
            Options = options,
            OutputFolder = outputFolder,
        };
        var bar = new TerminalProgress(request.Quiet);
        using ProgressFileWriter? progressFile = request.ProgressFile is null ? null : new ProgressFileWriter(request.ProgressFile);
        IPipelineObserver observer = progressFile is null ? bar : new BothObservers(bar, progressFile);
        try
        {
            var pipeline = new KneePipeline(engine);
            IReadOnlyList<ArtifactInfo> artifacts = await pipeline.RunAsync(context, new PipelineRun(observer, request.StepDelay), ct);
            bar.Finish();
            if (!request.Quiet)
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
            return Report(ErrorMapper.Map(ex, null), request.ErrorFile);
        }
    }

    private static bool TryReadOptions(ProcessRequest request, out PipelineOptions options, out JobError? error)
    {
        options = request.FlagOptions;
        error = null;
        if (request.OptionsFile is null)
        {
            return true;
        }

        try
        {
            options = System.Text.Json.JsonSerializer.Deserialize<PipelineOptions>(File.ReadAllText(request.OptionsFile)) ?? new PipelineOptions();
            return true;
        }
        catch (Exception ex) when (ex is System.Text.Json.JsonException or IOException or UnauthorizedAccessException)
        {
            error = ErrorCatalog.Create(ErrorCode.CONFIG_ERROR, $"{request.OptionsFile}: {ex.Message}", "The options file is not readable job options JSON.");
            return false;
        }
    }

    private static int Report(JobError error, string? errorFile)
    {
        if (errorFile is not null)
        {
            try
            {
                JobErrorFile.Write(errorFile, error);
            }
            catch (IOException ex)
            {
                Console.Error.WriteLine($"The error file {errorFile} could not be written: {ex.Message}");
            }
        }

        CliErrors.Report(error.CodeName, error.Message, error.Hint);
        Console.Error.WriteLine($"details: {error.Details.Split(Environment.NewLine)[0]}");
        return CliErrors.ExitFailure;
    }

    /// <summary>Hands every report to the terminal bar and the progress file.</summary>
    private sealed class BothObservers(IPipelineObserver first, IPipelineObserver second) : IPipelineObserver
    {
        public void OnProgress(PipelineProgress progress)
        {
            first.OnProgress(progress);
            second.OnProgress(progress);
        }

        public void OnStepFinished(StepDefinition step, TimeSpan duration)
        {
            first.OnStepFinished(step, duration);
            second.OnStepFinished(step, duration);
        }

        public void OnStepSkipped(StepDefinition step, string reason)
        {
            first.OnStepSkipped(step, reason);
            second.OnStepSkipped(step, reason);
        }

        public void OnPreview(PipelinePreview preview)
        {
            first.OnPreview(preview);
            second.OnPreview(preview);
        }
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
