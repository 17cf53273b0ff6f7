using System.Reflection;
using KneeWeb.Imaging;
using KneeWeb.Imaging.Analysis;
using KneeWeb.Imaging.Io;
using KneeWeb.Imaging.Meshing;
using KneeWeb.Imaging.Thickness;
using KneeWeb.Imaging.Rendering;
using KneeWeb.Imaging.Segmentation;
using KneeWeb.Imaging.ShapeModel;
using KneeWeb.Inference;
using KneeWeb.Inference.ModelBuilding;
using KneeWeb.Pipeline.Results;

namespace KneeWeb.Pipeline;

/// <summary>
/// The knee analysis as a readable recipe of the ten user-facing steps. The same recipe runs in the
/// site's worker, in `KneeWeb process` and (entered at postprocessing, <see cref="RunFromLabelsAsync"/>) in `KneeWeb analyze`. A step that cannot run says why and is shown skipped.
/// </summary>
public sealed class KneePipeline(SegmentationEngine engine)
{
    public static string Version { get; } =
        typeof(KneePipeline).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "0.0.0";

    public async Task<IReadOnlyList<ArtifactInfo>> RunAsync(PipelineContext context, PipelineRun run, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(run);
        try
        {
            return await RunStepsAsync(context, run, ct);
        }
        finally
        {
            if (Directory.Exists(context.ScratchFolder))
            {
                Directory.Delete(context.ScratchFolder, recursive: true);
            }
        }
    }

    /// <summary>
    /// The recipe entered at postprocessing with a given segmentation (`KneeWeb analyze`): steps 1-3 are
    /// shown skipped, then the same steps as a site job run on <paramref name="labels"/>.
    /// </summary>
    public async Task<IReadOnlyList<ArtifactInfo>> RunFromLabelsAsync(PipelineContext context, Volume labels, PipelineRun run, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(labels);
        ArgumentNullException.ThrowIfNull(run);
        DescribeJob(context, PipelineEntry.Labels);
        context.Labels = labels;
        context.Document = context.Document with
        {
            Input = DescribeInput(context.InputFileName, labels.Geometry, labels, frameUsed: null) with
            {
                Format = File.Exists(context.InputPath) ? VolumeIo.DetectFormat(context.InputPath).ToString() : null,
            },
        };
        const string Given = "KneeWeb analyze starts from a given segmentation.";
        run.Skip(KneeSteps.LoadModel, Given);
        run.Skip(KneeSteps.Preprocess, Given);
        run.Skip(KneeSteps.Segment, Given);
        try
        {
            await run.RunStepAsync(KneeSteps.Postprocess, (r, c) => Postprocess(context, r, c), ct);
            return await AnalyzeAndSaveAsync(context, run, ct);
        }
        finally
        {
            if (Directory.Exists(context.ScratchFolder))
            {
                Directory.Delete(context.ScratchFolder, recursive: true);
            }
        }
    }

    private async Task<IReadOnlyList<ArtifactInfo>> RunStepsAsync(PipelineContext context, PipelineRun run, CancellationToken ct)
    {
        DescribeJob(context, PipelineEntry.Image);

        ModelEntry? model = null;
        if (string.IsNullOrWhiteSpace(context.Options.Model) && engine.SelectableModels().Count == 0)
        {
            run.Skip(KneeSteps.LoadModel, "No segmentation model is installed on this server.");
        }
        else
        {
            await run.RunStepAsync(KneeSteps.LoadModel, (r, c) => model = LoadModel(context), ct);
        }

        await run.RunStepAsync(KneeSteps.Preprocess, (r, c) => LoadInput(context, r, c), ct);
        if (model is null)
        {
            run.Skip(KneeSteps.Segment, "No segmentation model is installed on this server.");
            run.Skip(KneeSteps.Postprocess, "There is no segmentation to clean up.");
        }
        else
        {
            await run.RunStepAsync(KneeSteps.Segment, (r, c) => SegmentAsync(context, model, r, c), ct);
            await run.RunStepAsync(KneeSteps.Postprocess, (r, c) => Postprocess(context, r, c), ct);
        }

        return await AnalyzeAndSaveAsync(context, run, ct);
    }

    /// <summary>Steps 5-10, the same for every entry: meshes, thickness, shape model, BScore, save.</summary>
    private async Task<IReadOnlyList<ArtifactInfo>> AnalyzeAndSaveAsync(PipelineContext context, PipelineRun run, CancellationToken ct)
    {
        IReadOnlyDictionary<byte, StructureMesh> meshes = new Dictionary<byte, StructureMesh>();
        if (context.Labels is null)
        {
            run.Skip(KneeSteps.Meshes, "Meshes are built from a segmentation, and there is none.");
            run.Skip(KneeSteps.Thickness, context.Options.Thickness
                ? "Cartilage thickness needs a segmentation, and there is none."
                : "Thickness was turned off in the job options.");
        }
        else
        {
            await run.RunStepAsync(KneeSteps.Meshes, (r, c) => meshes = BuildMeshes(context, r, c), ct);
            if (context.Options.Thickness)
            {
                await run.RunStepAsync(KneeSteps.Thickness, (r, c) => MeasureThickness(context, meshes, r, c), ct);
            }
            else
            {
                run.Skip(KneeSteps.Thickness, "Thickness was turned off in the job options.");
            }

            RecordAnalysis(context, meshes);
        }

        if (context.Options.Nsm == "off" || context.Labels is null)
        {
            string reason = context.Options.Nsm == "off"
                ? "The neural shape model was turned off in the job options."
                : "The neural shape model needs a segmentation, and there is none.";
            run.Skip(KneeSteps.Nsm, reason);
            run.Skip(KneeSteps.BScore, "BScore comes from the neural shape model, which did not run.");
            context.Document = context.Document with { Nsm = null, BScore = null, BScoreReference = null, NsmSkipped = reason };
            if (context.Analysis is { } analysis)
            {
                analysis.NsmSkippedReason = reason;
            }
        }
        else
        {
            NsmFitResult? fit = null;
            await run.RunStepAsync(KneeSteps.Nsm, (r, c) => fit = RunShapeModel(context, meshes, r, c), ct);
            await run.RunStepAsync(KneeSteps.BScore, (r, c) => RecordBScore(context, fit!, r), ct);
        }

        IReadOnlyList<ArtifactInfo> artifacts = [];
        await run.RunStepAsync(KneeSteps.Save, async (r, c) => artifacts = await SaveAsync(context, run, r, c), ct);
        await run.RunStepAsync(KneeSteps.Complete, (_, _) => { }, ct);
        return artifacts;
    }

    private ModelEntry LoadModel(PipelineContext context)
    {
        ModelEntry model = engine.Resolve(context.Options.Model)
            ?? throw new InvalidJobOptionsException("No segmentation model is installed on this server.");
        context.ModelSidecar = model.Sidecar;
        context.Document = context.Document with
        {
            Model = new ModelSection(model.Name, model.Version, model.Description, model.ComputedSha256, engine.Runtime?.Version),
        };
        return model;
    }

    private async Task SegmentAsync(PipelineContext context, ModelEntry model, StepReporter reporter, CancellationToken ct)
    {
        Volume image = context.Image!;
        if (model.Sidecar is { InputChannels: 1 } && image.Frames > 1)
        {
            // A one-channel model sees the chosen frame only (recorded in stats.json as frame_used).
            image = new Volume(image.Geometry, VoxelType.Float32, context.ImageValues!);
        }

        var options = new SegmentationOptions
        {
            Provider = context.Options.Device switch
            {
                "cpu" => ExecutionProviderPreference.Cpu,
                "cuda" => ExecutionProviderPreference.Cuda,
                _ => ExecutionProviderPreference.Auto,
            },

            Mirroring = context.Options.Mirroring,

            // A model built for one knee sees the other knee mirrored, when the user says which knee it is.
            KneeSide = context.Options.KneeSide switch
            {
                "left" => Imaging.KneeSide.Left,
                "right" => Imaging.KneeSide.Right,
                _ => null,
            },
        };
        // A model run can take minutes between tile reports (one tile for a whole-grid model): estimates keep the bar moving.
        using var estimated = new EstimatedProgress(reporter);
        SegmentationResult result = await engine.Predictor.SegmentAsync(image, model, options, estimated, preview => reporter.Preview(PreviewRendering.Render(preview, image.Geometry.IndexToRas)), ct);
        context.Labels = result.Labels;
        context.Document = context.Document with
        {
            Segmentation = new SegmentationSection
            {
                Model = result.ModelName,
                ModelVersion = result.ModelVersion,
                ExecutionProvider = result.Provider == InferenceProvider.Cuda ? "cuda" : "cpu",
                Fallbacks = [.. result.Fallbacks],
                Tiles = result.Tiles,
                BatchSize = result.BatchSize,
                Mirrored = result.Mirrored,
                SideMirrorAxis = result.SideMirrorAxis,
                ModelGrid = [result.ModelGrid.I, result.ModelGrid.J, result.ModelGrid.K],
                TimingsSeconds = new Dictionary<string, double>(StringComparer.Ordinal)
                {
                    ["session_load"] = result.Timings.SessionLoad.TotalSeconds,
                    ["preprocess"] = result.Timings.Preprocess.TotalSeconds,
                    ["model_runs"] = result.Timings.ModelRuns.TotalSeconds,
                    ["tiling"] = result.Timings.Tiling.TotalSeconds,
                    ["postprocess"] = result.Timings.Postprocess.TotalSeconds,
                    ["total"] = result.Timings.Total.TotalSeconds,
                },
            },
        };
    }

    private static IReadOnlyDictionary<byte, StructureMesh> BuildMeshes(PipelineContext context, StepReporter reporter, CancellationToken ct)
    {
        IReadOnlyDictionary<byte, StructureMesh> meshes = KneeAnalysis.BuildMeshes(context.Labels!, new MeshOptions(), reporter, ct);
        foreach (StructureMesh mesh in meshes.Values)
        {
            if (!mesh.Watertight)
            {
                context.QcFlags.Add(new QcFlag("MESH_NOT_WATERTIGHT", QcSeverity.Warning, KneeLabels.Name(mesh.Label), mesh.WatertightProblem));
            }
        }

        return meshes;
    }

    private static void MeasureThickness(PipelineContext context, IReadOnlyDictionary<byte, StructureMesh> meshes, StepReporter reporter, CancellationToken ct)
    {
        (FemoralSubregionRule? rule, IReadOnlyList<RegionThickness> stats) = KneeAnalysis.MeasureThickness(context.Labels!, meshes, new AnalysisOptions(), context.QcFlags, ct);
        context.Thickness = stats;
        context.Subregions = rule;
        reporter.Report(1);
    }

    /// <summary>Gathers the analysis into one result, its stats.json sections and its files.</summary>
    private static void RecordAnalysis(PipelineContext context, IReadOnlyDictionary<byte, StructureMesh> meshes)
    {
        Volume labels = context.Labels!;
        KneeSide? side = FemoralSubregions.DetectSide(labels);
        if (side is null)
        {
            context.QcFlags.Add(new QcFlag("SIDE_UNKNOWN", QcSeverity.Warning, "knee", "The knee side could not be told: one or both tibial cartilage plates are missing."));
        }

        Volume? withSubregions = context.Subregions is null ? null : FemoralSubregions.Apply(labels, context.Subregions);
        var analysis = new AnalysisResult
        {
            Labels = labels,
            LabelsWithSubregions = withSubregions,
            VolumesMm3 = withSubregions is null
                ? context.Postprocessed!.VolumesMm3
                : Postprocessing.ComputeVolumesMm3((byte[])withSubregions.Voxels, Math.Abs(labels.Geometry.IndexToRas.Determinant)),
            Qc = context.QcFlags,
            Meshes = meshes,
            Thickness = context.Thickness ?? [],
            Subregions = context.Subregions,
            Side = side,
            NsmSkippedReason = null,
        };
        context.Analysis = analysis;
        context.Document = context.Document with
        {
            VolumesMm3 = StatsSections.Volumes(analysis.VolumesMm3),
            ThicknessMm = StatsSections.Thickness(analysis.Thickness),
            Meshes = StatsSections.Meshes(meshes),
            Side = StatsSections.Side(side),
            FemoralSubregions = StatsSections.Subregions(context.Subregions),
        };

        if (withSubregions is not null)
        {
            context.OutputFiles["segmentation_subregions.nii.gz"] = (path, c) => Task.Run(() => VolumeIo.Write(withSubregions, path), c);
        }

        context.OutputFolderWriters.Add((folder, c) => Task.Run(() => analysis.WriteOutputs(folder), c));
    }

    /// <summary>
    /// Step 7: loads the installed shape model (models/nsm/) and fits it to the femur; the fit reports its
    /// fraction as it goes. A failure is an <see cref="NsmFailedException"/> (NSM_FAILED) with the reason.
    /// </summary>
    private NsmFitResult RunShapeModel(PipelineContext context, IReadOnlyDictionary<byte, StructureMesh> meshes, StepReporter reporter, CancellationToken ct)
    {
        reporter.Report(0, "Loading the shape model");
        (NsmModel model, IDisposable owner) = context.LoadShapeModel?.Invoke() ?? NsmModels.Load(engine.Runtime, engine.ModelsFolder);
        using (owner)
        {
            NsmFitOptions options = context.NsmSettings with
            {
                Mode = context.Options.Nsm == "bone" ? NsmFitMode.Bone : NsmFitMode.BoneAndCartilage,
                Side = context.Options.KneeSide switch
                {
                    "left" => KneeSide.Left,
                    "right" => KneeSide.Right,
                    _ => null,
                },
            };
            NsmFitResult fit = KneeAnalysis.FitShapeModel(context.Labels!, meshes, model, options, reporter, ct);
            context.Document = context.Document with { Nsm = StatsSections.Nsm(fit), NsmSkipped = null };
            context.OutputFolderWriters.Add((folder, c) => Task.Run(() => NsmOutputs.Write(folder, fit), c));
            if (context.Analysis is { } analysis)
            {
                // analysis.json carries the fit too.
                analysis.Nsm = fit;
                analysis.NsmSkippedReason = null;
            }

            return fit;
        }
    }

    /// <summary>Step 8: the BScore of the fitted latent on the model's OA axis.</summary>
    private static void RecordBScore(PipelineContext context, NsmFitResult fit, StepReporter reporter)
    {
        context.Document = context.Document with
        {
            BScore = double.IsFinite(fit.BScore) ? fit.BScore : null,
            BScoreReference = StatsSections.Reference(fit.BScoreReference),
        };
        reporter.Report(1);
    }

    private static void Postprocess(PipelineContext context, StepReporter reporter, CancellationToken ct)
    {
        PostprocessResult result = KneeAnalysis.Postprocess(context.Labels!, new PostprocessOptions(), ct);
        context.Labels = result.Labels;
        context.QcFlags.AddRange(result.Qc);
        context.Postprocessed = result;
        context.Document = context.Document with { VolumesMm3 = StatsSections.Volumes(result.VolumesMm3) };
        Volume labels = result.Labels;
        context.OutputFiles["segmentation.nii.gz"] = (path, c) => Task.Run(() => VolumeIo.Write(labels, path), c);
        context.OutputFiles["segmentation.nrrd"] = (path, c) => Task.Run(() => VolumeIo.Write(labels, path), c);
        reporter.Report(1);
    }

    private static void DescribeJob(PipelineContext context, PipelineEntry entry) =>
        context.Document = new StatsDocument
        {
            KneeWebVersion = Version,
            JobId = context.JobId.ToString(),
            CreatedUtc = DateTime.UtcNow,
            Entry = entry,
            Options = context.Options,
        };

    private static InputSection DescribeInput(string fileName, VolumeGeometry g, Volume volume, int? frameUsed) => new()
    {
        FileName = fileName,
        Format = null,
        Dims = [g.Dims.I, g.Dims.J, g.Dims.K],
        Frames = volume.Frames,
        FrameUsed = frameUsed,
        DataType = volume.VoxelType.ToString(),
        SpacingMm = [g.SpacingMm.X, g.SpacingMm.Y, g.SpacingMm.Z],
        OriginRasMm = [g.OriginRas.X, g.OriginRas.Y, g.OriginRas.Z],
        AffineRas = [.. g.IndexToRas.ToRows().Select(row => (IReadOnlyList<double>)[.. row])],
        Metadata = volume.Metadata is { Properties.Count: > 0 } metadata ? new Dictionary<string, string>(metadata.Properties, StringComparer.Ordinal) : null,
    };

    private static void LoadInput(PipelineContext context, StepReporter reporter, CancellationToken ct)
    {
        if (!File.Exists(context.InputPath) && !Directory.Exists(context.InputPath))
        {
            throw new FileNotFoundException($"The input file '{context.InputFileName}' is no longer in the data folder.", context.InputPath);
        }

        ImageFormat format = VolumeIo.DetectFormat(context.InputPath);
        context.DetectedFormat = format.ToString();
        reporter.Report(0.1, $"Reading {format} volume");
        var readOptions = new VolumeReadOptions
        {
            MaxVoxels = context.MaxInputVoxels,
            DicomSeries = context.Options.Series,
            WorkFolder = context.ScratchFolder,
            MinFreeDiskBytes = context.MinFreeDiskBytes,
            Cancellation = ct,
            // Refused from the header (a DICOM series: its converted header) before a voxel is read.
            CheckHeader = context.MemoryBudgetBytes is long budget
                ? header => JobMemoryEstimate.For(header, context.ModelSidecar, context.Options).EnsureWithin(budget, header)
                : null,
        };
        Volume image = VolumeIo.Read(context.InputPath, readOptions);
        ct.ThrowIfCancellationRequested();
        int frame = context.Options.Frame ?? 0;
        if (frame >= image.Frames)
        {
            throw new InvalidJobOptionsException($"Frame {frame} was asked for, but the image has {image.Frames} frame(s).");
        }

        context.Image = image;
        reporter.Report(0.6, "Computing image statistics");
        context.ImageValues = image.ToFloat32(frame);
        ct.ThrowIfCancellationRequested();
        ImageStatistics imageStats = ImageStatistics.Compute(context.ImageValues);
        if (imageStats.NonFiniteCount == context.ImageValues.LongLength)
        {
            throw new InvalidImageException(format.ToString(), "voxels", "all NaN/Inf", "The image holds no finite value.");
        }

        context.Document = context.Document with
        {
            Input = DescribeInput(context.InputFileName, image.Geometry, image, frame) with { Format = format.ToString() },
            ImageStats = new ImageStatsSection(imageStats.Min, imageStats.Max, Finite(imageStats.Mean), Finite(imageStats.StandardDeviation),
                Finite(imageStats.NonZeroFraction), imageStats.NonFiniteCount),
        };
        if (imageStats.NonFiniteCount > 0)
        {
            context.QcFlags.Add(new QcFlag("IMAGE_NON_FINITE", QcSeverity.Warning, "image",
                $"The image holds {imageStats.NonFiniteCount} NaN or infinite voxels; they were left out of the statistics."));
        }

        reporter.Report(1);
    }

    private static double? Finite(double value) => double.IsFinite(value) ? value : null;

    private static async Task<IReadOnlyList<ArtifactInfo>> SaveAsync(PipelineContext context, PipelineRun run, StepReporter reporter, CancellationToken ct)
    {
        context.Document = context.Document with { Qc = StatsSections.Qc(context.QcFlags), Steps = StatsSections.Steps(run.Steps) };
        var files = new Dictionary<string, Func<string, CancellationToken, Task>>(context.OutputFiles, StringComparer.Ordinal)
        {
            [StatsDocumentIo.FileName] = async (path, c) =>
            {
                // Timings of every step so far, in seconds.
                context.Document = context.Document with { TimingsSeconds = new Dictionary<string, double>(run.TimingsSeconds, StringComparer.Ordinal) };
                await StatsDocumentIo.WriteFileAsync(path, context.Document, c);
            },
        };
        return await JobFolderWriter.WriteAsync(context.OutputFolder, files, reporter, ct, context.OutputFolderWriters);
    }
}
