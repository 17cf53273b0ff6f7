using System.Diagnostics;

namespace KneeWeb.Pipeline;

/// <summary>
/// Progress for a step whose reports come in large units (segmentation: one per batch of tiles; a model whose
/// patch is the whole grid runs once, for minutes on a CPU). Real fractions pass through at once; between them,
/// once a second, an estimate moves the bar on inside the current unit, paced by how long the last unit took
/// (or a guess before the first), and stopping short of the unit's end so the next real report never goes back.
/// Shown fractions never decrease. Estimates carry a message saying they are estimates.
/// </summary>
public sealed class EstimatedProgress : IProgress<double>, IDisposable
{
    /// <summary>The message on estimated reports.</summary>
    public const string EstimateMessage = "estimated from the time the model has run";

    private readonly StepReporter reporter;
    private readonly TimeSpan firstUnitGuess;
    private readonly Timer timer;
    private readonly Stopwatch sinceReport = Stopwatch.StartNew();
    private readonly Lock gate = new();
    private double reported;
    private double shown;
    private double lastUnit = double.NaN;
    private double lastUnitSeconds = double.NaN;
    private bool disposed;

    /// <param name="reporter">The step's reporter.</param>
    /// <param name="firstUnitGuess">How long the first unit is taken to last until it has been timed (default 30 s).</param>
    /// <param name="tick">How often an estimate is considered (default 1 s).</param>
    public EstimatedProgress(StepReporter reporter, TimeSpan? firstUnitGuess = null, TimeSpan? tick = null)
    {
        this.reporter = reporter ?? throw new ArgumentNullException(nameof(reporter));
        this.firstUnitGuess = firstUnitGuess ?? TimeSpan.FromSeconds(30);
        TimeSpan period = tick ?? TimeSpan.FromSeconds(1);
        timer = new Timer(_ => Tick(), null, period, period);
    }

    public void Report(double value)
    {
        lock (gate)
        {
            if (disposed)
            {
                return;
            }

            if (value > reported)
            {
                lastUnit = value - reported;
                lastUnitSeconds = sinceReport.Elapsed.TotalSeconds;
                reported = value;
                sinceReport.Restart();
            }

            if (value > shown)
            {
                shown = value;
                reporter.Report(value);
            }
        }
    }

    private void Tick()
    {
        lock (gate)
        {
            if (disposed || reported >= 1)
            {
                return;
            }

            double unit = double.IsNaN(lastUnit) ? 1 - reported : Math.Min(lastUnit, 1 - reported);
            double tau = double.IsNaN(lastUnitSeconds) ? firstUnitGuess.TotalSeconds : Math.Max(lastUnitSeconds, 0.5);
            double estimate = reported + (0.9 * unit * (1 - Math.Exp(-sinceReport.Elapsed.TotalSeconds / tau)));
            // Steps of a tenth of a percent of the step at least: no flood of identical reports.
            if (estimate < shown + 0.001)
            {
                return;
            }

            shown = estimate;
            reporter.Report(estimate, EstimateMessage);
        }
    }

    public void Dispose()
    {
        lock (gate)
        {
            disposed = true;
        }

        timer.Dispose();
    }
}
