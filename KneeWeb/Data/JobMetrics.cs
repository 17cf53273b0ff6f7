using KneeWeb.Imaging.Segmentation;

namespace KneeWeb.Data;

/// <summary>
/// The numbers of one completed job, one row per job, copied from its stats.json when the job completes
/// (or by the start-up backfill), so the cohort and its CSV filter, sort and page in SQL instead of
/// parsing thousands of files. Volumes in mm³, thickness in mm; null where the job did not compute it.
/// Whether the job is excluded from the cohort is read from <see cref="Job"/>, never copied here.
/// </summary>
public sealed class JobMetrics
{
    public Guid JobId { get; set; }

    public Job Job { get; set; } = null!;

    public string? ModelName { get; set; }

    public string? ModelVersion { get; set; }

    public string? SubjectId { get; set; }

    public string? KneeSide { get; set; }

    /// <summary>The visit's date: when the job was submitted (UTC).</summary>
    public DateTime VisitUtc { get; set; }

    /// <summary>When this row was written from stats.json.</summary>
    public DateTime RecordedUtc { get; set; }

    public double? FemurVolumeMm3 { get; set; }

    public double? TibiaVolumeMm3 { get; set; }

    public double? PatellaVolumeMm3 { get; set; }

    public double? FemoralCartilageVolumeMm3 { get; set; }

    public double? MedialTibialCartilageVolumeMm3 { get; set; }

    public double? LateralTibialCartilageVolumeMm3 { get; set; }

    public double? PatellarCartilageVolumeMm3 { get; set; }

    public double? MedialMeniscusVolumeMm3 { get; set; }

    public double? LateralMeniscusVolumeMm3 { get; set; }

    public double? FemoralAnteriorVolumeMm3 { get; set; }

    public double? FemoralMedialWeightBearingVolumeMm3 { get; set; }

    public double? FemoralLateralWeightBearingVolumeMm3 { get; set; }

    public double? FemoralMedialPosteriorVolumeMm3 { get; set; }

    public double? FemoralLateralPosteriorVolumeMm3 { get; set; }

    public double? FemoralCartilageThicknessMm { get; set; }

    public double? MedialTibialCartilageThicknessMm { get; set; }

    public double? LateralTibialCartilageThicknessMm { get; set; }

    public double? PatellarCartilageThicknessMm { get; set; }

    public double? FemoralAnteriorThicknessMm { get; set; }

    public double? FemoralMedialWeightBearingThicknessMm { get; set; }

    public double? FemoralLateralWeightBearingThicknessMm { get; set; }

    public double? FemoralMedialPosteriorThicknessMm { get; set; }

    public double? FemoralLateralPosteriorThicknessMm { get; set; }

    /// <summary>Femoral shape BScore (healthy-SD units).</summary>
    public double? BScore { get; set; }

    /// <summary>Shape-model reconstruction error: average symmetric surface distance (mm).</summary>
    public double? NsmAssdMm { get; set; }

    /// <summary>The verdict of the job's own QC flags (stats.json); a cohort outlier adds review on top (see <see cref="CohortOutlierDrivers"/>).</summary>
    public QcVerdict QcVerdict { get; set; }

    public int QcWarnings { get; set; }

    public int QcErrors { get; set; }

    /// <summary>The QC flag codes, each once, "; "-separated in file order ("" when none).</summary>
    public string QcFlags { get; set; } = "";

    /// <summary>Randomized-PCA anomaly score against the model's QC-pass cohort; null when not scored (too few jobs, not QC-pass, excluded).</summary>
    public double? CohortOutlierScore { get; set; }

    /// <summary>Set when the job is a COHORT_OUTLIER: the metrics that drove it, largest first ("tibia volume z=+6.1; ...").</summary>
    public string? CohortOutlierDrivers { get; set; }

    public bool IsCohortOutlier => CohortOutlierDrivers is not null;

    /// <summary>What pages and the CSV show: the QC verdict, raised to review by a cohort outlier flag (never to fail).</summary>
    public QcVerdict Verdict => IsCohortOutlier && QcVerdict == QcVerdict.Pass ? QcVerdict.Review : QcVerdict;
}
