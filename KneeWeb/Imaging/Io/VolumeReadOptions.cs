namespace KneeWeb.Imaging.Io;

/// <summary>
/// Limits and choices for <see cref="VolumeIo.Read"/>. The caps are checked against the header
/// before any voxel buffer is allocated, so a hostile header cannot make the reader allocate more.
/// </summary>
public sealed record VolumeReadOptions
{
    public static VolumeReadOptions Default { get; } = new();

    /// <summary>Most voxels (all frames together) a file may declare.</summary>
    public long MaxVoxels { get; init; } = 1L << 30;

    /// <summary>Most bytes of voxel data a file may declare (also caps NRRD headers and NIfTI extensions).</summary>
    public long MaxBytes { get; init; } = 2L << 30;

    /// <summary>
    /// Read straight to float32 scaled values (raw x slope + intercept), the pipeline's working
    /// type: the returned volume is Float32 with slope 1, and the conversion overlaps the inflate.
    /// Leave false to keep the file's voxel type (lossless rewriting).
    /// </summary>
    public bool AsFloat32 { get; init; }

    /// <summary>
    /// DICOM input holding several series: which one to read, by series number or by series
    /// description (case-insensitive). Null reads the only series, or fails listing them all.
    /// </summary>
    public string? DicomSeries { get; init; }

    /// <summary>Where DICOM zips are extracted and converted (a fresh folder is made inside); null: the system temp folder.</summary>
    public string? WorkFolder { get; init; }

    /// <summary>Path of dcm2niix.</summary>
    public string Dcm2NiixPath { get; init; } = "/usr/bin/dcm2niix";

    /// <summary>How long dcm2niix may run before it is stopped.</summary>
    public TimeSpan DicomTimeout { get; init; } = TimeSpan.FromMinutes(3);

    /// <summary>Most entries a DICOM zip (or folder) may hold.</summary>
    public int MaxArchiveEntries { get; init; } = 20_000;

    /// <summary>Most bytes a DICOM zip may inflate to, all entries together.</summary>
    public long MaxArchiveBytes { get; init; } = 4L << 30;

    /// <summary>Highest uncompressed/compressed ratio allowed for a zip entry (zip bombs go far past it).</summary>
    public double MaxCompressionRatio { get; init; } = 400;

    /// <summary>
    /// Free space the disk must keep while a DICOM zip is extracted (counted as entries are
    /// written); extraction stops with <see cref="InsufficientDiskSpaceException"/> before it.
    /// </summary>
    public long MinFreeDiskBytes { get; init; }

    /// <summary>
    /// Called with the validated header of every volume read (a DICOM series: its converted
    /// volume) before any voxel buffer is allocated; throw to refuse the image (e.g. a memory budget).
    /// </summary>
    public Action<VolumeHeaderInfo>? CheckHeader { get; init; }

    /// <summary>Stops reading between chunks of voxel data (and DICOM extraction) when cancelled.</summary>
    public CancellationToken Cancellation { get; init; }
}

/// <summary>Choices for <see cref="VolumeIo.Write"/>.</summary>
public sealed record VolumeWriteOptions
{
    public static VolumeWriteOptions Default { get; } = new();

    /// <summary>
    /// NIfTI version for .nii/.nii.gz. NIfTI-1 (the default) is what every tool opens but keeps the
    /// affine in float32 (about 1e-5 mm at 200 mm); NIfTI-2 keeps it in double precision.
    /// </summary>
    public int NiftiVersion { get; init; } = 1;

    /// <summary>gzip level for compressed outputs.</summary>
    public System.IO.Compression.CompressionLevel Compression { get; init; } = System.IO.Compression.CompressionLevel.Fastest;
}
