using System.Globalization;
using System.IO.Compression;

namespace KneeWeb.Imaging.Io;

/// <summary>
/// Extracts an uploaded zip into a fresh folder, refusing anything that could escape it or
/// exhaust the disk: absolute or ".." paths, links, too many entries, too many bytes (counted
/// while inflating, not taken from the headers), and ratios typical of zip bombs. Also checks a
/// folder given instead of a zip (no links, the same caps).
/// </summary>
public static class SafeArchive
{
    /// <summary>Uncompressed bytes an entry may add to the image data for its own DICOM header (tags, private data).</summary>
    private const long HeaderAllowancePerEntry = 64 << 10;

    public static void ExtractZip(string zipPath, string destinationFolder, VolumeReadOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        string root = Path.GetFullPath(destinationFolder);
        Directory.CreateDirectory(root);
        if (Directory.EnumerateFileSystemEntries(root).Any())
        {
            throw new ArgumentException($"The extraction folder {root} must be empty.", nameof(destinationFolder));
        }

        try
        {
            Extract(zipPath, root, options);
        }
        catch (IOException e) when (DiskSpace.IsOutOfSpace(e))
        {
            throw e as InsufficientDiskSpaceException
                ?? new InsufficientDiskSpaceException("The server's disk filled up while the zip was being extracted.", e);
        }
        catch (Exception e) when (e is InvalidDataException or NotSupportedException or IOException)
        {
            // A damaged central directory, an unsupported method, an encrypted entry: not a usable zip.
            throw new DicomSeriesException($"The zip {Path.GetFileName(zipPath)} is not a readable zip archive: {e.Message}", e);
        }
    }

    private static void Extract(string zipPath, string root, VolumeReadOptions options)
    {
        using (ZipArchive archive = ZipFile.OpenRead(zipPath))
        {
            if (archive.Entries.Count > options.MaxArchiveEntries)
            {
                throw new DicomSeriesException($"The zip holds {archive.Entries.Count} entries; at most {options.MaxArchiveEntries} are allowed.");
            }

            // The whole zip may inflate to no more than one image's worth of voxels (plus each file's own
            // header), the configured cap, and the disk's free space above its reserve.
            long cap = Math.Min(options.MaxArchiveBytes, options.MaxBytes + (HeaderAllowancePerEntry * archive.Entries.Count));
            var disk = new DiskBudget(root, options.MinFreeDiskBytes);
            long declared = 0;
            foreach (ZipArchiveEntry entry in archive.Entries)
            {
                CheckEntry(entry, options);
                declared += entry.Length;
                if (declared > cap)
                {
                    throw new DicomSeriesException($"The zip would inflate to more than {cap} bytes (the cap on uncompressed size for one image series).");
                }
            }

            // Refused before a byte is written when the declared sizes already do not fit the disk.
            long free = DiskSpace.FreeBytes(root);
            if (free >= 0 && declared > free - options.MinFreeDiskBytes)
            {
                throw new InsufficientDiskSpaceException(
                    $"The zip inflates to {declared / 1e6:0.#} MB, more than the server's disk has free above its reserve of {options.MinFreeDiskBytes / 1e9:0.00} GB.");
            }

            long written = 0;
            byte[] buffer = new byte[1 << 16];
            foreach (ZipArchiveEntry entry in archive.Entries)
            {
                options.Cancellation.ThrowIfCancellationRequested();
                string target = TargetPath(root, entry.FullName);
                long entryBytes = 0;
                try
                {
                    if (entry.FullName.EndsWith('/') || entry.FullName.EndsWith('\\'))
                    {
                        Directory.CreateDirectory(target);
                        continue;
                    }

                    Directory.CreateDirectory(Path.GetDirectoryName(target)!);
                    using Stream input = entry.Open();
                    using var output = new FileStream(target, FileMode.CreateNew, FileAccess.Write);
                    int got;
                    while ((got = input.Read(buffer, 0, buffer.Length)) > 0)
                    {
                        entryBytes += got;
                        written += got;
                        if (entryBytes > entry.Length)
                        {
                            throw new DicomSeriesException($"Zip entry {Safe(entry.FullName)} inflates past its declared {entry.Length} bytes: refused.");
                        }

                        if (written > cap)
                        {
                            throw new DicomSeriesException($"The zip inflates to more than {cap} bytes (the cap on uncompressed size for one image series).");
                        }

                        disk.Take(got);
                        output.Write(buffer, 0, got);
                    }
                }
                catch (InvalidDataException e)
                {
                    throw new DicomSeriesException($"Zip entry {Safe(entry.FullName)} is corrupt: {e.Message}", e);
                }
                catch (IOException e) when (e is not EndOfStreamException && !DiskSpace.IsOutOfSpace(e))
                {
                    // A duplicate name, a file where a folder should be, a full disk: no series comes of it.
                    throw new DicomSeriesException($"Zip entry {Safe(entry.FullName)} could not be extracted: {e.Message}", e);
                }
            }
        }
    }

    /// <summary>Checks a folder of DICOM files: no links anywhere, within the entry and size caps.</summary>
    public static void CheckFolder(string folder, VolumeReadOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        long files = 0, bytes = 0;
        var pending = new Stack<DirectoryInfo>();
        pending.Push(new DirectoryInfo(folder));
        while (pending.Count > 0)
        {
            DirectoryInfo dir = pending.Pop();
            foreach (FileSystemInfo info in dir.EnumerateFileSystemInfos())
            {
                if (info.LinkTarget is not null)
                {
                    throw new DicomSeriesException($"The DICOM folder holds a link ({Safe(info.Name)}): links are refused.");
                }

                if (info is DirectoryInfo sub)
                {
                    pending.Push(sub);
                    continue;
                }

                files++;
                bytes += ((FileInfo)info).Length;
                if (files > options.MaxArchiveEntries)
                {
                    throw new DicomSeriesException($"The DICOM folder holds more than {options.MaxArchiveEntries} files.");
                }

                if (bytes > options.MaxArchiveBytes)
                {
                    throw new DicomSeriesException($"The DICOM folder holds more than {options.MaxArchiveBytes} bytes.");
                }
            }
        }
    }

    private static void CheckEntry(ZipArchiveEntry entry, VolumeReadOptions options)
    {
        int unixMode = (entry.ExternalAttributes >> 16) & 0xF000;
        if (unixMode == 0xA000)
        {
            throw new DicomSeriesException($"Zip entry {Safe(entry.FullName)} is a symbolic link: links are refused.");
        }

        if (unixMode is not 0 and not 0x8000 and not 0x4000)
        {
            throw new DicomSeriesException($"Zip entry {Safe(entry.FullName)} is not a regular file or folder: refused.");
        }

        // Every entry, however small: a thousand 1 MiB zero files are a bomb made of small entries.
        if (entry.Length > 0 && (entry.CompressedLength == 0 || (double)entry.Length / entry.CompressedLength > options.MaxCompressionRatio))
        {
            string ratio = entry.CompressedLength == 0 ? "infinite" : ((double)entry.Length / entry.CompressedLength).ToString("F0", CultureInfo.InvariantCulture);
            throw new DicomSeriesException($"Zip entry {Safe(entry.FullName)} has a compression ratio of {ratio}:1, above the cap of {options.MaxCompressionRatio}:1 (a zip bomb?).");
        }

        _ = TargetPath(Path.GetFullPath(Path.GetTempPath()), entry.FullName);
    }

    /// <summary>Where an entry lands under <paramref name="root"/>; throws for a name that would land anywhere else.</summary>
    internal static string TargetPath(string root, string entryName)
    {
        string name = entryName.Replace('\\', '/');
        if (name.Length == 0 || name.StartsWith('/') || name.Contains('\0', StringComparison.Ordinal) || (name.Length >= 2 && name[1] == ':'))
        {
            throw new DicomSeriesException($"Zip entry {Safe(entryName)} has an absolute or empty path: refused.");
        }

        foreach (string part in name.Split('/'))
        {
            if (part == "..")
            {
                throw new DicomSeriesException($"Zip entry {Safe(entryName)} climbs out of the extraction folder (\"..\"): refused.");
            }
        }

        string full = Path.GetFullPath(Path.Combine(root, name));
        string prefix = root.EndsWith(Path.DirectorySeparatorChar) ? root : root + Path.DirectorySeparatorChar;
        if (!full.StartsWith(prefix, StringComparison.Ordinal))
        {
            throw new DicomSeriesException($"Zip entry {Safe(entryName)} lands outside the extraction folder: refused.");
        }

        return full;
    }

    private static string Safe(string name)
    {
        var chars = name.Length > 120 ? name[..120].ToCharArray() : name.ToCharArray();
        for (int i = 0; i < chars.Length; i++)
        {
            if (char.IsControl(chars[i]))
            {
                chars[i] = '?';
            }
        }

        return "\"" + new string(chars) + "\"";
    }
}
