using System.Linq.Expressions;
using KneeWeb.Data;

namespace KneeWeb.Jobs.Cohort;

/// <summary>How a metric sits in the cohort table: whole bones and plates, femoral subregions (shown under femoral cartilage), or a shape score.</summary>
public enum MetricGroup
{
    Volume,
    SubregionVolume,
    Thickness,
    SubregionThickness,
    Shape,
}

/// <summary>
/// One numeric column of the metrics table, as the cohort, its CSV, its sort (in SQL) and the outlier
/// model see it. <paramref name="Key"/> is the CSV header and carries the unit (mm, mm3; BScore is in
/// healthy-population SDs); <paramref name="Label"/> is the human name; <paramref name="Unit"/> is shown beside it.
/// </summary>
public sealed record CohortMetric(string Key, string Label, string Unit, MetricGroup Group, Expression<Func<JobMetrics, double?>> Selector)
{
    private readonly Func<JobMetrics, double?> compiled = Selector.Compile();

    /// <summary>The value of a row (null when not computed).</summary>
    public double? Of(JobMetrics? metrics) => metrics is null ? null : compiled(metrics);

    /// <summary>"Medial tibial cartilage thickness (mm)": the header a person reads.</summary>
    public string Header => $"{Label} ({Unit})";

    /// <summary>A score centred on zero (BScore): its change is an absolute difference, never a percentage.</summary>
    public bool IsScore => Unit == "SD";

    /// <summary>
    /// Whether a change from <paramref name="baseline"/> reads well as a percentage: never for a score, and not
    /// from a baseline so small (under 0.1 mm, 1 mm³) that any change looks like hundreds of percent.
    /// </summary>
    public bool PercentMeaningful(double baseline) => !IsScore && Math.Abs(baseline) >= (Unit == "mm³" ? 1 : 0.1);
}

/// <summary>The catalog of cohort metrics, in the order the cohort shows them: thickness, shape, volumes, subregions last.</summary>
public static class CohortMetrics
{
    public static readonly IReadOnlyList<CohortMetric> All =
    [
        new("thickness_mean_mm_femoral_cartilage", "Femoral cartilage thickness", "mm", MetricGroup.Thickness, m => m.FemoralCartilageThicknessMm),
        new("thickness_mean_mm_medial_tibial_cartilage", "Medial tibial cartilage thickness", "mm", MetricGroup.Thickness, m => m.MedialTibialCartilageThicknessMm),
        new("thickness_mean_mm_lateral_tibial_cartilage", "Lateral tibial cartilage thickness", "mm", MetricGroup.Thickness, m => m.LateralTibialCartilageThicknessMm),
        new("thickness_mean_mm_patellar_cartilage", "Patellar cartilage thickness", "mm", MetricGroup.Thickness, m => m.PatellarCartilageThicknessMm),
        new("bscore", "BScore", "SD", MetricGroup.Shape, m => m.BScore),
        new("nsm_assd_mm", "Shape model error (ASSD)", "mm", MetricGroup.Shape, m => m.NsmAssdMm),
        new("thickness_mean_mm_femoral_anterior", "Femoral cartilage · anterior thickness", "mm", MetricGroup.SubregionThickness, m => m.FemoralAnteriorThicknessMm),
        new("thickness_mean_mm_femoral_medial_weight_bearing", "Femoral cartilage · medial weight-bearing thickness", "mm", MetricGroup.SubregionThickness, m => m.FemoralMedialWeightBearingThicknessMm),
        new("thickness_mean_mm_femoral_lateral_weight_bearing", "Femoral cartilage · lateral weight-bearing thickness", "mm", MetricGroup.SubregionThickness, m => m.FemoralLateralWeightBearingThicknessMm),
        new("thickness_mean_mm_femoral_medial_posterior", "Femoral cartilage · medial posterior thickness", "mm", MetricGroup.SubregionThickness, m => m.FemoralMedialPosteriorThicknessMm),
        new("thickness_mean_mm_femoral_lateral_posterior", "Femoral cartilage · lateral posterior thickness", "mm", MetricGroup.SubregionThickness, m => m.FemoralLateralPosteriorThicknessMm),
        new("volume_mm3_femur", "Femur volume", "mm³", MetricGroup.Volume, m => m.FemurVolumeMm3),
        new("volume_mm3_tibia", "Tibia volume", "mm³", MetricGroup.Volume, m => m.TibiaVolumeMm3),
        new("volume_mm3_patella", "Patella volume", "mm³", MetricGroup.Volume, m => m.PatellaVolumeMm3),
        new("volume_mm3_femoral_cartilage", "Femoral cartilage volume", "mm³", MetricGroup.Volume, m => m.FemoralCartilageVolumeMm3),
        new("volume_mm3_medial_tibial_cartilage", "Medial tibial cartilage volume", "mm³", MetricGroup.Volume, m => m.MedialTibialCartilageVolumeMm3),
        new("volume_mm3_lateral_tibial_cartilage", "Lateral tibial cartilage volume", "mm³", MetricGroup.Volume, m => m.LateralTibialCartilageVolumeMm3),
        new("volume_mm3_patellar_cartilage", "Patellar cartilage volume", "mm³", MetricGroup.Volume, m => m.PatellarCartilageVolumeMm3),
        new("volume_mm3_medial_meniscus", "Medial meniscus volume", "mm³", MetricGroup.Volume, m => m.MedialMeniscusVolumeMm3),
        new("volume_mm3_lateral_meniscus", "Lateral meniscus volume", "mm³", MetricGroup.Volume, m => m.LateralMeniscusVolumeMm3),
        new("volume_mm3_femoral_anterior", "Femoral cartilage · anterior volume", "mm³", MetricGroup.SubregionVolume, m => m.FemoralAnteriorVolumeMm3),
        new("volume_mm3_femoral_medial_weight_bearing", "Femoral cartilage · medial weight-bearing volume", "mm³", MetricGroup.SubregionVolume, m => m.FemoralMedialWeightBearingVolumeMm3),
        new("volume_mm3_femoral_lateral_weight_bearing", "Femoral cartilage · lateral weight-bearing volume", "mm³", MetricGroup.SubregionVolume, m => m.FemoralLateralWeightBearingVolumeMm3),
        new("volume_mm3_femoral_medial_posterior", "Femoral cartilage · medial posterior volume", "mm³", MetricGroup.SubregionVolume, m => m.FemoralMedialPosteriorVolumeMm3),
        new("volume_mm3_femoral_lateral_posterior", "Femoral cartilage · lateral posterior volume", "mm³", MetricGroup.SubregionVolume, m => m.FemoralLateralPosteriorVolumeMm3),
    ];

    /// <summary>The columns a PI sees first: thickness per plate and BScore.</summary>
    public static readonly IReadOnlyList<string> DefaultKeys =
        ["thickness_mean_mm_femoral_cartilage", "thickness_mean_mm_medial_tibial_cartilage", "thickness_mean_mm_lateral_tibial_cartilage", "thickness_mean_mm_patellar_cartilage", "bscore"];

    private static readonly Dictionary<string, CohortMetric> ByKey = All.ToDictionary(m => m.Key, StringComparer.Ordinal);

    public static CohortMetric? Find(string? key) => key is not null && ByKey.TryGetValue(key, out CohortMetric? m) ? m : null;

    /// <summary>The metrics that at least one of the rows has, in catalog order.</summary>
    public static List<CohortMetric> Present(IEnumerable<JobMetrics?> rows)
    {
        ArgumentNullException.ThrowIfNull(rows);
        JobMetrics[] list = [.. rows.OfType<JobMetrics>()];
        return [.. All.Where(m => list.Any(r => m.Of(r) is not null))];
    }
}
