using KneeWeb.Imaging;
using KneeWeb.Imaging.ShapeModel;
using KneeWeb.Pipeline.Results;

namespace KneeWeb.Pipeline;

/// <summary>
/// Everything one run carries from step to step. Volumes stay in memory with double-precision
/// geometry between steps: no file round trip (DESIGN.md).
/// </summary>
public sealed class PipelineContext
{
    public required Guid JobId { get; init; }

    /// <summary>The stored upload (or the CLI's input path).</summary>
    public required string InputPath { get; init; }

    /// <summary>The name the file had when it was uploaded, for the record only.</summary>
    public required string InputFileName { get; init; }

    public required PipelineOptions Options { get; init; }

    /// <summary>Final job folder. It appears complete or not at all (written atomically).</summary>
    public required string OutputFolder { get; init; }

    /// <summary>Scratch space for this run (DICOM extraction); removed when the run ends, and by recovery after a crash.</summary>
    public string ScratchFolder => OutputFolder + JobFolderWriter.TempMarker + "scratch";

    /// <summary>Caps applied when reading the input (largest voxel count and bytes).</summary>
    public long MaxInputVoxels { get; init; } = 1024L * 1024 * 1024;

    /// <summary>
    /// Most memory this job may need (estimated from the header before any voxel is read); null: no
    /// limit (the command line on a machine of one's own).
    /// </summary>
    public long? MemoryBudgetBytes { get; init; }

    /// <summary>Free space DICOM extraction must leave on the disk.</summary>
    public long MinFreeDiskBytes { get; init; }

    /// <summary>The model the job segments with (set by the model step), for the memory estimate.</summary>
    public Inference.ModelSidecar? ModelSidecar { get; set; }

    public Volume? Image { get; set; }

    /// <summary>The analysed frame's scaled values, i fastest.</summary>
    public float[]? ImageValues { get; set; }

    public Volume? Labels { get; set; }

    public string? DetectedFormat { get; set; }

    /// <summary>Quality-control flags people must see (a missing structure, a volume out of range).</summary>
    public List<Imaging.Segmentation.QcFlag> QcFlags { get; } = [];

    /// <summary>The stats.json document, filled in section by section by the steps (records: each step sets its sections with `with`).</summary>
    public StatsDocument Document { get; set; } = new();

    /// <summary>
    /// Loads the shape model for step 7; null: the installed one (models/nsm/). `KneeWeb analyze` passes its
    /// --nsm-model choice here. The caller disposes what it returns.
    /// </summary>
    public Func<(NsmModel Model, IDisposable Owner)>? LoadShapeModel { get; init; }

    /// <summary>Fit settings of step 7 (reconstruction resolution...); mode and side come from <see cref="Options"/>.</summary>
    public NsmFitOptions NsmSettings { get; init; } = new();

    /// <summary>Writers that fill the (temporary) job folder themselves, e.g. a set of meshes.</summary>
    public List<Func<string, CancellationToken, Task>> OutputFolderWriters { get; } = [];

    public Imaging.Segmentation.PostprocessResult? Postprocessed { get; set; }

    public IReadOnlyList<Imaging.Thickness.RegionThickness>? Thickness { get; set; }

    public Imaging.Segmentation.FemoralSubregionRule? Subregions { get; set; }

    /// <summary>Postprocessed labels, meshes and thickness, when the analysis steps ran.</summary>
    public Imaging.Analysis.AnalysisResult? Analysis { get; set; }

    /// <summary>Files for the job folder, by relative name, written by the save step.</summary>
    public Dictionary<string, Func<string, CancellationToken, Task>> OutputFiles { get; } = new(StringComparer.Ordinal);
}
