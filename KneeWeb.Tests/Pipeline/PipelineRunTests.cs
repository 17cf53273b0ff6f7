using KneeWeb.Pipeline;
using Xunit;

namespace KneeWeb.Tests.Pipeline;

[Trait("Category", "unit")]
public sealed class PipelineRunTests
{
    private sealed class Recorder : IPipelineObserver
    {
        public List<PipelineProgress> Progress { get; } = [];

        public List<(StepDefinition Step, string Reason)> Skipped { get; } = [];

        public List<StepDefinition> Finished { get; } = [];

        public void OnProgress(PipelineProgress progress) => Progress.Add(progress);

        public void OnStepFinished(StepDefinition step, TimeSpan duration) => Finished.Add(step);

        public void OnStepSkipped(StepDefinition step, string reason) => Skipped.Add((step, reason));

        public void OnPreview(PipelinePreview preview)
        {
        }
    }

    [Fact]
    public void The_ten_steps_have_the_design_names_in_order()
    {
        Assert.Equal(
            ["Loading segmentation model", "Preprocessing image", "Running segmentation", "Postprocessing results", "Generating 3D meshes",
             "Calculating cartilage thickness", "Running Neural Shape Model", "Computing BScore", "Saving results", "Complete"],
            KneeSteps.All.Select(s => s.Name));
        Assert.Equal(Enumerable.Range(1, 10), KneeSteps.All.Select(s => s.Index));
    }

    [Fact]
    public void Overall_percent_is_finished_weights_plus_current_weight_times_its_fraction()
    {
        double total = KneeSteps.All.Sum(s => s.Weight);
        Assert.Equal(0, KneeSteps.OverallPercent(1, 0));
        Assert.Equal(100, KneeSteps.OverallPercent(10, 1));
        double expected = 100 * (KneeSteps.LoadModel.Weight + KneeSteps.Preprocess.Weight + (0.25 * KneeSteps.Segment.Weight)) / total;
        Assert.Equal(Math.Round(expected, 2), KneeSteps.OverallPercent(3, 0.25));
        // Fractions outside 0..1 are clamped, so a step can't push progress backwards or past its share.
        Assert.Equal(KneeSteps.OverallPercent(3, 1), KneeSteps.OverallPercent(3, 7));
        Assert.Equal(KneeSteps.OverallPercent(3, 0), KneeSteps.OverallPercent(3, -1));
    }

    [Fact]
    public async Task A_run_reports_monotonic_progress_timings_and_skips_with_reasons()
    {
        var recorder = new Recorder();
        var run = new PipelineRun(recorder);
        run.Skip(KneeSteps.LoadModel, "no model");
        await run.RunStepAsync(KneeSteps.Preprocess, (r, _) =>
        {
            r.Report(0.5);
            r.Report(1);
        }, CancellationToken.None);
        run.Skip(KneeSteps.Segment, "no model");

        Assert.Equal(["no model", "no model"], recorder.Skipped.Select(s => s.Reason));
        Assert.Equal([KneeSteps.Preprocess], recorder.Finished);
        double[] percents = [.. recorder.Progress.Select(p => p.OverallPercent)];
        Assert.Equal(percents.Order(), percents);
        Assert.True(run.TimingsSeconds.ContainsKey("Preprocessing image"));
        Assert.Equal([StepState.Skipped, StepState.Finished, StepState.Skipped], run.Steps.Select(s => s.State));
    }

    [Fact]
    public async Task A_failing_step_is_wrapped_with_the_step_and_recorded_failed()
    {
        var run = new PipelineRun(new Recorder());
        PipelineStepException ex = await Assert.ThrowsAsync<PipelineStepException>(() =>
            run.RunStepAsync(KneeSteps.Preprocess, (_, _) => throw new InvalidDataException("bad"), CancellationToken.None));
        Assert.Same(KneeSteps.Preprocess, ex.Step);
        Assert.IsType<InvalidDataException>(ex.InnerException);
        Assert.Equal(StepState.Failed, run.Steps.Single().State);
    }

    [Fact]
    public async Task Cancellation_passes_through_unwrapped()
    {
        using var cts = new CancellationTokenSource();
        var run = new PipelineRun(new Recorder());
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => run.RunStepAsync(KneeSteps.Preprocess, async (_, c) =>
        {
            await cts.CancelAsync();
            c.ThrowIfCancellationRequested();
        }, cts.Token));
    }
}
