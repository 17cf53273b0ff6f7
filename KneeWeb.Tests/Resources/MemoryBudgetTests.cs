using System.IO.Compression;
using KneeWeb.Imaging;
using KneeWeb.Imaging.Io;
using KneeWeb.Inference;
using KneeWeb.Pipeline;
using KneeWeb.Tests.TestData;
using Xunit;

namespace KneeWeb.Tests.Resources;

/// <summary>The memory budget decided from the header, and reads that stop where they must.</summary>
[Trait("Category", "unit")]
public sealed class MemoryBudgetTests : IDisposable
{
    private readonly TempFolder work = new("kneeweb-budget");

    public void Dispose() => work.Dispose();

    private static ModelSidecar Sidecar(string name)
    {
        string? folder = ModelRegistry.FindDefaultFolder();
        Assert.True(folder is not null, "models/ not found above the test folder");
        return ModelSidecar.Parse(File.ReadAllText(Path.Combine(folder, name + ".json")));
    }

    [Fact]
    public void The_header_of_a_gzip_bomb_is_read_without_inflating_its_voxels()
    {
        // 1024 x 1024 x 960 uint8: a complete, honest file of 1 GB of zeros, about a megabyte on disk.
        string bomb = HostileFiles.WriteNiftiGz(work.File("bomb.nii.gz"), 1024, 1024, 960);
        Assert.True(new FileInfo(bomb).Length < 8 << 20);
        long before = GC.GetAllocatedBytesForCurrentThread();
        VolumeHeaderInfo? header = VolumeIo.ReadHeader(bomb);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.NotNull(header);
        Assert.Equal(new Dims3(1024, 1024, 960), header.Dims);
        Assert.Equal(VoxelType.UInt8, header.VoxelType);
        Assert.Equal(1, header.Frames);
        Assert.Equal(1.0, header.SpacingMm.X, 6);
        Assert.True(allocated < 16 << 20, $"Reading the header allocated {allocated} bytes.");
    }

    [Theory]
    [InlineData("phantom-knee")]
    [InlineData("phantom-knee-small")]
    [InlineData("demo-knee")]
    [InlineData(null)]
    public void The_bomb_is_refused_by_its_estimate_with_sizes_in_gb(string? model)
    {
        var header = new VolumeHeaderInfo("NIfTI-1", new Dims3(1024, 1024, 960), 1, VoxelType.UInt8, new Vec3d(1, 1, 1));
        JobMemoryEstimate estimate = JobMemoryEstimate.For(header, model is null ? null : Sidecar(model), new PipelineOptions());
        // The image alone (1 GB stored + 4 GB as float32) is 5 GB; every model's grid adds far more.
        Assert.True(estimate.PeakBytes >= 5_000_000_000, $"{estimate}");
        ImageTooLargeException refused = Assert.Throws<ImageTooLargeException>(() => estimate.EnsureWithin(4_000_000_000, header));
        Assert.Contains("GB", refused.Message, StringComparison.Ordinal);
        Assert.Contains("4.0 GB", refused.Message, StringComparison.Ordinal);
        Assert.Contains("1024 x 1024 x 960", refused.Message, StringComparison.Ordinal);
        Assert.Equal(estimate.PeakBytes, refused.EstimatedBytes);
    }

    [Fact]
    public void The_estimate_grows_with_the_model_grid_frames_and_voxel_type_and_allows_a_usual_knee()
    {
        ModelSidecar phantom = Sidecar("phantom-knee");
        var knee = new VolumeHeaderInfo("NIfTI-1", new Dims3(384, 384, 160), 1, VoxelType.Int16, new Vec3d(0.36, 0.36, 0.7));
        JobMemoryEstimate usual = JobMemoryEstimate.For(knee, phantom, new PipelineOptions());
        Assert.InRange(usual.PeakBytes, 1_000_000_000, 8_000_000_000);
        usual.EnsureWithin(8_000_000_000, knee);
        Assert.True(usual.ModelGrid == new Dims3(384, 384, 160), $"{usual}");

        // Coarser voxels resample up to the model's grid: eight times the voxels of the grid.
        JobMemoryEstimate coarse = JobMemoryEstimate.For(knee with { SpacingMm = new Vec3d(0.72, 0.72, 1.4) }, phantom, new PipelineOptions());
        Assert.Equal(new Dims3(768, 768, 320), coarse.ModelGrid);
        Assert.True(coarse.PeakBytes > usual.PeakBytes && coarse.PreprocessBytes > 4 * usual.PreprocessBytes, $"{usual} / {coarse}");

        JobMemoryEstimate fourFrames = JobMemoryEstimate.For(knee with { Frames = 4 }, phantom, new PipelineOptions());
        Assert.True(fourFrames.InputBytes > usual.InputBytes);
        JobMemoryEstimate asDouble = JobMemoryEstimate.For(knee with { VoxelType = VoxelType.Float64 }, phantom, new PipelineOptions());
        Assert.True(asDouble.InputBytes > usual.InputBytes);
    }

    [Fact]
    public void A_model_grid_no_array_can_hold_is_refused_whatever_the_budget()
    {
        var header = new VolumeHeaderInfo("NIfTI-1", new Dims3(2000, 2000, 2000), 1, VoxelType.UInt8, new Vec3d(1, 1, 1));
        JobMemoryEstimate estimate = JobMemoryEstimate.For(header, Sidecar("phantom-knee"), new PipelineOptions());
        ImageTooLargeException refused = Assert.Throws<ImageTooLargeException>(() => estimate.EnsureWithin(long.MaxValue, header));
        Assert.Contains("more than one volume can hold", refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_budget_check_runs_before_any_voxel_is_allocated()
    {
        string bomb = HostileFiles.WriteNiftiGz(work.File("bomb.nii.gz"), 1024, 1024, 960);
        long before = GC.GetAllocatedBytesForCurrentThread();
        var options = new VolumeReadOptions
        {
            CheckHeader = h => JobMemoryEstimate.For(h, Sidecar("phantom-knee-small"), new PipelineOptions()).EnsureWithin(2_000_000_000, h),
        };
        Assert.Throws<ImageTooLargeException>(() => VolumeIo.Read(bomb, options));
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 16 << 20);
    }

    [Fact]
    public void A_gzip_stream_that_inflates_past_its_declared_data_is_invalid_and_a_small_tail_is_tolerated()
    {
        string liar = HostileFiles.WriteNiftiGz(work.File("liar.nii.gz"), 32, 32, 16, extraBytes: 8L << 20, CompressionLevel.Fastest);
        InvalidImageException refused = Assert.Throws<InvalidImageException>(() => VolumeIo.Read(liar));
        Assert.Contains("inflates beyond", refused.Message, StringComparison.Ordinal);

        string padded = HostileFiles.WriteNiftiGz(work.File("padded.nii.gz"), 32, 32, 16, extraBytes: 4096, CompressionLevel.Fastest);
        Volume read = VolumeIo.Read(padded);
        Assert.Equal(new Dims3(32, 32, 16), read.Dims);

        // Round trip of KneeWeb's own writer still reads.
        Assert.Equal(TestVolumes.Ramp().Dims, VolumeIo.Read(TestVolumes.WriteRamp(work.Path)).Dims);
    }

    [Fact]
    public void A_cancelled_read_stops_with_operation_cancelled()
    {
        string image = HostileFiles.WriteNiftiGz(work.File("large.nii.gz"), 256, 256, 256, level: CompressionLevel.Fastest);
        using var cancel = new CancellationTokenSource();
        cancel.Cancel();
        Assert.ThrowsAny<OperationCanceledException>(() => VolumeIo.Read(image, new VolumeReadOptions { Cancellation = cancel.Token }));
        Assert.ThrowsAny<OperationCanceledException>(() => VolumeIo.Read(image, new VolumeReadOptions { Cancellation = cancel.Token, AsFloat32 = true }));
    }

    [Fact]
    public void A_zip_of_a_thousand_one_mib_zero_files_is_refused_at_once_writing_nothing()
    {
        string zip = HostileFiles.WriteZeroZip(work.File("zeros.zip"), 1024, 1 << 20);
        Assert.True(new FileInfo(zip).Length < 4 << 20, $"{new FileInfo(zip).Length}");
        string target = work.File("extracted");
        DicomSeriesException refused = Assert.Throws<DicomSeriesException>(() => SafeArchive.ExtractZip(zip, target, VolumeReadOptions.Default));
        Assert.Contains("compression ratio", refused.Message, StringComparison.Ordinal);
        long written = Directory.EnumerateFiles(target, "*", SearchOption.AllDirectories).Sum(f => new FileInfo(f).Length);
        Assert.True(written < 1 << 20, $"{written} bytes were written before the refusal.");
    }

    [Fact]
    public void A_zip_that_would_eat_the_free_space_reserve_is_refused_as_a_full_disk_before_writing()
    {
        string zip = work.File("series.zip");
        using (ZipArchive archive = ZipFile.Open(zip, ZipArchiveMode.Create))
        {
            var random = new Random(5);
            for (int i = 0; i < 4; i++)
            {
                byte[] data = new byte[100_000];
                random.NextBytes(data);
                using Stream s = archive.CreateEntry($"IM{i}.dcm").Open();
                s.Write(data);
            }
        }

        string target = work.File("extracted");
        var options = new VolumeReadOptions { MinFreeDiskBytes = DiskSpace.FreeBytes(work.Path) + (1L << 30) };
        Assert.Throws<InsufficientDiskSpaceException>(() => SafeArchive.ExtractZip(zip, target, options));
        Assert.Empty(Directory.EnumerateFiles(target, "*", SearchOption.AllDirectories));
    }
}
