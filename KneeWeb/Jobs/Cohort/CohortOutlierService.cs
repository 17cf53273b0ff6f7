using KneeWeb.Data;
using KneeWeb.Imaging.Segmentation;
using KneeWeb.Setup;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace KneeWeb.Jobs.Cohort;

/// <summary>
/// Keeps the COHORT_OUTLIER marks of the metrics table current: re-scores a model's cohort when one of
/// its jobs completes (a few thousand rows, well under a second) and after the start-up backfill.
/// </summary>
public sealed class CohortOutlierService(JobStore store, IOptions<KneeWebOptions> options, ILogger<CohortOutlierService> logger)
{
    private readonly CohortOptions settings = options.Value.Cohort;

    /// <summary>Re-scores one model's cohort (null: jobs whose stats name no model). Never throws for a scoring problem: it logs and leaves the marks as they were.</summary>
    public async Task<OutlierAnalysis?> RefreshAsync(string? model, CancellationToken ct = default)
    {
        using IDisposable system = JobVisibility.EnterSystem();
        try
        {
            return await store.WriteAsync(async db =>
            {
                List<JobMetrics> all = await db.JobMetrics.Include(m => m.Job).Where(m => m.ModelName == model).ToListAsync(ct);
                List<JobMetrics> cohort = [.. all.Where(m => m.Job.Status == JobStatus.Completed && m.QcVerdict == QcVerdict.Pass && !m.Job.IsExcludedFromCohort).OrderBy(m => m.JobId)];
                OutlierAnalysis analysis = CohortOutliers.Analyse(cohort, settings.OutlierMinJobs, settings.OutlierThreshold);
                Dictionary<Guid, OutlierScore> byJob = analysis.Scores.ToDictionary(s => s.JobId);
                foreach (JobMetrics m in all)
                {
                    OutlierScore? score = byJob.GetValueOrDefault(m.JobId);
                    m.CohortOutlierScore = score?.Score;
                    m.CohortOutlierDrivers = score is { IsOutlier: true } ? Clip(string.Join("; ", score.Drivers)) : null;
                }

                return analysis;
            }, ct);
        }
#pragma warning disable CA1031 // Scoring runs after a job completed: whatever goes wrong in it must never turn that job into a failure.
        catch (Exception e) when (e is not OperationCanceledException)
#pragma warning restore CA1031
        {
            logger.LogWarning(e, "Cohort outliers of model {Model} could not be computed", model ?? "(none)");
            return null;
        }
    }

    /// <summary>Re-scores every model's cohort.</summary>
    public async Task RefreshAllAsync(CancellationToken ct = default)
    {
        List<string?> models;
        using (JobVisibility.EnterSystem())
        {
            models = await store.ReadAsync(db => db.JobMetrics.Select(m => m.ModelName).Distinct().ToListAsync(ct), ct);
        }

        foreach (string? model in models)
        {
            await RefreshAsync(model, ct);
        }
    }

    /// <summary>What the cohort page says about the outlier check of each model shown: how many QC-pass jobs it has against the minimum.</summary>
    public async Task<List<string>> StatusAsync(IReadOnlyCollection<string?> models, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(models);
        // Counts over the model's whole cohort (what the check uses), not only the jobs this user sees.
        using IDisposable system = JobVisibility.EnterSystem();
        var counts = await store.ReadAsync(db => db.JobMetrics
            .Where(m => m.Job.Status == JobStatus.Completed && m.QcVerdict == QcVerdict.Pass && m.Job.ExcludedFromCohortUtc == null)
            .GroupBy(m => m.ModelName)
            .Select(g => new { Model = g.Key, Jobs = g.Count(), Flagged = g.Count(m => m.CohortOutlierDrivers != null) })
            .ToListAsync(ct), ct);
        var lines = new List<string>();
        foreach (string? model in models.Distinct())
        {
            var c = counts.FirstOrDefault(x => x.Model == model);
            int jobs = c?.Jobs ?? 0;
            string name = model ?? "(no model)";
            lines.Add(jobs < settings.OutlierMinJobs
                ? $"Outlier check for {name}: needs at least {settings.OutlierMinJobs} completed QC-pass jobs, has {jobs}; no job is flagged."
                : $"Outlier check for {name}: {jobs} QC-pass jobs compared; {c!.Flagged} flagged {CohortOutliers.FlagCode}.");
        }

        return lines;
    }

    private static string Clip(string text) => text.Length <= 500 ? text : text[..500];
}
