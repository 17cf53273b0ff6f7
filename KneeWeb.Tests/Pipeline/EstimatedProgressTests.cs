using System.Collections.Concurrent;
using KneeWeb.Pipeline;
using Xunit;

namespace KneeWeb.Tests.Pipeline;

/// <summary>Estimates between a step's real reports: they move, never go back, and never reach the next real report.</summary>
[Trait("Category", "unit")]
public sealed class EstimatedProgressTests
{
    private sealed class Observer : IPipelineObserver
    {
        public ConcurrentQueue<PipelineProgress> Reports { get; } = new();

        public event Action<PipelineProgress>? Reported;

        public void OnProgress(PipelineProgress progress)
        {
            Reports.Enqueue(progress);
            Reported?.Invoke(progress);
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

    /// <summary>Waits for <paramref name="count"/> estimated reports after now (events, not time).</summary>
    private static Task EstimatesAsync(Observer observer, int count)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        int seen = 0;
        observer.Reported += p =>
        {
            if (p.Message == EstimatedProgress.EstimateMessage && Interlocked.Increment(ref seen) == count)
            {
                done.TrySetResult();
            }
        };
        return done.Task;
    }

    [Fact]
    public async Task A_long_first_unit_moves_on_estimates_that_stay_below_its_end_and_real_reports_pass_through()
    {
        var observer = new Observer();
        var run = new PipelineRun(observer);
        await run.RunStepAsync(KneeSteps.Segment, async (reporter, ct) =>
        {
            using var estimated = new EstimatedProgress(reporter, firstUnitGuess: TimeSpan.FromSeconds(10), tick: TimeSpan.FromMilliseconds(20));
            // One unit (a whole-grid model's only run): estimates only, below 0.9 of the step.
            await EstimatesAsync(observer, 3);
            estimated.Report(0.5); // the first of two tiles
            await EstimatesAsync(observer, 3);
            estimated.Report(1);
        }, CancellationToken.None);

        PipelineProgress[] running = [.. observer.Reports.Where(p => p.StepIndex == KneeSteps.Segment.Index && p.StepState == StepState.Running)];
        double[] fractions = [.. running.Select(p => p.StepFraction)];
        for (int i = 1; i < fractions.Length; i++)
        {
            Assert.True(fractions[i] >= fractions[i - 1], $"Fractions went back: {string.Join(", ", fractions)}");
        }

        // Paced by a 10 s guess, the first unit's estimates stay far below the real 0.5 that ends it.
        double[] beforeHalf = [.. running.TakeWhile(p => p.Message is not null || p.StepFraction < 0.5).Where(p => p.Message == EstimatedProgress.EstimateMessage).Select(p => p.StepFraction)];
        Assert.True(beforeHalf.Length >= 3 && beforeHalf.All(f => f is > 0 and < 0.5), $"No estimates inside the first unit: {string.Join(", ", fractions)}");
        Assert.Contains(running, p => p.StepFraction == 0.5 && p.Message is null);
        double[] secondUnit = [.. running.Where(p => p.Message == EstimatedProgress.EstimateMessage && p.StepFraction > 0.5).Select(p => p.StepFraction)];
        Assert.True(secondUnit.Length >= 3, $"No estimates inside the second unit: {string.Join(", ", fractions)}");
        // Paced by the first unit's length and capped at 90 % of the second: never at or past the real end.
        Assert.All(secondUnit, f => Assert.True(f < 0.5 + (0.9 * 0.5) + 1e-9, $"estimate {f} reached the next report"));
        Assert.Equal(1, running[^1].StepFraction);
        // Overall percent follows: strictly inside step 3's share until the step finishes.
        Assert.All(running.Where(p => p.StepFraction is > 0 and < 1), p => Assert.InRange(p.OverallPercent, KneeSteps.OverallPercent(3, 0), KneeSteps.OverallPercent(3, 1)));
    }

    [Fact]
    public async Task A_real_report_below_the_shown_estimate_does_not_move_the_bar_back()
    {
        var observer = new Observer();
        var run = new PipelineRun(observer);
        await run.RunStepAsync(KneeSteps.Segment, (reporter, ct) =>
        {
            using var estimated = new EstimatedProgress(reporter, tick: TimeSpan.FromDays(1));
            estimated.Report(0.3);
            estimated.Report(0.2);
            estimated.Report(0.6);
        }, CancellationToken.None);

        Assert.Equal([0, 0.3, 0.6, 1], observer.Reports.Select(p => p.StepFraction));
    }
}
