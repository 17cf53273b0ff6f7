namespace KneeWeb.Imaging;

/// <summary>
/// Where a volume came from and what the lab keeps about it. Holds no identifying data: DICOM
/// properties are an allow-list of acquisition facts (series description, scanner, field
/// strength, sequence, dates), never names, IDs or birth dates.
/// </summary>
public sealed record ImageMetadata
{
    private static readonly IReadOnlyDictionary<string, string> NoProperties = new Dictionary<string, string>();

    /// <summary>The format the volume was read from, e.g. "NIfTI-1", "NRRD", "MRC", "DICOM".</summary>
    public required string Format { get; init; }

    /// <summary>The file or folder name it was read from (no directory part).</summary>
    public string? SourceName { get; init; }

    /// <summary>Format facts (e.g. "affine_source" = "sform") and allow-listed DICOM series facts.</summary>
    public IReadOnlyDictionary<string, string> Properties { get; init; } = NoProperties;

    /// <summary>
    /// The voxel spacing the file's header states (NIfTI: |pixdim[1..3]| in mm), which is what
    /// SimpleITK and nibabel report as the spacing and nnU-Net resamples by; it can differ from
    /// the affine's column lengths when a tool rewrote the sform only. Null where the format has
    /// no such field or it is unusable (zero, not finite).
    /// </summary>
    public Vec3d? HeaderSpacingMm { get; init; }

    /// <summary>For a 4D input reduced to one volume: the zero-based frame the pipeline chose.</summary>
    public int? FrameChosen { get; init; }
}
