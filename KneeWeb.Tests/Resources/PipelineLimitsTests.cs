using System.IO.Compression;
using KneeWeb.Imaging;
using KneeWeb.Jobs;
using KneeWeb.Pipeline;
using KneeWeb.Tests.TestData;
using Xunit;

namespace KneeWeb.Tests.Resources;

/// <summary>The pipeline itself refuses an image over its budget before reading voxels, and stops reading when cancelled.</summary>
[Trait("Category", "unit")]
public sealed class PipelineLimitsTests : IDisposable
{
    private readonly TempFolder work = new("kneeweb-limits");

    public void Dispose() => work.Dispose();

    /// <summary>Cancels the run the moment the named step reports the given message (an event, not a clock).</summary>
    private sealed class CancelOnMessage(StepDefinition step, string messageStart, CancellationTokenSource cancel) : IPipelineObserver
    {
        public bool Seen { get; private set; }

        public void OnProgress(PipelineProgress progress)
        {
            if (progress.StepIndex == step.Index && progress.Message?.StartsWith(messageStart, StringComparison.Ordinal) == true)
            {
                Seen = true;
                cancel.Cancel();
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

    /// <summary>No model installed: the image alone (stored + float32) is what the budget weighs.</summary>
    private SegmentationEngine Engine()
    {
        string empty = work.File("no-models");
        Directory.CreateDirectory(empty);
        return new SegmentationEngine(empty);
    }

    private PipelineContext Context(string input, long? budget) => new()
    {
        JobId = Guid.NewGuid(),
        InputPath = input,
        InputFileName = Path.GetFileName(input),
        Options = new PipelineOptions(),
        OutputFolder = work.File("job"),
        MemoryBudgetBytes = budget,
    };

    [Fact]
    public async Task A_job_over_its_budget_fails_with_IMAGE_TOO_LARGE_before_reading_voxels()
    {
        string bomb = HostileFiles.WriteNiftiGz(work.File("bomb.nii.gz"), 1024, 1024, 960);
        var pipeline = new KneePipeline(Engine());
        using var never = new CancellationTokenSource();
        Exception failure = await Assert.ThrowsAnyAsync<Exception>(() =>
            pipeline.RunAsync(Context(bomb, 2_000_000_000), new PipelineRun(new CancelOnMessage(KneeSteps.Save, "-", never)), CancellationToken.None));
        JobError error = ErrorMapper.Map(failure, null);
        Assert.Equal(ErrorCode.IMAGE_TOO_LARGE, error.Code);
        Assert.Contains("2.0 GB", error.Message, StringComparison.Ordinal);
        Assert.Contains("5.0 GB", error.Message, StringComparison.Ordinal); // 1 GB of uint8 + 4 GB as float32
        Assert.False(Directory.Exists(work.File("job")));
    }

    [Fact]
    public async Task A_job_cancelled_while_reading_a_large_image_ends_cancelled_in_the_read()
    {
        // 512 x 512 x 384 uint8 (100 MB of voxels): within any budget, and a read of many chunks.
        string large = HostileFiles.WriteNiftiGz(work.File("large.nii.gz"), 512, 512, 384, level: CompressionLevel.Fastest);
        var pipeline = new KneePipeline(Engine());
        using var cancel = new CancellationTokenSource();
        var observer = new CancelOnMessage(KneeSteps.Preprocess, "Reading", cancel);
        Exception failure = await Assert.ThrowsAnyAsync<Exception>(() =>
            pipeline.RunAsync(Context(large, long.MaxValue), new PipelineRun(observer), cancel.Token));
        Assert.True(observer.Seen);
        Assert.Equal(ErrorCode.CANCELLED, ErrorMapper.Map(failure, null).Code);
        if (failure is PipelineStepException step)
        {
            Assert.Equal(KneeSteps.Preprocess.Name, step.Step?.Name);
        }

        Assert.False(Directory.Exists(work.File("job")));
    }
}
