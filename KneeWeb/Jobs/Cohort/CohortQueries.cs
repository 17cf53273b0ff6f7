using System.Globalization;
using System.Text;
using System.Text.Json;
using KneeWeb.Data;
using KneeWeb.Pipeline;
using KneeWeb.Setup;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace KneeWeb.Jobs;

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
    JobStatus? Status = JobStatus.Completed);

/// <summary>One job of the cohort table with the metrics of its stats.json (null when not computed).</summary>
public sealed record CohortRow(
    Guid Id,
    string? Subject,
    string? KneeSide,
    string Owner,
    DateTime CreatedUtc,
    JobStatus Status,
    string? Notes,
    string? Model,
    ResultStats? Stats)
{
    /// <summary>The job's tags (normalised), in the order given.</summary>
    public IReadOnlyList<string> Tags { get; init; } = [];

    public int QcWarnings => Stats is null ? 0 : Stats.QcFlags.Count(f => !string.Equals(f.Severity, "info", StringComparison.OrdinalIgnoreCase));

    public double? Volume(string structure) => Find(Stats?.VolumesMm3, structure);

    public double? ThicknessMean(string region) => Stats?.Thickness?.FirstOrDefault(r => r.Region == region)?.MeanMm;

    public double? BScore(string bone) => Find(Stats?.BScore, bone);

    private static double? Find(IReadOnlyList<KeyValuePair<string, double>>? list, string key)
    {
        if (list is null)
        {
            return null;
        }

        foreach ((string k, double v) in list)
        {
            if (k == key)
            {
                return v;
            }
        }

        return null;
    }
}

/// <summary>One metric column of the cohort table and its CSV.</summary>
public sealed record CohortColumn(string Key, string Header, Func<CohortRow, double?> Value);

/// <summary>The cohort table: jobs with their stats.json metrics, filtered, and its CSV.</summary>
public sealed class CohortQueries(JobStore store, IOptions<KneeWebOptions> options)
{
    private readonly KneeWebOptions settings = options.Value;

    public async Task<List<CohortRow>> ListAsync(CohortFilter filter, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(filter);
        List<Job> jobs = await store.ReadAsync(db =>
        {
            IQueryable<Job> q = db.Jobs.AsNoTracking();
            if (filter.Status is { } status)
            {
                q = q.Where(j => j.Status == status);
            }

            if (filter.FromUtc is { } from)
            {
                q = q.Where(j => j.CreatedUtc >= from);
            }

            if (filter.ToUtc is { } to)
            {
                q = q.Where(j => j.CreatedUtc <= to);
            }

            return q.OrderByDescending(j => j.CreatedUtc).Take(5000).ToListAsync(ct);
        }, ct);

        var rows = new List<CohortRow>(jobs.Count);
        foreach (Job job in jobs)
        {
            if (!Contains(job.SubjectId, filter.Subject) || !JobTags.HasTag(job.Tags, filter.Tag))
            {
                continue;
            }

            ResultStats? stats = job.Status == JobStatus.Completed ? TryLoad(job.Id) : null;
            string? model = stats?.ModelName ?? ModelOption(job.OptionsJson);
            if (!Contains(model, filter.Model))
            {
                continue;
            }

            rows.Add(new CohortRow(job.Id, job.SubjectId, job.KneeSide ?? stats?.KneeSide, job.Owner, job.CreatedUtc, job.Status, job.Notes, model, stats)
            {
                Tags = JobTags.Split(job.Tags),
            });
        }

        return rows;
    }

    public ResultStats? TryLoad(Guid id)
    {
        try
        {
            return ResultStats.Load(settings.JobsPath, id);
        }
        catch (Exception e) when (e is IOException or JsonException or UnauthorizedAccessException)
        {
            // A damaged stats.json leaves the row without metrics rather than breaking the table.
            return null;
        }
    }

    /// <summary>The metric columns the rows have: every structure volume, thickness region and BScore bone that occurs, in first-seen order.</summary>
    public static List<CohortColumn> Columns(IReadOnlyList<CohortRow> rows)
    {
        ArgumentNullException.ThrowIfNull(rows);
        var volumes = new List<string>();
        var regions = new List<string>();
        var bones = new List<string>();
        bool nsm = false;
        foreach (CohortRow row in rows)
        {
            foreach ((string k, _) in row.Stats?.VolumesMm3 ?? [])
            {
                AddOnce(volumes, k);
            }

            foreach (ThicknessRegion r in row.Stats?.Thickness ?? [])
            {
                AddOnce(regions, r.Region);
            }

            foreach ((string k, _) in row.Stats?.BScore ?? [])
            {
                AddOnce(bones, k);
            }

            nsm |= row.Stats?.Nsm?.AssdMm is not null;
        }

        var columns = new List<CohortColumn>();
        foreach (string v in volumes)
        {
            columns.Add(new CohortColumn($"volume_mm3_{v}", $"{v} volume (mm3)", r => r.Volume(v)));
        }

        foreach (string g in regions)
        {
            columns.Add(new CohortColumn($"thickness_mean_mm_{g}", $"{g} mean thickness (mm)", r => r.ThicknessMean(g)));
        }

        foreach (string b in bones)
        {
            // One BScore per knee (today's stats.json) is plain "bscore"; older files had one per bone.
            columns.Add(b == "overall"
                ? new CohortColumn("bscore", "BScore", r => r.BScore(b))
                : new CohortColumn($"bscore_{b}", $"{b} BScore", r => r.BScore(b)));
        }

        if (nsm)
        {
            columns.Add(new CohortColumn("nsm_assd_mm", "NSM ASSD (mm)", r => r.Stats?.Nsm?.AssdMm));
        }

        return columns;
    }

    /// <summary>RFC 4180 CSV: one header row, one row per job, one column per metric; numbers in invariant culture, empty when not computed.</summary>
    public static string ToCsv(IReadOnlyList<CohortRow> rows)
    {
        ArgumentNullException.ThrowIfNull(rows);
        List<CohortColumn> columns = Columns(rows);
        var sb = new StringBuilder();
        sb.Append("job_id,subject_id,knee_side,owner,created_utc,status,model,tags,notes,qc_flags");
        foreach (CohortColumn c in columns)
        {
            sb.Append(',').Append(Escape(c.Key));
        }

        sb.Append("\r\n");
        foreach (CohortRow row in rows)
        {
            sb.Append(row.Id.ToString("D")).Append(',')
                .Append(Escape(row.Subject)).Append(',')
                .Append(Escape(row.KneeSide)).Append(',')
                .Append(Escape(row.Owner)).Append(',')
                .Append(row.CreatedUtc.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture)).Append(',')
                .Append(row.Status).Append(',')
                .Append(Escape(row.Model)).Append(',')
                .Append(Escape(string.Join("; ", row.Tags))).Append(',')
                .Append(Escape(row.Notes)).Append(',')
                .Append(row.Stats is null ? "" : Escape(string.Join("; ", row.Stats.QcFlags.Select(f => f.Code))));
            foreach (CohortColumn c in columns)
            {
                sb.Append(',');
                if (c.Value(row) is { } v)
                {
                    sb.Append(v.ToString("R", CultureInfo.InvariantCulture));
                }
            }

            sb.Append("\r\n");
        }

        return sb.ToString();
    }

    private static string Escape(string? value) => CsvText.Field(value);

    private static bool Contains(string? value, string? needle) =>
        string.IsNullOrWhiteSpace(needle) || (value is not null && value.Contains(needle.Trim(), StringComparison.OrdinalIgnoreCase));

    private static void AddOnce(List<string> list, string item)
    {
        if (!list.Contains(item))
        {
            list.Add(item);
        }
    }

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
