namespace KneeWeb.Imaging.Io;

/// <summary>Image formats KneeWeb recognises by content (magic bytes and headers).</summary>
public enum ImageFormat
{
    Unknown,
    Nifti1,
    Nifti2,
    Nrrd,
    Mrc,
    DicomZip,
    DicomFolder,
}
