using System.Diagnostics;

namespace KneeWeb.Pipeline;

/// <summary>
/// Runs steps one after another and turns their own fractions into overall progress, ETA and
/// per-step timings. A step reports fractions through the <see cref="StepReporter"/> it is given.
/// </summary>
public sealed class PipelineRun(IPipelineObserver observer, TimeSpan diagnosticStepDelay = default)
{
    private readonly Stopwatch total = Stopwatch.StartNew();
    private readonly Dictionary<string, double> timingsSeconds = new(StringComparer.Ordinal);
    private readonly List<StepRecord> records = [];

    /// <summary>Seconds per step name, in run order (stats.json "timings_s").</summary>
    public IReadOnlyDictionary<string, double> TimingsSeconds => timingsSeconds;

    public IReadOnlyList<StepRecord> Steps => records;

    public async Task RunStepAsync(StepDefinition step, Func<StepReporter, CancellationToken, Task> body, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(step);
        ArgumentNullException.ThrowIfNull(body);
        ct.ThrowIfCancellationRequested();
        var reporter = new StepReporter(this, step);
        reporter.Report(0);
        var watch = Stopwatch.StartNew();
        try
        {
            if (diagnosticStepDelay > TimeSpan.Zero)
            {
                await Task.Delay(diagnosticStepDelay, ct);
            }

            await body(reporter, ct);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            records.Add(new StepRecord(step.Index, step.Name, StepState.Failed, watch.Elapsed.TotalSeconds, "cancelled"));
            throw;
        }
        catch (Exception ex) when (ex is not PipelineStepException)
        {
            records.Add(new StepRecord(step.Index, step.Name, StepState.Failed, watch.Elapsed.TotalSeconds, ex.Message));
            throw new PipelineStepException(step, ex);
        }

        double seconds = Math.Round(watch.Elapsed.TotalSeconds, 4);
        timingsSeconds[step.Name] = seconds;
        records.Add(new StepRecord(step.Index, step.Name, StepState.Finished, seconds, null));
        observer.OnProgress(Progress(step, StepState.Finished, 1, null));
        observer.OnStepFinished(step, watch.Elapsed);
    }

    public Task RunStepAsync(StepDefinition step, Action<StepReporter, CancellationToken> body, CancellationToken ct) =>
        RunStepAsync(step, (r, c) =>
        {
            body(r, c);
            return Task.CompletedTask;
        }, ct);

    /// <summary>Marks a step skipped with the reason people will see.</summary>
    public void Skip(StepDefinition step, string reason)
    {
        ArgumentNullException.ThrowIfNull(step);
        records.Add(new StepRecord(step.Index, step.Name, StepState.Skipped, 0, reason));
        observer.OnStepSkipped(step, reason);
        observer.OnProgress(Progress(step, StepState.Skipped, 1, reason));
    }

    public void Preview(PipelinePreview preview) => observer.OnPreview(preview);

    internal void Report(StepDefinition step, double fraction, string? message) =>
        observer.OnProgress(Progress(step, StepState.Running, fraction, message));

    private PipelineProgress Progress(StepDefinition step, StepState state, double fraction, string? message)
    {
        double percent = KneeSteps.OverallPercent(step.Index, fraction);
        double? eta = null;
        double elapsed = total.Elapsed.TotalSeconds;
        // Weight-based ETA: a guess until a few percent are done, so say nothing before then.
        if (percent >= 3 && percent < 100)
        {
            eta = Math.Round(elapsed * (100 - percent) / percent, 1);
        }

        return new PipelineProgress(step.Index, KneeSteps.All.Count, step.Name, state, Math.Clamp(fraction, 0, 1), percent, eta, message);
    }
}

/// <summary>How one step tells the run how far along it is (0..1).</summary>
public sealed class StepReporter : IProgress<double>
{
    private readonly PipelineRun run;

    internal StepReporter(PipelineRun run, StepDefinition step)
    {
        this.run = run;
        Step = step;
    }

    public StepDefinition Step { get; }

    public void Report(double value) => run.Report(Step, value, null);

    public void Report(double value, string message) => run.Report(Step, value, message);

    public void Preview(PipelinePreview preview) => run.Preview(preview);
}

/// <summary>One step's outcome, as written to stats.json and the job timeline.</summary>
public sealed record StepRecord(int Index, string Name, StepState State, double DurationSeconds, string? Reason);
