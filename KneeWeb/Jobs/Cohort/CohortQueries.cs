using System.Globalization;
using System.Linq.Expressions;
using System.Text;
using System.Text.Json;
using KneeWeb.Data;
using KneeWeb.Imaging.Segmentation;
using KneeWeb.Pipeline;
using Microsoft.EntityFrameworkCore;

namespace KneeWeb.Jobs.Cohort;

/// <summary>
/// Filters of the cohort table; every field optional. Subject and model match case-insensitively as
/// substrings; a tag matches one of the job's tags exactly (after the same normalisation as when tagging).
/// </summary>
public sealed record CohortFilter(
    string? Subject = null,
    string? Tag = null,
    string? Model = null,
    DateTime? FromUtc = null,
    DateTime? ToUtc = null,
    JobStatus? Status = JobStatus.Completed)
{
    /// <summary>Only jobs with this verdict (a cohort outlier counts as review).</summary>
    public QcVerdict? Verdict { get; init; }

    /// <summary>Also list jobs a user excluded from the cohort (left out by default).</summary>
    public bool IncludeExcluded { get; init; }
}

/// <summary>One job of the cohort table with its metrics row (null when it has none: not completed, or stats.json unreadable).</summary>
public sealed record CohortRow(
    Guid Id,
    string? Subject,
    string? KneeSide,
    string Owner,
    DateTime CreatedUtc,
    JobStatus Status,
    string? Notes,
    string? Model,
    JobMetrics? Metrics)
{
    /// <summary>The job's tags (normalised), in the order given.</summary>
    public IReadOnlyList<string> Tags { get; init; } = [];

    public bool Excluded { get; init; }

    /// <summary>pass / review / fail; null when the job has no metrics.</summary>
    public QcVerdict? Verdict => Metrics?.Verdict;

    /// <summary>The QC flag codes, COHORT_OUTLIER last when the cohort check flagged the job.</summary>
    public IReadOnlyList<string> QcFlagCodes =>
        Metrics is null ? [] : [.. Metrics.QcFlags.Split("; ", StringSplitOptions.RemoveEmptyEntries), .. Metrics.IsCohortOutlier ? [CohortOutliers.FlagCode] : Array.Empty<string>()];

    public double? Value(CohortMetric metric) => metric?.Of(Metrics);
}

/// <summary>A page of the cohort: the rows asked for and how many match in all.</summary>
public sealed record CohortSlice(IReadOnlyList<CohortRow> Rows, int Total);

/// <summary>The cohort table from the metrics table: filtered, sorted and paged in SQL; and its CSV.</summary>
public sealed class CohortQueries(JobStore store)
{
    /// <summary>Fixed (non-metric) sort keys.</summary>
    public static readonly string[] FixedSortKeys = ["subject", "created", "knee", "verdict", "model", "status"];

    /// <summary>One page of matching jobs, ordered by <paramref name="sortKey"/> (a fixed key or a metric key; jobs without the value last).</summary>
    public Task<CohortSlice> PageAsync(CohortFilter filter, string sortKey = "created", bool descending = true, int skip = 0, int take = 100, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(filter);
        ArgumentOutOfRangeException.ThrowIfNegative(skip);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(take);
        return store.ReadAsync(async db =>
        {
            IQueryable<Job> q = Filter(db.Jobs.AsNoTracking(), filter);
            int total = await q.CountAsync(ct);
            List<CohortRow> rows = await ReadRowsAsync(Sort(q, sortKey, descending).Skip(skip).Take(take), ct);
            return new CohortSlice(rows, total);
        }, ct);
    }

    /// <summary>Every matching job, oldest first (the CSV).</summary>
    public Task<List<CohortRow>> ListAsync(CohortFilter filter, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(filter);
        return store.ReadAsync(db => ReadRowsAsync(Filter(db.Jobs.AsNoTracking(), filter).OrderBy(j => j.CreatedUtc).ThenBy(j => j.Id), ct), ct);
    }

    /// <summary>The filter as SQL: nothing is filtered after reading, so paging never drops a matching job.</summary>
    public static IQueryable<Job> Filter(IQueryable<Job> q, CohortFilter filter)
    {
        ArgumentNullException.ThrowIfNull(q);
        ArgumentNullException.ThrowIfNull(filter);
        if (filter.Status is { } status)
        {
            q = q.Where(j => j.Status == status);
        }

        if (!filter.IncludeExcluded)
        {
            q = q.Where(j => j.ExcludedFromCohortUtc == null);
        }

        if (filter.FromUtc is { } from)
        {
            q = q.Where(j => j.CreatedUtc >= from);
        }

        if (filter.ToUtc is { } to)
        {
            q = q.Where(j => j.CreatedUtc <= to);
        }

        if (Like(filter.Subject) is { } subject)
        {
            q = q.Where(j => EF.Functions.Like(j.SubjectId!, subject, "\\"));
        }

        if (Like(filter.Model) is { } model)
        {
            q = q.Where(j => EF.Functions.Like(j.Metrics!.ModelName!, model, "\\"));
        }

        string tag = JobTags.Normalise(filter.Tag ?? "");
        if (tag.Length > 0)
        {
            // Stored tags are normalised and comma-joined: an exact tag is ",tag," inside ",stored,".
            string wrapped = "," + tag + ",";
            q = q.Where(j => ("," + j.Tags + ",").Contains(wrapped));
        }

        switch (filter.Verdict)
        {
            case QcVerdict.Pass:
                q = q.Where(j => j.Metrics!.QcVerdict == QcVerdict.Pass && j.Metrics.CohortOutlierDrivers == null);
                break;
            case QcVerdict.Review:
                q = q.Where(j => j.Metrics!.QcVerdict == QcVerdict.Review || (j.Metrics.QcVerdict == QcVerdict.Pass && j.Metrics.CohortOutlierDrivers != null));
                break;
            case QcVerdict.Fail:
                q = q.Where(j => j.Metrics!.QcVerdict == QcVerdict.Fail);
                break;
        }

        return q;
    }

    /// <summary>The order as SQL; ties broken by date then id so pages never overlap.</summary>
    public static IOrderedQueryable<Job> Sort(IQueryable<Job> q, string sortKey, bool descending)
    {
        ArgumentNullException.ThrowIfNull(q);
        if (CohortMetrics.Find(sortKey) is { } metric)
        {
            ParameterExpression job = Expression.Parameter(typeof(Job), "j");
            Expression value = Compose(metric.Selector, Expression.Property(job, nameof(Job.Metrics)));
            var missing = Expression.Lambda<Func<Job, bool>>(Expression.Equal(value, Expression.Constant(null, typeof(double?))), job);
            var by = Expression.Lambda<Func<Job, double?>>(value, job);
            IOrderedQueryable<Job> ordered = q.OrderBy(missing);
            return Tie(descending ? ordered.ThenByDescending(by) : ordered.ThenBy(by));
        }

        return sortKey switch
        {
            "subject" => Tie(descending ? q.OrderByDescending(j => j.SubjectId) : q.OrderBy(j => j.SubjectId)),
            "knee" => Tie(descending ? q.OrderByDescending(j => j.KneeSide) : q.OrderBy(j => j.KneeSide)),
            "model" => Tie(descending ? q.OrderByDescending(j => j.Metrics!.ModelName) : q.OrderBy(j => j.Metrics!.ModelName)),
            "status" => Tie(descending ? q.OrderByDescending(j => j.Status) : q.OrderBy(j => j.Status)),
            // Fail > review > pass: the enum's order, stored as text, so map it back to a number.
            "verdict" => Tie(descending ? q.OrderByDescending(VerdictRank) : q.OrderBy(VerdictRank)),
            _ => descending ? q.OrderByDescending(j => j.CreatedUtc).ThenByDescending(j => j.Id) : q.OrderBy(j => j.CreatedUtc).ThenBy(j => j.Id),
        };
    }

    private static readonly Expression<Func<Job, int>> VerdictRank = j =>
        j.Metrics == null ? -1
        : j.Metrics.QcVerdict == QcVerdict.Fail ? 2
        : j.Metrics.QcVerdict == QcVerdict.Review || j.Metrics.CohortOutlierDrivers != null ? 1
        : 0;

    private static IOrderedQueryable<Job> Tie(IOrderedQueryable<Job> q) => q.ThenByDescending(j => j.CreatedUtc).ThenBy(j => j.Id);

    private static Expression Compose(Expression<Func<JobMetrics, double?>> selector, Expression metrics) =>
        new Replace(selector.Parameters[0], metrics).Visit(selector.Body);

    private sealed class Replace(ParameterExpression from, Expression to) : ExpressionVisitor
    {
        protected override Expression VisitParameter(ParameterExpression node) => node == from ? to : base.VisitParameter(node);
    }

    private static async Task<List<CohortRow>> ReadRowsAsync(IQueryable<Job> q, CancellationToken ct)
    {
        var found = await q.Select(j => new
        {
            j.Id,
            j.SubjectId,
            j.KneeSide,
            j.Owner,
            j.CreatedUtc,
            j.Status,
            j.Notes,
            j.Tags,
            j.OptionsJson,
            j.ExcludedFromCohortUtc,
            j.Metrics,
        }).ToListAsync(ct);
        return [.. found.Select(j => new CohortRow(j.Id, j.SubjectId, j.KneeSide ?? j.Metrics?.KneeSide, j.Owner, j.CreatedUtc, j.Status, j.Notes,
            j.Metrics?.ModelName ?? ModelOption(j.OptionsJson), j.Metrics)
        {
            Tags = JobTags.Split(j.Tags),
            Excluded = j.ExcludedFromCohortUtc is not null,
        })];
    }

    /// <summary>A LIKE pattern for "contains", with the wildcards of the text escaped; null for no filter.</summary>
    private static string? Like(string? text)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            return null;
        }

        string escaped = text.Trim().Replace("\\", "\\\\", StringComparison.Ordinal).Replace("%", "\\%", StringComparison.Ordinal).Replace("_", "\\_", StringComparison.Ordinal);
        return "%" + escaped + "%";
    }

    /// <summary>The metric columns the rows have, in catalog order.</summary>
    public static List<CohortMetric> Columns(IReadOnlyList<CohortRow> rows)
    {
        ArgumentNullException.ThrowIfNull(rows);
        return CohortMetrics.Present(rows.Select(r => r.Metrics));
    }

    /// <summary>
    /// RFC 4180 CSV: one header row (units in the metric headers: _mm, _mm3), one row per job; the QC
    /// verdict and flags beside the numbers; numbers in invariant culture, empty when not computed.
    /// </summary>
    public static string ToCsv(IReadOnlyList<CohortRow> rows)
    {
        ArgumentNullException.ThrowIfNull(rows);
        List<CohortMetric> columns = Columns(rows);
        var sb = new StringBuilder();
        sb.Append("job_id,subject_id,knee_side,owner,created_utc,status,model,model_version,tags,notes,excluded,qc_verdict,qc_warnings,qc_errors,qc_flags,cohort_outlier_drivers");
        foreach (CohortMetric c in columns)
        {
            sb.Append(',').Append(Escape(c.Key));
        }

        sb.Append("\r\n");
        foreach (CohortRow row in rows)
        {
            JobMetrics? m = row.Metrics;
            sb.Append(row.Id.ToString("D")).Append(',')
                .Append(Escape(row.Subject)).Append(',')
                .Append(Escape(row.KneeSide)).Append(',')
                .Append(Escape(row.Owner)).Append(',')
                .Append(row.CreatedUtc.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture)).Append(',')
                .Append(row.Status).Append(',')
                .Append(Escape(row.Model)).Append(',')
                .Append(Escape(m?.ModelVersion)).Append(',')
                .Append(Escape(string.Join("; ", row.Tags))).Append(',')
                .Append(Escape(row.Notes)).Append(',')
                .Append(row.Excluded ? "true" : "false").Append(',')
                .Append(row.Verdict?.Name()).Append(',')
                .Append(m?.QcWarnings.ToString(CultureInfo.InvariantCulture)).Append(',')
                .Append(m?.QcErrors.ToString(CultureInfo.InvariantCulture)).Append(',')
                .Append(Escape(string.Join("; ", row.QcFlagCodes))).Append(',')
                .Append(Escape(m?.CohortOutlierDrivers));
            foreach (CohortMetric c in columns)
            {
                sb.Append(',');
                if (row.Value(c) is { } v)
                {
                    sb.Append(v.ToString("R", CultureInfo.InvariantCulture));
                }
            }

            sb.Append("\r\n");
        }

        return sb.ToString();
    }

    private static string Escape(string? value) => CsvText.Field(value);

    private static string? ModelOption(string optionsJson)
    {
        try
        {
            using JsonDocument doc = JsonDocument.Parse(optionsJson);
            return doc.RootElement.TryGetProperty("model", out JsonElement m) && m.ValueKind == JsonValueKind.String ? m.GetString() : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
