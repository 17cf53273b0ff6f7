namespace KneeWeb.Imaging.Io;

internal static class NrrdReader
{
    public static Volume Read(string path, VolumeReadOptions options) => throw new InvalidImageException("NRRD", "format", Path.GetFileName(path), $"NRRD reading is not implemented yet (cap {options.MaxBytes})");
}

internal static class NrrdWriter
{
    public static void Write(Volume volume, string path, VolumeWriteOptions options) => throw new NotSupportedException($"NRRD writing is not implemented yet ({volume.Dims}, {path}, {options.NiftiVersion}).");
}

internal static class MrcReader
{
    public static bool Sniff(ReadOnlySpan<byte> head, long length) => head.Length > 2000 && length > 0;

    public static Volume Read(string path, VolumeReadOptions options) => throw new InvalidImageException("MRC", "format", Path.GetFileName(path), $"MRC reading is not implemented yet (cap {options.MaxBytes})");
}

internal static class MrcWriter
{
    public static void Write(Volume volume, string path) => throw new NotSupportedException($"MRC writing is not implemented yet ({volume.Dims}, {path}).");
}

internal static class DicomSeriesReader
{
    public static Volume Read(string path, ImageFormat format, VolumeReadOptions options) => throw new DicomSeriesException($"DICOM reading is not implemented yet ({path}, {format}, {options.DicomSeries}).");
}
