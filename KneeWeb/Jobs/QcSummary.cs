using System.Collections.Concurrent;
using System.Globalization;
using KneeWeb.Data;
using KneeWeb.Imaging.Segmentation;
using KneeWeb.Setup;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace KneeWeb.Jobs;

/// <summary>
/// A job's QC verdict with the counts behind it, as the job page, the result page and the jobs list
/// show it ("QC: review, 3 warnings"). Built from stats.json's flags through <see cref="QcVerdicts"/>,
/// raised to review by the cohort's COHORT_OUTLIER flag (stored on the job's <see cref="JobMetrics"/> row,
/// never in stats.json) through <see cref="WithCohortOutlier"/>, so every page agrees with the cohort and the CSV.
/// </summary>
public sealed record QcSummary(QcVerdict Verdict, int Errors, int Warnings)
{
    /// <summary>The metrics that made the job a cohort outlier ("Tibia volume (mm³) +6.1 SD; ..."), or null when it is not one.</summary>
    public string? CohortOutlierDrivers { get; init; }

    public bool IsCohortOutlier => CohortOutlierDrivers is not null;

    /// <summary>
    /// This summary with the cohort outlier flag (null drivers: not an outlier) applied as
    /// <see cref="JobMetrics.Verdict"/> applies it: pass becomes review, review and fail stay.
    /// </summary>
    public QcSummary WithCohortOutlier(string? drivers) => drivers is null
        ? this with { CohortOutlierDrivers = null }
        : this with { CohortOutlierDrivers = drivers, Verdict = Verdict == QcVerdict.Pass ? QcVerdict.Review : Verdict };

    /// <summary>The summary of a metrics row (the cohort's view of the same job).</summary>
    public static QcSummary Of(JobMetrics metrics)
    {
        ArgumentNullException.ThrowIfNull(metrics);
        return new QcSummary(metrics.QcVerdict, metrics.QcErrors, metrics.QcWarnings).WithCohortOutlier(metrics.CohortOutlierDrivers);
    }

    public static QcSummary From(IReadOnlyList<QcFlagView> flags)
    {
        ArgumentNullException.ThrowIfNull(flags);
        int errors = 0;
        int warnings = 0;
        foreach (QcFlagView f in flags)
        {
            switch (QcVerdicts.ParseSeverity(f.Severity))
            {
                case QcSeverity.Error:
                    errors++;
                    break;
                case QcSeverity.Warning:
                    warnings++;
                    break;
            }
        }

        return new QcSummary(QcVerdicts.FromSeverityNames(flags.Select(f => f.Severity)), errors, warnings);
    }

    /// <summary>The verdict of a stats.json, or null when it has no QC section (QC did not run).</summary>
    public static QcSummary? Of(ResultStats? stats) => stats is { HasQc: true } ? From(stats.QcFlags) : null;

    /// <summary>"QC: fail, 4 errors, 9 warnings", "QC: review, 1 warning", "QC: review, cohort outlier", "QC: pass".</summary>
    public string Text
    {
        get
        {
            var parts = new List<string>(2);
            if (Errors > 0)
            {
                parts.Add(Count(Errors, "error"));
            }

            if (Warnings > 0)
            {
                parts.Add(Count(Warnings, "warning"));
            }

            if (IsCohortOutlier)
            {
                parts.Add("cohort outlier");
            }

            return parts.Count == 0 ? $"QC: {Verdict.Name()}" : $"QC: {Verdict.Name()}, {string.Join(", ", parts)}";
        }
    }

    private static string Count(int n, string what) => string.Create(CultureInfo.InvariantCulture, $"{n} {what}{(n == 1 ? "" : "s")}");
}

/// <summary>
/// The QC verdicts of completed jobs for lists: each job's stats.json is read once (a completed job's
/// results do not change) and kept, so a list of hundreds of jobs does not reparse them on every update.
/// </summary>
public sealed class JobQcSummaries(IOptions<KneeWebOptions> options, JobStore store, ILogger<JobQcSummaries> logger)
{
    // Bounded: past this many entries the cache starts over (a verdict is cheap to read again).
    private const int MaxEntries = 20_000;
    private readonly ConcurrentDictionary<Guid, QcSummary?> cache = new();

    /// <summary>The stats.json verdict of a completed job (apply <see cref="QcSummary.WithCohortOutlier"/> for the full verdict); null for other states, no stats.json, no QC section or an unreadable file.</summary>
    public QcSummary? For(Job job)
    {
        ArgumentNullException.ThrowIfNull(job);
        if (job.Status != JobStatus.Completed)
        {
            return null;
        }

        if (cache.TryGetValue(job.Id, out QcSummary? known))
        {
            return known;
        }

        QcSummary? summary = Read(job.Id);
        if (cache.Count >= MaxEntries)
        {
            cache.Clear();
        }

        cache[job.Id] = summary;
        return summary;
    }

    /// <summary>
    /// The cohort outlier drivers of every flagged job, by job id. Read fresh on each call (not cached: the
    /// marks change whenever a model's cohort is re-scored); outliers are few, so this is one small query.
    /// </summary>
    public async Task<IReadOnlyDictionary<Guid, string>> CohortOutliersAsync(CancellationToken ct = default)
    {
        // The caller has already limited its jobs to those the user may see; this only adds their marks.
        using IDisposable system = JobVisibility.EnterSystem();
        return await store.ReadAsync(
            async db => (IReadOnlyDictionary<Guid, string>)await db.JobMetrics
                .Where(m => m.CohortOutlierDrivers != null)
                .ToDictionaryAsync(m => m.JobId, m => m.CohortOutlierDrivers!, ct),
            ct);
    }

    /// <summary>The cohort outlier drivers of one job, or null when it is not flagged.</summary>
    public async Task<string?> CohortOutlierAsync(Guid jobId, CancellationToken ct = default)
    {
        using IDisposable system = JobVisibility.EnterSystem();
        return await store.ReadAsync(
            db => db.JobMetrics.Where(m => m.JobId == jobId).Select(m => m.CohortOutlierDrivers).FirstOrDefaultAsync(ct),
            ct);
    }

    /// <summary>Drops a job's entry (deleted, or its results rewritten).</summary>
    public void Forget(Guid jobId) => cache.TryRemove(jobId, out _);

    private QcSummary? Read(Guid jobId)
    {
        try
        {
            return QcSummary.Of(ResultStats.Load(options.Value.JobsPath, jobId));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or System.Text.Json.JsonException)
        {
            logger.LogWarning(e, "The stats.json of job {JobId} could not be read for its QC verdict", jobId);
            return null;
        }
    }
}
