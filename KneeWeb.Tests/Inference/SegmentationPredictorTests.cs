using KneeWeb.Imaging;
using KneeWeb.Inference;
using KneeWeb.Inference.ModelBuilding;
using Xunit;

namespace KneeWeb.Tests.Inference;

[Trait("Category", "unit")]
public sealed class SegmentationPredictorTests(InferenceFixture fixture) : IClassFixture<InferenceFixture>
{
    private static readonly SegmentationOptions Cpu = new() { Provider = ExecutionProviderPreference.Cpu, IntraOpThreads = 2 };

    private ModelEntry DemoEntry()
    {
        string folder = Path.Combine(fixture.Folder, "models-demo");
        Directory.CreateDirectory(folder);
        if (!File.Exists(Path.Combine(folder, DemoModel.Name + ".onnx")))
        {
            DemoModel.Write(folder);
        }

        ModelEntry? entry = new ModelRegistry(folder, fixture.Runtime).Find(DemoModel.Name);
        Assert.NotNull(entry);
        Assert.True(entry.Enabled, entry.DisabledReason);
        return entry;
    }

    [Fact]
    public async Task Demo_model_segments_the_synthetic_knee_with_dice_above_0_9_on_every_structure()
    {
        (Volume image, byte[] truth) = SyntheticKnee.Create(new Vec3d(0.5, 0.5, 1.0));
        var previews = new List<SegmentationPreview>();
        var fractions = new List<double>();
        var predictor = new SegmentationPredictor(fixture.Runtime);
        SegmentationResult result = await predictor.SegmentAsync(image, DemoEntry(), Cpu, new SyncProgress(fractions), previews.Add, CancellationToken.None);

        Assert.Equal(image.Geometry, result.Labels.Geometry);
        Assert.Equal(VoxelType.UInt8, result.Labels.VoxelType);
        byte[] labels = result.Labels.Span<byte>().ToArray();
        for (byte label = 1; label <= 9; label++)
        {
            double dice = SyntheticKnee.Dice(labels, truth, label);
            Assert.True(dice >= 0.9, $"label {label}: Dice {dice:F3}");
        }

        Assert.Equal(InferenceProvider.Cpu, result.Provider);
        Assert.True(result.Tiles > 1, "the 96x96x48 grid needs several 64x64x32 tiles");
        Assert.Equal(1.0, fractions[^1]);
        SegmentationPreview last = Assert.IsType<SegmentationPreview>(previews[^1]);
        Assert.Equal(1.0, last.Fraction);
        Assert.Equal(96 * 96, last.AcrossK.Labels.Length);
        Assert.Contains(last.AcrossK.Labels, l => l != 0);
    }

    [Fact]
    public async Task Labels_land_on_the_input_grid_when_the_model_resamples()
    {
        (Volume image, byte[] truth) = SyntheticKnee.Create(new Vec3d(0.4, 0.4, 0.8), noise: 10);
        var predictor = new SegmentationPredictor(fixture.Runtime);
        SegmentationResult result = await predictor.SegmentAsync(image, DemoEntry(), Cpu, null, null, CancellationToken.None);
        Assert.Equal(image.Geometry, result.Labels.Geometry);
        Assert.Equal(new Dims3(96, 96, 48), result.ModelGrid); // 48 mm at 0.5 x 0.5 x 1.0 mm
        byte[] labels = result.Labels.Span<byte>().ToArray();
        // Linear resampling blends neighbouring structures at their borders; the bulky ones stay clean.
        Assert.True(SyntheticKnee.Dice(labels, truth, 1) >= 0.9);
        Assert.True(SyntheticKnee.Dice(labels, truth, 2) >= 0.9);
    }

    [Theory]
    [InlineData(0.5, 0.5, 1.0)] // the model's own spacing: labels come back voxel for voxel
    [InlineData(0.4, 0.4, 0.8)] // resampled: scores come back linearly, from the one output tensor
    public async Task A_whole_grid_patch_runs_one_tile_and_gives_the_tiled_labels(double si, double sj, double sk)
    {
        (Volume image, _) = SyntheticKnee.Create(new Vec3d(si, sj, sk), sizeMm: 40);
        string folder = Path.Combine(fixture.Folder, "models-whole-grid");
        Directory.CreateDirectory(folder);
        if (!File.Exists(Path.Combine(folder, DemoModel.Name + ".onnx")))
        {
            DemoModel.Write(folder, patchSizeIjk: [96, 96, 48]); // covers the 80x80x40 model grid, padded
        }

        ModelEntry? whole = new ModelRegistry(folder, fixture.Runtime).Find(DemoModel.Name);
        Assert.NotNull(whole);
        using var predictor = new SegmentationPredictor(fixture.Runtime);
        SegmentationResult single = await predictor.SegmentAsync(image, whole, Cpu, null, null, CancellationToken.None);
        SegmentationResult tiled = await predictor.SegmentAsync(image, DemoEntry(), Cpu, null, null, CancellationToken.None);
        Assert.Equal(1, single.Tiles);
        Assert.True(tiled.Tiles > 1);
        Assert.Equal(image.Geometry, single.Labels.Geometry);
        byte[] a = single.Labels.Span<byte>().ToArray(), b = tiled.Labels.Span<byte>().ToArray();
        // A pointwise model gives the same scores in any tile; weighted means may differ in the last bit.
        int differ = 0;
        for (int n = 0; n < a.Length; n++)
        {
            differ += a[n] == b[n] ? 0 : 1;
        }

        Assert.True(differ <= a.Length / 100_000, $"{differ} of {a.Length} labels differ");
        Assert.Contains(a, label => label == 9);
    }

    [Fact]
    public async Task Mirroring_overlap_and_batch_do_not_change_a_pointwise_model()
    {
        (Volume image, _) = SyntheticKnee.Create(new Vec3d(0.5, 0.5, 1.0), sizeMm: 40);
        var predictor = new SegmentationPredictor(fixture.Runtime);
        ModelEntry model = DemoEntry();
        SegmentationResult plain = await predictor.SegmentAsync(image, model, Cpu with { BatchSize = 1 }, null, null, CancellationToken.None);
        SegmentationResult mirrored = await predictor.SegmentAsync(image, model, Cpu with { Mirroring = MirroringMode.On, BatchSize = 3, Overlap = 0.25 }, null, null, CancellationToken.None);
        Assert.True(mirrored.Mirrored);
        Assert.Equal(plain.Labels.Span<byte>().ToArray(), mirrored.Labels.Span<byte>().ToArray());
    }

    [Fact]
    public async Task Previews_follow_the_interval_and_show_labels_found_so_far()
    {
        (Volume image, _) = SyntheticKnee.Create(new Vec3d(0.5, 0.5, 1.0));
        using var predictor = new SegmentationPredictor(fixture.Runtime) { TestSeam = new PredictorTestSeam { PreviewInterval = TimeSpan.Zero } };
        var every = new List<SegmentationPreview>();
        SegmentationResult first = await predictor.SegmentAsync(image, DemoEntry(), Cpu with { BatchSize = 1 }, null, every.Add, CancellationToken.None);
        Assert.Equal(first.Tiles + 2, every.Count); // the image as tiling starts, one per tile, and the final one
        Assert.Equal(0, every[0].Fraction);
        Assert.All(every[0].AcrossJ.Labels, l => Assert.Equal(0, l));
        for (int n = 1; n < every.Count; n++)
        {
            Assert.True(every[n].Fraction >= every[n - 1].Fraction);
        }

        Assert.Equal(96 * 48, every[^1].AcrossJ.Image.Length);
        Assert.Equal(96 * 48, every[^1].AcrossI.Labels.Length);
        Assert.True(every[^1].AcrossJ.Labels.Count(l => l != 0) >= every[1].AcrossJ.Labels.Count(l => l != 0));

        using var hourlyPredictor = new SegmentationPredictor(fixture.Runtime) { TestSeam = new PredictorTestSeam { PreviewInterval = TimeSpan.FromHours(1) } };
        var hourly = new List<SegmentationPreview>();
        SegmentationResult second = await hourlyPredictor.SegmentAsync(image, DemoEntry(), Cpu with { BatchSize = 1 }, null, hourly.Add, CancellationToken.None);
        Assert.Equal([0.0, 1.0], hourly.Select(p => p.Fraction)); // forced: the image as tiling starts, and the final preview
        Assert.Equal(first.Labels.Span<byte>().ToArray(), second.Labels.Span<byte>().ToArray());
    }

    [Fact]
    public async Task Out_of_memory_halves_the_batch_and_records_it()
    {
        (Volume image, _) = SyntheticKnee.Create(new Vec3d(0.5, 0.5, 1.0), sizeMm: 40);
        var predictor = new SegmentationPredictor(fixture.Runtime) { TestSeam = new PredictorTestSeam { SimulateOutOfMemory = (_, batch) => batch > 1 } };
        SegmentationResult result = await predictor.SegmentAsync(
            image, DemoEntry(), Cpu with { BatchSize = 4 }, null, null, CancellationToken.None);
        Assert.Equal(1, result.BatchSize);
        Assert.Contains(result.Fallbacks, f => f.Contains("batch halved to 2", StringComparison.Ordinal));
        Assert.Contains(result.Fallbacks, f => f.Contains("batch halved to 1", StringComparison.Ordinal));

        var failing = new SegmentationPredictor(fixture.Runtime) { TestSeam = new PredictorTestSeam { SimulateOutOfMemory = (_, _) => true } };
        await Assert.ThrowsAsync<InferenceFailedException>(() => failing.SegmentAsync(
            image, DemoEntry(), Cpu, null, null, CancellationToken.None));
    }

    [Fact]
    public async Task Cancellation_stops_the_prediction()
    {
        (Volume image, _) = SyntheticKnee.Create(new Vec3d(0.5, 0.5, 1.0));
        using var cancellation = new CancellationTokenSource();
        var predictor = new SegmentationPredictor(fixture.Runtime);
        var progress = new SyncProgress([], fraction =>
        {
            if (fraction > 0)
            {
                cancellation.Cancel();
            }
        });
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => predictor.SegmentAsync(image, DemoEntry(), Cpu with { BatchSize = 1 }, progress, null, cancellation.Token));
    }

    [Fact]
    public async Task A_disabled_model_or_a_wrong_channel_count_is_a_configuration_error()
    {
        (Volume image, _) = SyntheticKnee.Create(new Vec3d(1, 1, 1), sizeMm: 16);
        var predictor = new SegmentationPredictor(fixture.Runtime);
        ModelEntry disabled = DemoEntry() with { DisabledReason = "checksum mismatch" };
        ModelConfigurationException error = await Assert.ThrowsAsync<ModelConfigurationException>(
            () => predictor.SegmentAsync(image, disabled, Cpu, null, null, CancellationToken.None));
        Assert.Contains("checksum mismatch", error.Message, StringComparison.Ordinal);

        var twoFrames = new Volume(image.Geometry, VoxelType.Int16, new short[image.Dims.VoxelCount * 2], frames: 2);
        await Assert.ThrowsAsync<ModelConfigurationException>(() => predictor.SegmentAsync(twoFrames, DemoEntry(), Cpu, null, null, CancellationToken.None));
    }

    [Fact]
    public void Tiles_follow_nnunet_placement_and_the_gaussian_peaks_at_the_centre()
    {
        Assert.Equal([0, 18, 36], SlidingWindow.Starts(100, 64, 0.5));
        Assert.Equal([0], SlidingWindow.Starts(64, 64, 0.5));
        Assert.Equal([0], SlidingWindow.Starts(40, 64, 0.5));
        Assert.Equal([0, 32, 64], SlidingWindow.Starts(128, 64, 0.5));
        float[] map = SlidingWindow.ImportanceMap(8, 8, 8);
        Assert.Equal(1f, map[(4 * 64) + (4 * 8) + 4], 5);
        Assert.All(map, v => Assert.True(v > 0));
        Assert.True(map[0] < map[(4 * 64) + (4 * 8) + 4]);
    }

    /// <summary>IProgress that reports on the calling thread (Progress&lt;T&gt; posts to the pool and may report late).</summary>
    private sealed class SyncProgress(List<double> fractions, Action<double>? onReport = null) : IProgress<double>
    {
        public void Report(double value)
        {
            lock (fractions)
            {
                fractions.Add(value);
            }

            onReport?.Invoke(value);
        }
    }
}
