using System.Reflection;
using System.Text.Json;
using System.Text.Json.Nodes;
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

namespace KneeWeb.Pipeline;

/// <summary>
/// The knee analysis as a readable recipe of the ten user-facing steps. The same recipe runs in the
/// site's worker and in `KneeWeb process`. A step that cannot run says why and is shown skipped.
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

    private async Task<IReadOnlyList<ArtifactInfo>> RunStepsAsync(PipelineContext context, PipelineRun run, CancellationToken ct)
    {
        DescribeJob(context);

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
            context.Stats["nsm"] = null;
            context.Stats["bscore"] = null;
            context.Stats["nsm_skipped"] = reason;
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
        context.Stats["model"] = new JsonObject
        {
            ["name"] = model.Name,
            ["version"] = model.Version,
            ["description"] = model.Description,
            ["sha256"] = model.ComputedSha256,
            ["onnxruntime"] = engine.Runtime?.Version,
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
        context.Stats["segmentation"] = new JsonObject
        {
            ["model"] = result.ModelName,
            ["model_version"] = result.ModelVersion,
            ["execution_provider"] = result.Provider == InferenceProvider.Cuda ? "cuda" : "cpu",
            ["fallbacks"] = new JsonArray([.. result.Fallbacks.Select(f => JsonValue.Create(f))]),
            ["tiles"] = result.Tiles,
            ["batch_size"] = result.BatchSize,
            ["mirrored"] = result.Mirrored,
            ["side_mirror_axis"] = result.SideMirrorAxis,
            ["model_grid"] = new JsonArray(result.ModelGrid.I, result.ModelGrid.J, result.ModelGrid.K),
            ["timings_s"] = new JsonObject
            {
                ["session_load"] = result.Timings.SessionLoad.TotalSeconds,
                ["preprocess"] = result.Timings.Preprocess.TotalSeconds,
                ["model_runs"] = result.Timings.ModelRuns.TotalSeconds,
                ["tiling"] = result.Timings.Tiling.TotalSeconds,
                ["postprocess"] = result.Timings.Postprocess.TotalSeconds,
                ["total"] = result.Timings.Total.TotalSeconds,
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
            TimingsMs = new Dictionary<string, double>(),
        };
        context.Analysis = analysis;
        JsonObject sections = analysis.ToStatsJson();
        foreach (string key in new[] { "volumes_mm3", "thickness_mm", "meshes", "side", "femoral_subregions" })
        {
            context.Stats[key] = sections[key]?.DeepClone();
        }

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
        (NsmModel model, IDisposable owner) = NsmModels.Load(engine.Runtime, engine.ModelsFolder);
        using (owner)
        {
            NsmFitOptions options = new()
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
            context.Stats["nsm"] = NsmOutputs.NsmJson(fit);
            context.Stats["nsm_skipped"] = null;
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
        context.Stats["bscore"] = fit.BScore;
        context.Stats["bscore_reference"] = NsmOutputs.ReferenceJson(fit.BScoreReference);
        reporter.Report(1);
    }

    private static void Postprocess(PipelineContext context, StepReporter reporter, CancellationToken ct)
    {
        PostprocessResult result = KneeAnalysis.Postprocess(context.Labels!, new PostprocessOptions(), ct);
        context.Labels = result.Labels;
        context.QcFlags.AddRange(result.Qc);
        context.Postprocessed = result;
        var volumes = new JsonObject();
        foreach ((string structure, double mm3) in result.VolumesMm3)
        {
            volumes[structure] = Math.Round(mm3, 3);
        }

        context.Stats["volumes_mm3"] = volumes;
        Volume labels = result.Labels;
        context.OutputFiles["segmentation.nii.gz"] = (path, c) => Task.Run(() => VolumeIo.Write(labels, path), c);
        context.OutputFiles["segmentation.nrrd"] = (path, c) => Task.Run(() => VolumeIo.Write(labels, path), c);
        reporter.Report(1);
    }

    private static void DescribeJob(PipelineContext context)
    {
        JsonObject stats = context.Stats;
        stats["kneeweb_version"] = Version;
        stats["job_id"] = context.JobId.ToString();
        stats["created_utc"] = DateTime.UtcNow.ToString("O");
        stats["options"] = JsonSerializer.SerializeToNode(context.Options);
    }

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

        VolumeGeometry g = image.Geometry;
        context.Stats["input"] = new JsonObject
        {
            ["file_name"] = context.InputFileName,
            ["format"] = format.ToString(),
            ["dims"] = new JsonArray(g.Dims.I, g.Dims.J, g.Dims.K),
            ["frames"] = image.Frames,
            ["frame_used"] = frame,
            ["datatype"] = image.VoxelType.ToString(),
            ["spacing_mm"] = new JsonArray(g.SpacingMm.X, g.SpacingMm.Y, g.SpacingMm.Z),
            ["origin_ras_mm"] = new JsonArray(g.OriginRas.X, g.OriginRas.Y, g.OriginRas.Z),
            ["affine_ras"] = JsonSerializer.SerializeToNode(g.IndexToRas.ToRows()),
            // Acquisition details the reader kept (for DICOM: an allow-list without identifying tags).
            ["metadata"] = MetadataJson(image.Metadata),
        };
        context.Stats["image_stats"] = new JsonObject
        {
            ["min"] = imageStats.Min,
            ["max"] = imageStats.Max,
            ["mean"] = imageStats.Mean,
            ["sd"] = imageStats.StandardDeviation,
            ["nonzero_fraction"] = imageStats.NonZeroFraction,
            ["non_finite_voxels"] = imageStats.NonFiniteCount,
        };
        if (imageStats.NonFiniteCount > 0)
        {
            context.QcFlags.Add(new QcFlag("IMAGE_NON_FINITE", QcSeverity.Warning, "image",
                $"The image holds {imageStats.NonFiniteCount} NaN or infinite voxels; they were left out of the statistics."));
        }

        reporter.Report(1);
    }

    private static JsonObject? MetadataJson(ImageMetadata? metadata)
    {
        if (metadata is null || metadata.Properties.Count == 0)
        {
            return null;
        }

        var json = new JsonObject();
        foreach ((string key, string value) in metadata.Properties)
        {
            json[key] = value;
        }

        return json;
    }

    private static async Task<IReadOnlyList<ArtifactInfo>> SaveAsync(PipelineContext context, PipelineRun run, StepReporter reporter, CancellationToken ct)
    {
        JsonObject stats = context.Stats;
        var flags = new JsonArray();
        foreach (QcFlag flag in context.QcFlags)
        {
            flags.Add(new JsonObject
            {
                ["code"] = flag.Code,
                ["severity"] = flag.Severity.ToString().ToLowerInvariant(),
                ["structure"] = flag.Structure,
                ["message"] = flag.Message,
            });
        }

        stats["qc"] = new JsonObject { ["flags"] = flags };
        var steps = new JsonArray();
        foreach (StepRecord record in run.Steps)
        {
            steps.Add(new JsonObject
            {
                ["index"] = record.Index,
                ["name"] = record.Name,
                ["state"] = record.State.ToString().ToLowerInvariant(),
                ["duration_s"] = record.DurationSeconds,
                ["reason"] = record.Reason,
            });
        }

        stats["steps"] = steps;
        var files = new Dictionary<string, Func<string, CancellationToken, Task>>(context.OutputFiles, StringComparer.Ordinal)
        {
            ["stats.json"] = async (path, c) =>
            {
                // Timings of every step so far, the save step's own included up to this point.
                var timings = new JsonObject();
                foreach ((string name, double seconds) in run.TimingsSeconds)
                {
                    timings[name] = seconds;
                }

                stats["timings_s"] = timings;
                await File.WriteAllTextAsync(path, stats.ToJsonString(StatsJson.Options), c);
            },
        };
        return await JobFolderWriter.WriteAsync(context.OutputFolder, files, reporter, ct, context.OutputFolderWriters);
    }
}

/// <summary>How stats.json and the API write JSON: snake_case keys, indented for people.</summary>
public static class StatsJson
{
    public static JsonSerializerOptions Options { get; } = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
    };
}
