using KneeWeb.Pipeline;
using KneeWeb.Tests.TestData;
using Xunit;

namespace KneeWeb.Tests.Pipeline;

/// <summary>Progress written as JSON lines by a run in another process, followed and replayed by the site.</summary>
[Trait("Category", "unit")]
public sealed class ProgressLogTests : IDisposable
{
    private readonly TempFolder work = new("kneeweb-progress");

    public void Dispose() => work.Dispose();

    [Fact]
    public void What_the_writer_saw_replays_into_another_observer_in_order_with_previews()
    {
        string path = work.File("progress.jsonl");
        var follower = new ProgressFileFollower(path);
        Assert.Empty(follower.ReadNew());

        byte[] png = [0x89, 0x50, 0x4E, 0x47, 1, 2, 3];
        using (var writer = new ProgressFileWriter(path))
        {
            writer.OnProgress(new PipelineProgress(3, 10, KneeSteps.Segment.Name, StepState.Running, 0.25, 30.5, 12, "tile 1 of 4"));
            writer.OnPreview(new PipelinePreview(png, "sagittal", 17, 0.25));
            writer.OnStepFinished(KneeSteps.Segment, TimeSpan.FromSeconds(2.5));
        }

        var seen = new RecordingObserver();
        foreach (ProgressLine line in follower.ReadNew())
        {
            ProgressLog.Replay(line, work.Path, seen);
        }

        Assert.Equal(["progress 3 Running 0.25 30.5 12 tile 1 of 4", "preview sagittal 17 0.25 7", "finished 3 2.5"], seen.Calls);
        Assert.Equal(png, seen.LastPng);
        Assert.Empty(follower.ReadNew());
    }

    [Fact]
    public void A_half_written_line_waits_for_its_end_and_a_foreign_line_is_skipped()
    {
        string path = work.File("progress.jsonl");
        var follower = new ProgressFileFollower(path);
        File.WriteAllText(path, "not json\n{\"kind\":\"StepSkipped\",\"step_index\":7,\"mess");
        Assert.Empty(follower.ReadNew());

        File.AppendAllText(path, "age\":\"off\"}\n");
        ProgressLine line = Assert.Single(follower.ReadNew());
        Assert.Equal(ProgressLineKind.StepSkipped, line.Kind);
        Assert.Equal(7, line.StepIndex);
        Assert.Equal("off", line.Message);
    }

    [Fact]
    public void A_line_naming_a_file_outside_the_folder_or_a_step_that_does_not_exist_is_ignored()
    {
        var seen = new RecordingObserver();
        ProgressLog.Replay(new ProgressLine(ProgressLineKind.Preview, 3, PreviewFile: "../../etc/passwd"), work.Path, seen);
        ProgressLog.Replay(new ProgressLine(ProgressLineKind.Progress, 42), work.Path, seen);
        Assert.Empty(seen.Calls);
    }

    private sealed class RecordingObserver : IPipelineObserver
    {
        public List<string> Calls { get; } = [];

        public byte[]? LastPng { get; private set; }

        public void OnProgress(PipelineProgress progress) =>
            Calls.Add(string.Create(System.Globalization.CultureInfo.InvariantCulture, $"progress {progress.StepIndex} {progress.StepState} {progress.StepFraction} {progress.OverallPercent} {progress.EtaSeconds} {progress.Message}"));

        public void OnStepFinished(StepDefinition step, TimeSpan duration) =>
            Calls.Add(string.Create(System.Globalization.CultureInfo.InvariantCulture, $"finished {step.Index} {duration.TotalSeconds}"));

        public void OnStepSkipped(StepDefinition step, string reason) => Calls.Add($"skipped {step.Index} {reason}");

        public void OnPreview(PipelinePreview preview)
        {
            LastPng = preview.Png;
            Calls.Add(string.Create(System.Globalization.CultureInfo.InvariantCulture, $"preview {preview.Plane} {preview.Slice} {preview.Fraction} {preview.Png.Length}"));
        }
    }
}
