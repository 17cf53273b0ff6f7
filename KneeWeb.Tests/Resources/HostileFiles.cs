using System.Buffers.Binary;
using System.IO.Compression;

namespace KneeWeb.Tests.Resources;

/// <summary>Files made to exhaust a server: gzip bombs behind honest headers, zips of many zero files.</summary>
public static class HostileFiles
{
    /// <summary>
    /// A .nii.gz whose NIfTI-1 header declares <paramref name="ni"/> x <paramref name="nj"/> x
    /// <paramref name="nk"/> uint8 voxels at 1 mm, followed by that many zero bytes (so it is a valid,
    /// complete file: it inflates to exactly what it declares) plus <paramref name="extraBytes"/> more.
    /// </summary>
    public static string WriteNiftiGz(string path, int ni, int nj, int nk, long extraBytes = 0, CompressionLevel level = CompressionLevel.SmallestSize)
    {
        byte[] header = new byte[352];
        Span<byte> h = header;
        BinaryPrimitives.WriteInt32LittleEndian(h, 348);
        short[] dim = [3, (short)ni, (short)nj, (short)nk, 1, 1, 1, 1];
        for (int d = 0; d < 8; d++)
        {
            BinaryPrimitives.WriteInt16LittleEndian(h[(40 + (2 * d))..], dim[d]);
        }

        BinaryPrimitives.WriteInt16LittleEndian(h[70..], 2); // datatype uint8
        BinaryPrimitives.WriteInt16LittleEndian(h[72..], 8); // bitpix
        float[] pixdim = [1, 1, 1, 1, 1, 1, 1, 1];
        for (int d = 0; d < 8; d++)
        {
            BinaryPrimitives.WriteSingleLittleEndian(h[(76 + (4 * d))..], pixdim[d]);
        }

        BinaryPrimitives.WriteSingleLittleEndian(h[108..], 352); // vox_offset
        h[123] = 2; // xyzt_units: mm
        "n+1\0"u8.CopyTo(h[344..]);

        using var file = new FileStream(path, FileMode.Create, FileAccess.Write);
        using var gzip = new GZipStream(file, level);
        gzip.Write(header);
        byte[] zeros = new byte[1 << 20];
        long left = ((long)ni * nj * nk) + extraBytes;
        while (left > 0)
        {
            int n = (int)Math.Min(zeros.Length, left);
            gzip.Write(zeros, 0, n);
            left -= n;
        }

        return path;
    }

    /// <summary>A zip of <paramref name="count"/> files of <paramref name="bytesEach"/> zero bytes (about 1 KB each compressed).</summary>
    public static string WriteZeroZip(string path, int count, int bytesEach)
    {
        byte[] zeros = new byte[bytesEach];
        using ZipArchive zip = ZipFile.Open(path, ZipArchiveMode.Create);
        for (int i = 0; i < count; i++)
        {
            ZipArchiveEntry entry = zip.CreateEntry($"series/IM{i:D5}.dcm", CompressionLevel.SmallestSize);
            using Stream stream = entry.Open();
            stream.Write(zeros);
        }

        return path;
    }

    /// <summary>Peak resident memory (VmHWM) of a process, in bytes, from /proc.</summary>
    public static long PeakRssBytes(int pid) => StatusKb(pid, "VmHWM:") * 1024;

    private static long StatusKb(int pid, string field)
    {
        foreach (string line in File.ReadLines($"/proc/{pid}/status"))
        {
            if (line.StartsWith(field, StringComparison.Ordinal))
            {
                return long.Parse(line[field.Length..].Trim().Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture);
            }
        }

        throw new InvalidOperationException($"No {field} in /proc/{pid}/status.");
    }
}
