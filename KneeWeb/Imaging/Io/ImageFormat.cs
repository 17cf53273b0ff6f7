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

    /// <summary>One DICOM file ("DICM" at byte 128), e.g. an enhanced multi-frame MR image.</summary>
    DicomFile,
}
