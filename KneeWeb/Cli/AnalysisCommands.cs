using System.CommandLine;
using System.Diagnostics;
using KneeWeb.Imaging;
using KneeWeb.Imaging.Analysis;
using KneeWeb.Imaging.Io;
using KneeWeb.Imaging.Phantom;
using KneeWeb.Inference;
using KneeWeb.Pipeline;
using KneeWeb.Pipeline.Results;

namespace KneeWeb.Cli;

/// <summary>`KneeWeb phantom` (synthetic knee with ground truth) and `KneeWeb analyze` (analysis of an existing segmentation).</summary>
public static class AnalysisCommands
{
    public static Command CreatePhantom()
    {
        var outOption = new Option<string>("--out") { Description = "Folder for image.nii.gz, labels.nii.gz and truth.json.", Required = true };
        var seedOption = new Option<int>("--seed") { Description = "Seed of the noise and bias field.", DefaultValueFactory = _ => 1 };
        var coarseOption = new Option<int>("--coarsening") { Description = "1: 384x384x160 at 0.36x0.36x0.7 mm; 2, 4, 8: the same knee on coarser grids.", DefaultValueFactory = _ => 1 };
        var leftOption = new Option<bool>("--left") { Description = "A left knee (the mirror image) instead of a right one." };
        var oaOption = new Option<double>("--oa") { Description = "Osteoarthritis severity 0-1 (femoral osteophytes, thinner medial condyle cartilage).", DefaultValueFactory = _ => 0 };
        var familyOption = new Option<bool>("--femur-family")
        {
            Description = "Draw the femur from the shape model's phantom family: healthy variation from --seed (0: the default femur) and OA that also flattens and spreads the condyles.",
        };
        var command = new Command("phantom", "Write a synthetic DESS-like knee with ground-truth labels and exact cartilage thickness.")
        {
            outOption, seedOption, coarseOption, leftOption, oaOption, familyOption,
        };
        command.SetAction(parseResult =>
        {
            string folder = parseResult.GetValue(outOption)!;
            try
            {
                var options = new PhantomOptions
                {
                    Seed = parseResult.GetValue(seedOption),
                    Coarsening = parseResult.GetValue(coarseOption),
                    Side = parseResult.GetValue(leftOption) ? KneeSide.Left : KneeSide.Right,
                    Anatomy = parseResult.GetValue(familyOption)
                        ? FemurShapeFamily.Sample(parseResult.GetValue(seedOption), parseResult.GetValue(oaOption))
                        : PhantomAnatomy.Default with { OsteoarthritisSeverity = parseResult.GetValue(oaOption) },
                };
                PhantomResult phantom = KneePhantom.Generate(options);
                Directory.CreateDirectory(folder);
                VolumeIo.Write(phantom.Image, Path.Combine(folder, "image.nii.gz"));
                VolumeIo.Write(phantom.Labels, Path.Combine(folder, "labels.nii.gz"));
                File.WriteAllText(Path.Combine(folder, "truth.json"), phantom.Truth.ToJson());
                Console.WriteLine($"phantom {phantom.Labels.Dims} written to {folder}");
                return 0;
            }
            catch (ArgumentOutOfRangeException e)
            {
                return CliErrors.Report("CONFIG_ERROR", e.Message, "Use --coarsening 1, 2, 4 or 8, and --oa in [0, 1].");
            }
            catch (IOException e)
            {
                return CliErrors.Report("PIPELINE_ERROR", $"Could not write the phantom: {e.Message}");
            }
        });
        return command;
    }

    public static Command CreateAnalyze()
    {
        var labelsOption = new Option<string>("--labels") { Description = "Segmentation (label map in the knee schema: .nii.gz, .nrrd, ...).", Required = true };
        var imageOption = new Option<string?>("--image") { Description = "The image the segmentation belongs to (optional; checked for matching geometry)." };
        var outOption = new Option<string>("--out") { Description = "Output folder.", Required = true };
        var noThicknessOption = new Option<bool>("--no-thickness") { Description = "Skip cartilage thickness." };
        ShapeModelOptions nsm = ShapeModelOptions.Create();
        var command = new Command("analyze", "Postprocess a segmentation, build meshes, measure cartilage thickness and (with --nsm) fit the shape model and compute the BScore.")
        {
            labelsOption, imageOption, outOption, noThicknessOption,
        };
        nsm.AddTo(command);
        command.SetAction(parseResult => Analyze(
            parseResult.GetValue(labelsOption)!, parseResult.GetValue(imageOption), parseResult.GetValue(outOption)!, !parseResult.GetValue(noThicknessOption), nsm.Read(parseResult)));
        return command;
    }

    private static int Analyze(string labelsPath, string? imagePath, string folder, bool thickness, ShapeModelChoice nsm)
    {
        Volume labels, raw;
        Volume? image = null;
        try
        {
            raw = VolumeIo.Read(labelsPath);
            labels = ToLabelMap(raw);
            if (imagePath is not null)
            {
                image = VolumeIo.Read(imagePath);
                if (image.Dims != labels.Dims || !image.Geometry.IndexToRas.ApproximatelyEquals(labels.Geometry.IndexToRas, 1e-3))
                {
                    return CliErrors.Report("INVALID_FORMAT", $"The image ({image.Dims}) and the segmentation ({labels.Dims}) do not share one grid.",
                        "Pass the image the segmentation was made from.");
                }
            }
        }
        catch (FileNotFoundException e)
        {
            return CliErrors.Report("FILE_NOT_FOUND", e.Message, "Check the path.");
        }
        catch (InvalidImageException e)
        {
            return CliErrors.Report("INVALID_FORMAT", e.Message, "The segmentation must be an integer label map in the knee schema (labels 0-9, 11-15).");
        }
        catch (IOException e)
        {
            return CliErrors.Report("INVALID_FORMAT", e.Message, "The segmentation could not be read.");
        }

        if (nsm.Problem is not null)
        {
            return CliErrors.Report("CONFIG_ERROR", nsm.Problem, "Use --nsm off, bone or bone-cartilage.");
        }

        string outputFolder = Path.GetFullPath(folder);
        if (Directory.Exists(outputFolder) && Directory.EnumerateFileSystemEntries(outputFolder).Any())
        {
            return CliErrors.Report("CONFIG_ERROR", $"{outputFolder} exists and is not empty.", "Choose a new output folder: analyze writes a complete job folder or none.");
        }

        // The site's recipe, entered at postprocessing: the same steps and the same stats.json as a site job.
        var context = new PipelineContext
        {
            JobId = Guid.NewGuid(),
            InputPath = Path.GetFullPath(labelsPath),
            InputFileName = Path.GetFileName(labelsPath),
            Options = new PipelineOptions { Nsm = NsmModeName(nsm.Mode), Thickness = thickness },
            OutputFolder = outputFolder,
            LoadShapeModel = nsm.Mode == NsmMode.Off ? null : nsm.Load,
            NsmSettings = nsm.Settings,
        };
        var watch = Stopwatch.StartNew();
        IReadOnlyList<ArtifactInfo> artifacts;
        try
        {
            var pipeline = new KneePipeline(new SegmentationEngine(nsm.ModelsFolder ?? ModelRegistry.FindDefaultFolder() ?? Path.GetFullPath("models")));
            artifacts = pipeline.RunFromLabelsAsync(context, labels, new PipelineRun(new StepLines()), CancellationToken.None).GetAwaiter().GetResult();
        }
#pragma warning disable CA1031 // Every failure ends as a catalog code on stderr and exit code 1, as in `KneeWeb process`.
        catch (Exception e)
#pragma warning restore CA1031
        {
            Jobs.JobError error = Jobs.ErrorMapper.Map(e, null);
            return CliErrors.Report(error.CodeName, error.Message, error.Hint);
        }

        Console.WriteLine($"analysis done in {watch.Elapsed.TotalSeconds:F1} s; {artifacts.Count} files in {outputFolder}");
        StatsDocument document = context.Document;
        foreach (QcFlagSection flag in document.Qc?.Flags ?? [])
        {
            Console.WriteLine($"QC {flag.Severity.ToString().ToUpperInvariant()} {flag.Code} {flag.Structure}: {flag.Message}");
        }

        if (document.Nsm is { } fit)
        {
            Console.WriteLine(string.Create(System.Globalization.CultureInfo.InvariantCulture,
                $"NSM {fit.Model?.Name} {fit.Model?.Version}: {fit.Iterations} iterations in {fit.FitTimeSeconds:F2} s (converged {fit.Converged}), best L1 {fit.BestLoss:F4} mm, ASSD {fit.AssdMm:F3} mm, BScore {document.BScore:F3}"));
        }

        return 0;
    }

    private static string NsmModeName(NsmMode mode) => mode switch
    {
        NsmMode.Bone => "bone",
        NsmMode.BoneAndCartilage => "bone-cartilage",
        _ => "off",
    };

    /// <summary>One line per step as it starts (or is skipped), like the other verbs.</summary>
    private sealed class StepLines : IPipelineObserver
    {
        private int lastStep = -1;

        public void OnProgress(PipelineProgress progress)
        {
            if (progress.StepIndex != lastStep && progress.StepState == StepState.Running)
            {
                lastStep = progress.StepIndex;
                Console.WriteLine($"{progress.StepName}...");
            }
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
    }

    // Label maps arrive as uint8, int16, float... whatever the writer chose; the analysis works on uint8.
    private static Volume ToLabelMap(Volume volume)
    {
        if (volume.VoxelType == VoxelType.UInt8 && !volume.IsScaled && volume.Frames == 1)
        {
            return volume;
        }

        float[] values = volume.ToFloat32();
        var labels = new byte[values.Length];
        for (int v = 0; v < values.Length; v++)
        {
            float x = values[v];
            if (x < 0 || x > 255 || x != MathF.Round(x))
            {
                throw new InvalidImageException("label map", "voxel value", x.ToString(System.Globalization.CultureInfo.InvariantCulture), "a segmentation holds whole label numbers 0-255");
            }

            labels[v] = (byte)x;
        }

        return Volume.CreateLabelMap(volume.Geometry, labels);
    }
}
