using System.Reflection;
using System.Text.Json;
using System.Text.Json.Nodes;
using KneeWeb.Imaging;
using KneeWeb.Imaging.Io;

namespace KneeWeb.Pipeline;

/// <summary>
/// The knee analysis as a readable recipe of the ten user-facing steps. The same recipe runs in the
/// site's worker and in `KneeWeb process`. A step that cannot run says why and is shown skipped.
/// </summary>
public sealed class KneePipeline
{
    private const string SegmentationUnavailable = "No segmentation model is available in this version of KneeWeb.";

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

    private static async Task<IReadOnlyList<ArtifactInfo>> RunStepsAsync(PipelineContext context, PipelineRun run, CancellationToken ct)
    {
        DescribeJob(context);

        run.Skip(KneeSteps.LoadModel, SegmentationUnavailable);
        await run.RunStepAsync(KneeSteps.Preprocess, (r, c) => LoadInput(context, r, c), ct);
        run.Skip(KneeSteps.Segment, SegmentationUnavailable);
        run.Skip(KneeSteps.Postprocess, "There is no segmentation to clean up.");
        run.Skip(KneeSteps.Meshes, "Meshes are built from a segmentation, and there is none.");
        run.Skip(KneeSteps.Thickness, context.Options.Thickness
            ? "Cartilage thickness needs a segmentation, and there is none."
            : "Thickness was turned off in the job options.");
        run.Skip(KneeSteps.Nsm, context.Options.Nsm == "off"
            ? "The neural shape model was turned off in the job options."
            : "The neural shape model needs bone meshes, and there are none.");
        run.Skip(KneeSteps.BScore, "BScore comes from the neural shape model, which did not run.");

        IReadOnlyList<ArtifactInfo> artifacts = [];
        await run.RunStepAsync(KneeSteps.Save, async (r, c) => artifacts = await SaveAsync(context, run, r, c), ct);
        await run.RunStepAsync(KneeSteps.Complete, (_, _) => { }, ct);
        return artifacts;
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
            context.QcFlags.Add($"The image holds {imageStats.NonFiniteCount} NaN or infinite voxels; they were left out of the statistics.");
        }

        reporter.Report(1);
    }

    private static async Task<IReadOnlyList<ArtifactInfo>> SaveAsync(PipelineContext context, PipelineRun run, StepReporter reporter, CancellationToken ct)
    {
        JsonObject stats = context.Stats;
        stats["qc"] = new JsonObject { ["flags"] = new JsonArray([.. context.QcFlags.Select(f => JsonValue.Create(f))]) };
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
        return await JobFolderWriter.WriteAsync(context.OutputFolder, files, reporter, ct);
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
