using System.Globalization;
using System.IO.Compression;

namespace KneeWeb.Imaging.Io;

/// <summary>
/// KneeWeb's entry point for medical image files: detect the format by content, read a file into
/// a <see cref="Volume"/> (geometry in double precision, index to RAS mm), write one back.
/// Every malformed input ends as <see cref="InvalidImageException"/> (INVALID_FORMAT) or
/// <see cref="DicomSeriesException"/> (DICOM_ERROR); a missing path as <see cref="FileNotFoundException"/>.
/// </summary>
public static class VolumeIo
{
    private const int SniffBytes = 1100;

    /// <summary>Reads any supported image: NIfTI-1/2 (.nii, .nii.gz, .hdr/.img), NRRD, MRC, a DICOM zip, folder or single file.</summary>
    public static Volume Read(string path, VolumeReadOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        options ??= VolumeReadOptions.Default;
        if (!File.Exists(path) && !Directory.Exists(path))
        {
            throw new FileNotFoundException($"No image file or folder at {path}.", path);
        }

        ImageFormat format = DetectFormat(path);
        try
        {
            return format switch
            {
                ImageFormat.Nifti1 or ImageFormat.Nifti2 => NiftiReader.Read(path, options),
                ImageFormat.Nrrd => NrrdReader.Read(path, options),
                ImageFormat.Mrc => MrcReader.Read(path, options),
                ImageFormat.DicomZip or ImageFormat.DicomFolder or ImageFormat.DicomFile => DicomSeriesReader.Read(path, format, options),
                _ => throw new InvalidImageException("unknown", "magic bytes", HeadHex(path),
                    "not a NIfTI-1/2, NRRD, MRC image, DICOM zip or DICOM folder"),
            };
        }
        catch (InvalidDataException e)
        {
            // A corrupt deflate stream surfaces from GZipStream/ZipArchive as InvalidDataException.
            throw new InvalidImageException(NameOf(format), "compressed data", "gzip/deflate stream", $"the compressed data is corrupt ({e.Message})", e);
        }
    }

    /// <summary>
    /// The validated header of a NIfTI, NRRD or MRC file, reading no voxel (a .nii.gz inflates only
    /// its header). Null for DICOM input, whose grid is known only once the series is converted.
    /// </summary>
    public static VolumeHeaderInfo? ReadHeader(string path, VolumeReadOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ImageFormat format = DetectFormat(path);
        if (format is not (ImageFormat.Nifti1 or ImageFormat.Nifti2 or ImageFormat.Nrrd or ImageFormat.Mrc))
        {
            return null;
        }

        VolumeHeaderInfo? seen = null;
        try
        {
            _ = Read(path, (options ?? VolumeReadOptions.Default) with
            {
                CheckHeader = header =>
                {
                    seen = header;
                    throw new HeaderReadStop();
                },
            });
        }
        catch (HeaderReadStop)
        {
        }

        return seen ?? throw new InvalidImageException(NameOf(format), "header", "(unread)", "the header could not be read");
    }

    /// <summary>Ends a read once the header is known (never escapes <see cref="ReadHeader"/>).</summary>
    private sealed class HeaderReadStop : Exception;

    /// <summary>
    /// The series in a DICOM zip or folder (number, description, image count, and the key that
    /// <see cref="VolumeReadOptions.DicomSeries"/> accepts), for a person to choose from.
    /// </summary>
    public static IReadOnlyList<DicomSeriesInfo> ListDicomSeries(string path, VolumeReadOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ImageFormat format = DetectFormat(path);
        if (format is not (ImageFormat.DicomZip or ImageFormat.DicomFolder or ImageFormat.DicomFile))
        {
            throw new DicomSeriesException($"{Path.GetFileName(path)} is not a DICOM zip or folder (it reads as {NameOf(format)}).");
        }

        return DicomSeriesReader.List(path, format, options ?? VolumeReadOptions.Default);
    }

    /// <summary>The format told by the content (magic bytes and header plausibility), not by the name.</summary>
    public static ImageFormat DetectFormat(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (Directory.Exists(path))
        {
            return ImageFormat.DicomFolder;
        }

        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"No image file or folder at {path}.", path);
        }

        byte[] head = new byte[SniffBytes];
        long length;
        int got;
        bool gzip;
        using (Stream stream = VoxelData.Open(path, out gzip, out length))
        {
            got = VoxelData.ReadUpTo(stream, head);
        }

        ReadOnlySpan<byte> bytes = head.AsSpan(0, got);
        switch (NiftiHeader.Sniff(bytes))
        {
            case 1: return ImageFormat.Nifti1;
            case 2: return ImageFormat.Nifti2;
        }

        if (bytes.StartsWith("NRRD000"u8))
        {
            return ImageFormat.Nrrd;
        }

        if (!gzip && (bytes.StartsWith("PK\u0003\u0004"u8) || bytes.StartsWith("PK\u0005\u0006"u8)))
        {
            return ImageFormat.DicomZip;
        }

        if (!gzip && bytes.Length >= 132 && bytes.Slice(128, 4).SequenceEqual("DICM"u8))
        {
            return ImageFormat.DicomFile;
        }

        if (MrcReader.Sniff(bytes, gzip ? -1 : length))
        {
            return ImageFormat.Mrc;
        }

        // sizeof_hdr says NIfTI but the magic is wrong: let the NIfTI reader name the bad field.
        if (bytes.Length >= NiftiHeader.Nifti1Size && NiftiHeader.SizeofHdrMatches(bytes))
        {
            return BitConverter.ToInt32(bytes) is NiftiHeader.Nifti2Size || System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(bytes) is NiftiHeader.Nifti2Size
                ? ImageFormat.Nifti2
                : ImageFormat.Nifti1;
        }

        // A raw .img has no magic of its own: its .hdr beside it tells.
        string header = NiftiReader.HeaderPathFor(path);
        if (!string.Equals(header, path, StringComparison.Ordinal))
        {
            ImageFormat partner = DetectFormat(header);
            if (partner is ImageFormat.Nifti1 or ImageFormat.Nifti2)
            {
                return partner;
            }
        }

        return ImageFormat.Unknown;
    }

    /// <summary>
    /// Writes a volume; the output name chooses the format: .nii.gz / .nii (NIfTI), .nrrd (gzip,
    /// attached), .nhdr (detached header plus a .raw.gz beside it), .mrc / .map (MRC2014).
    /// The file appears whole or not at all (written beside it, then renamed).
    /// </summary>
    public static void Write(Volume volume, string path, VolumeWriteOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(volume);
        ArgumentException.ThrowIfNullOrEmpty(path);
        options ??= VolumeWriteOptions.Default;
        switch (OutputFormatOf(path))
        {
            case ImageFormat.Nifti1:
            case ImageFormat.Nifti2:
                NiftiWriter.Write(volume, path, options);
                break;
            case ImageFormat.Nrrd:
                NrrdWriter.Write(volume, path, options);
                break;
            case ImageFormat.Mrc:
                MrcWriter.Write(volume, path);
                break;
            default:
                throw new ArgumentException($"Cannot tell the output format from the name {Path.GetFileName(path)}: use .nii.gz, .nii, .nrrd, .nhdr or .mrc.", nameof(path));
        }
    }

    /// <summary>
    /// One frame of a 4D volume as a 3D volume (same geometry, scaling and source), with the choice
    /// recorded in <see cref="ImageMetadata.FrameChosen"/>.
    /// </summary>
    public static Volume SelectFrame(Volume volume, int frame)
    {
        ArgumentNullException.ThrowIfNull(volume);
        if ((uint)frame >= (uint)volume.Frames)
        {
            throw new ArgumentOutOfRangeException(nameof(frame), frame, $"The volume has {volume.Frames} frame(s).");
        }

        long perFrame = volume.Dims.VoxelCount;
        Array voxels = VoxelData.Allocate(volume.VoxelType, perFrame);
        Array.Copy(volume.Voxels, frame * perFrame, voxels, 0, perFrame);
        ImageMetadata metadata = (volume.Metadata ?? new ImageMetadata { Format = "memory" }) with { FrameChosen = frame };
        return new Volume(volume.Geometry, volume.VoxelType, voxels, 1, volume.Slope, volume.Intercept) { Metadata = metadata };
    }

    /// <summary>The format a name asks for when writing (writing is the one place names decide).</summary>
    public static ImageFormat OutputFormatOf(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        string name = Path.GetFileName(path).ToLowerInvariant();
        return name switch
        {
            _ when name.EndsWith(".nii.gz", StringComparison.Ordinal) || name.EndsWith(".nii", StringComparison.Ordinal) => ImageFormat.Nifti1,
            _ when name.EndsWith(".nrrd", StringComparison.Ordinal) || name.EndsWith(".nhdr", StringComparison.Ordinal) => ImageFormat.Nrrd,
            _ when name.EndsWith(".mrc", StringComparison.Ordinal) || name.EndsWith(".map", StringComparison.Ordinal) => ImageFormat.Mrc,
            _ => ImageFormat.Unknown,
        };
    }

    /// <summary>A person-readable format name (for messages and <c>inspect</c>).</summary>
    public static string NameOf(ImageFormat format) => format switch
    {
        ImageFormat.Nifti1 => "NIfTI-1",
        ImageFormat.Nifti2 => "NIfTI-2",
        ImageFormat.Nrrd => "NRRD",
        ImageFormat.Mrc => "MRC",
        ImageFormat.DicomZip => "DICOM zip",
        ImageFormat.DicomFolder => "DICOM folder",
        ImageFormat.DicomFile => "DICOM file",
        _ => "unknown",
    };

    internal static void WriteAtomically(string path, Action<Stream> write)
    {
        string full = Path.GetFullPath(path);
        string temp = Path.Combine(Path.GetDirectoryName(full)!, "." + Path.GetFileName(full) + "." + Guid.NewGuid().ToString("N")[..8] + ".tmp");
        try
        {
            using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 20))
            {
                write(stream);
            }

            File.Move(temp, full, overwrite: true);
        }
        catch
        {
            File.Delete(temp);
            throw;
        }
    }

    private static string HeadHex(string path)
    {
        Span<byte> head = stackalloc byte[8];
        using var stream = File.OpenRead(path);
        int got = stream.ReadAtLeast(head, head.Length, throwOnEndOfStream: false);
        return got == 0 ? "(empty file)" : Convert.ToHexString(head[..got]).ToLower(CultureInfo.InvariantCulture);
    }

    internal static GZipStream Gzip(Stream stream, CompressionLevel level) => new(stream, level, leaveOpen: true);
}
