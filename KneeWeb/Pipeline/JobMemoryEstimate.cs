using System.Globalization;
using KneeWeb.Imaging;
using KneeWeb.Imaging.Io;
using KneeWeb.Inference;

namespace KneeWeb.Pipeline;

/// <summary>
/// The memory one job is expected to need at its peak, from the image header and the model alone,
/// so an image that would exhaust the machine is refused before a voxel is read. Every figure is a
/// deliberate upper bound of what the steps hold at once (no crop to the non-zero box assumed).
/// </summary>
public sealed record JobMemoryEstimate(
    long PeakBytes,
    long InputBytes,
    long PreprocessBytes,
    long InferenceBytes,
    long AnalysisBytes,
    Dims3? ModelGrid,
    double ModelGridVoxels)
{
    private const long Float = sizeof(float);

    /// <summary>Working set of the shape-model fit (decoder, sample points, meshes), independent of the image.</summary>
    private const long NsmBytes = 512L << 20;

    /// <summary>
    /// Estimates the peak of a job on this image with this model (null: no segmentation runs).
    /// Sizes are doubles first: a hostile header's products overflow 64 bits.
    /// </summary>
    public static JobMemoryEstimate For(VolumeHeaderInfo header, ModelSidecar? model, PipelineOptions options)
    {
        ArgumentNullException.ThrowIfNull(header);
        ArgumentNullException.ThrowIfNull(options);
        double n = header.Dims.VoxelCount;
        double frames = Math.Max(1, header.Frames);

        // The image as read (all frames, stored type) and the analysed frame as float32 stay alive all job long.
        double input = (n * frames * Volume.BytesPerVoxel(header.VoxelType)) + (n * Float);
        if (model is null || model.PatchSizeIjk is not { Length: 3 } patch || model.TargetSpacingMmIjk is not { Length: 3 } target)
        {
            return new JobMemoryEstimate(Clamp(input), Clamp(input), 0, 0, 0, null, 0);
        }

        double channels = model.InputChannels == 1 ? 1 : frames;
        double[] grid =
        [
            ResampledSize(header.Dims.I, header.SpacingMm.X, target[0]),
            ResampledSize(header.Dims.J, header.SpacingMm.Y, target[1]),
            ResampledSize(header.Dims.K, header.SpacingMm.Z, target[2]),
        ];
        double m = grid[0] * grid[1] * grid[2];
        double[] padded = [Math.Max(grid[0], patch[0]), Math.Max(grid[1], patch[1]), Math.Max(grid[2], patch[2])];
        double mPadded = padded[0] * padded[1] * padded[2];
        double classes = Math.Max(1, model.NumClasses);
        double patchVoxels = (double)patch[0] * patch[1] * patch[2];
        double batch = Math.Max(1, model.SlidingWindow.BatchSize);

        // Preprocessing: a float copy per channel, the cropped copy, the separable resampling's two
        // intermediate grids (each at most the larger of the two grids) and the resampled result.
        double preprocess = (n * Float * channels) + (n * Float) + (2 * Math.Max(n, m) * Float) + (m * Float * channels);

        // Sliding window: the resampled and the padded channels, padded labels, labels restored on the
        // input grid, class scores and weights for a patch depth plus one slice (accumulated and restored),
        // the batch's input/output/sum tensors, and the runtime's own activations (a few class maps per patch voxel).
        double slab = (patch[2] + 1.0) * padded[0] * padded[1];
        double inference = (m * Float * channels) + (mPadded * Float * channels) + mPadded + n
            + (2 * slab * (classes + 1) * Float)
            + (batch * patchVoxels * (channels + (2 * classes)) * Float)
            + (batch * patchVoxels * (channels + (3 * classes)) * Float);

        // After segmentation: labels, postprocessing (components as int32, masks, a copy), subregions,
        // per-structure mask fields for meshing, and the shape model's fit when it runs.
        double analysis = (14 * n) + (options.Nsm == "off" ? 0 : NsmBytes);

        double peak = input + Math.Max(Math.Max(preprocess, inference), analysis);
        Dims3? modelGrid = grid.All(g => g <= int.MaxValue) ? new Dims3((int)grid[0], (int)grid[1], (int)grid[2]) : null;
        return new JobMemoryEstimate(Clamp(peak), Clamp(input), Clamp(preprocess), Clamp(inference), Clamp(analysis), modelGrid, m);
    }

    /// <summary>
    /// Throws <see cref="ImageTooLargeException"/> (IMAGE_TOO_LARGE) when the estimate passes the
    /// budget, or when the model's grid could not be held in one array at all.
    /// </summary>
    public void EnsureWithin(long budgetBytes, VolumeHeaderInfo header)
    {
        ArgumentNullException.ThrowIfNull(header);
        string dims = $"{header.Dims.I} x {header.Dims.J} x {header.Dims.K}" + (header.Frames > 1 ? $" x {header.Frames} frames" : "");
        string spacing = string.Create(CultureInfo.InvariantCulture, $"{header.SpacingMm.X:0.###} x {header.SpacingMm.Y:0.###} x {header.SpacingMm.Z:0.###} mm");
        if (ModelGridVoxels > Array.MaxLength)
        {
            throw new ImageTooLargeException(
                string.Create(CultureInfo.InvariantCulture,
                    $"The image ({dims} voxels of {header.VoxelType} at {spacing}) resampled to the model's spacing would have {ModelGridVoxels:0.###e0} voxels, more than one volume can hold; it would need about {Gb(PeakBytes)} GB, and one job may use {Gb(budgetBytes)} GB."),
                PeakBytes, budgetBytes);
        }

        if (PeakBytes > budgetBytes)
        {
            throw new ImageTooLargeException(
                string.Create(CultureInfo.InvariantCulture,
                    $"The image ({dims} voxels of {header.VoxelType} at {spacing}) would need about {Gb(PeakBytes)} GB of memory to analyse; one job may use {Gb(budgetBytes)} GB on this server."),
                PeakBytes, budgetBytes);
        }
    }

    private static double ResampledSize(int size, double spacingMm, double targetMm) =>
        targetMm > 0 && double.IsFinite(spacingMm) && spacingMm > 0 ? Math.Max(1, Math.Round(size * spacingMm / targetMm)) : size;

    private static long Clamp(double bytes) => bytes >= long.MaxValue ? long.MaxValue : (long)Math.Ceiling(bytes);

    private static string Gb(long bytes) => (bytes / 1e9).ToString(bytes >= 100e9 ? "0" : "0.0", CultureInfo.InvariantCulture);
}
