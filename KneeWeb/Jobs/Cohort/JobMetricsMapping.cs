using KneeWeb.Data;
using KneeWeb.Imaging.Segmentation;

namespace KneeWeb.Jobs.Cohort;

/// <summary>
/// stats.json -> metrics row, in one place: when the stats document changes shape, only this
/// function follows it. Structure and region names are the label schema's machine names.
/// </summary>
public static class JobMetricsMapping
{
    private static readonly Dictionary<string, Action<JobMetrics, double>> Volumes = new(StringComparer.Ordinal)
    {
        ["femur"] = (m, v) => m.FemurVolumeMm3 = v,
        ["tibia"] = (m, v) => m.TibiaVolumeMm3 = v,
        ["patella"] = (m, v) => m.PatellaVolumeMm3 = v,
        ["femoral_cartilage"] = (m, v) => m.FemoralCartilageVolumeMm3 = v,
        ["medial_tibial_cartilage"] = (m, v) => m.MedialTibialCartilageVolumeMm3 = v,
        ["lateral_tibial_cartilage"] = (m, v) => m.LateralTibialCartilageVolumeMm3 = v,
        ["patellar_cartilage"] = (m, v) => m.PatellarCartilageVolumeMm3 = v,
        ["medial_meniscus"] = (m, v) => m.MedialMeniscusVolumeMm3 = v,
        ["lateral_meniscus"] = (m, v) => m.LateralMeniscusVolumeMm3 = v,
        ["femoral_anterior"] = (m, v) => m.FemoralAnteriorVolumeMm3 = v,
        ["femoral_medial_weight_bearing"] = (m, v) => m.FemoralMedialWeightBearingVolumeMm3 = v,
        ["femoral_lateral_weight_bearing"] = (m, v) => m.FemoralLateralWeightBearingVolumeMm3 = v,
        ["femoral_medial_posterior"] = (m, v) => m.FemoralMedialPosteriorVolumeMm3 = v,
        ["femoral_lateral_posterior"] = (m, v) => m.FemoralLateralPosteriorVolumeMm3 = v,
    };

    private static readonly Dictionary<string, Action<JobMetrics, double>> Thickness = new(StringComparer.Ordinal)
    {
        ["femoral_cartilage"] = (m, v) => m.FemoralCartilageThicknessMm = v,
        ["medial_tibial_cartilage"] = (m, v) => m.MedialTibialCartilageThicknessMm = v,
        ["lateral_tibial_cartilage"] = (m, v) => m.LateralTibialCartilageThicknessMm = v,
        ["patellar_cartilage"] = (m, v) => m.PatellarCartilageThicknessMm = v,
        ["femoral_anterior"] = (m, v) => m.FemoralAnteriorThicknessMm = v,
        ["femoral_medial_weight_bearing"] = (m, v) => m.FemoralMedialWeightBearingThicknessMm = v,
        ["femoral_lateral_weight_bearing"] = (m, v) => m.FemoralLateralWeightBearingThicknessMm = v,
        ["femoral_medial_posterior"] = (m, v) => m.FemoralMedialPosteriorThicknessMm = v,
        ["femoral_lateral_posterior"] = (m, v) => m.FemoralLateralPosteriorThicknessMm = v,
    };

    /// <summary>The metrics row of a completed job from its stats. The job row wins for subject and side (a user may have corrected them).</summary>
    public static JobMetrics From(Job job, ResultStats stats, DateTime nowUtc)
    {
        ArgumentNullException.ThrowIfNull(job);
        ArgumentNullException.ThrowIfNull(stats);
        var m = new JobMetrics
        {
            JobId = job.Id,
            ModelName = Clip(stats.ModelName, 128),
            ModelVersion = Clip(stats.ModelVersion, 64),
            SubjectId = job.SubjectId ?? Clip(stats.SubjectId, 128),
            KneeSide = job.KneeSide ?? Clip(stats.KneeSide, 8),
            VisitUtc = job.CreatedUtc,
            RecordedUtc = nowUtc,
            NsmAssdMm = stats.Nsm?.AssdMm,
            BScore = BScoreOf(stats.BScore),
        };
        foreach ((string structure, double mm3) in stats.VolumesMm3 ?? [])
        {
            if (Volumes.TryGetValue(structure, out Action<JobMetrics, double>? set))
            {
                set(m, mm3);
            }
        }

        foreach (ThicknessRegion region in stats.Thickness ?? [])
        {
            if (region.MeanMm is { } mean && Thickness.TryGetValue(region.Region, out Action<JobMetrics, double>? set))
            {
                set(m, mean);
            }
        }

        SetQc(m, stats.QcFlags.Select(f => (f.Code, f.Severity)));
        return m;
    }

    /// <summary>Verdict, counts and codes from a flag list (severity names as stats.json writes them).</summary>
    public static void SetQc(JobMetrics metrics, IEnumerable<(string Code, string Severity)> flags)
    {
        ArgumentNullException.ThrowIfNull(metrics);
        ArgumentNullException.ThrowIfNull(flags);
        (string Code, QcSeverity Severity)[] list = [.. flags.Select(f => (f.Code, QcVerdicts.ParseSeverity(f.Severity)))];
        metrics.QcVerdict = QcVerdicts.From(list.Select(f => f.Severity));
        metrics.QcWarnings = list.Count(f => f.Severity == QcSeverity.Warning);
        metrics.QcErrors = list.Count(f => f.Severity == QcSeverity.Error);
        metrics.QcFlags = Clip(string.Join("; ", list.Select(f => f.Code).Distinct(StringComparer.Ordinal)), 1000) ?? "";
    }

    /// <summary>One BScore per knee; files from before that wrote one per bone, of which the femur's is the score.</summary>
    private static double? BScoreOf(IReadOnlyList<KeyValuePair<string, double>>? scores)
    {
        if (scores is null || scores.Count == 0)
        {
            return null;
        }

        foreach ((string bone, double value) in scores)
        {
            if (bone is "overall" or "femur")
            {
                return value;
            }
        }

        return scores[0].Value;
    }

    private static string? Clip(string? text, int max) => text is null || text.Length <= max ? text : text[..max];
}
