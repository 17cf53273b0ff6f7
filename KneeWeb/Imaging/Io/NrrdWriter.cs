using System.Globalization;
using System.IO.Compression;
using System.Text;

namespace KneeWeb.Imaging.Io;

/// <summary>
/// Writes NRRD0004, gzip-encoded, little-endian, in left-posterior-superior space (the space ITK
/// and 3D Slicer write; negating x and y is exact). Numbers use round-trip formatting, so the
/// double-precision geometry comes back bit for bit. .nrrd: attached; .nhdr: the data go to a
/// .raw.gz beside the header.
/// </summary>
internal static class NrrdWriter
{
    public static void Write(Volume volume, string path, VolumeWriteOptions options)
    {
        (VoxelType type, Array voxels) = Storable(volume);
        bool detached = path.EndsWith(".nhdr", StringComparison.OrdinalIgnoreCase);
        string? dataName = detached ? Path.GetFileNameWithoutExtension(path) + ".raw.gz" : null;
        byte[] header = Encoding.ASCII.GetBytes(Header(volume, type, dataName));
        if (detached)
        {
            string dataPath = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(path))!, dataName!);
            VolumeIo.WriteAtomically(dataPath, stream =>
            {
                using var gzip = new GZipStream(stream, options.Compression, leaveOpen: true);
                VoxelData.Write(gzip, voxels);
            });
            VolumeIo.WriteAtomically(path, stream => stream.Write(header));
            return;
        }

        VolumeIo.WriteAtomically(path, stream =>
        {
            stream.Write(header);
            using var gzip = new GZipStream(stream, options.Compression, leaveOpen: true);
            VoxelData.Write(gzip, voxels);
        });
    }

    private static string Header(Volume volume, VoxelType type, string? dataFile)
    {
        AffineRas a = volume.Geometry.IndexToRas;
        bool fourD = volume.Frames > 1;
        var sb = new StringBuilder();
        sb.Append("NRRD0004\n# written by KneeWeb\n");
        sb.Append("type: ").Append(NrrdReader.TypeName(type)).Append('\n');
        sb.Append("dimension: ").Append(fourD ? '4' : '3').Append('\n');
        sb.Append("space: left-posterior-superior\n");
        sb.Append(CultureInfo.InvariantCulture, $"sizes: {volume.Dims.I} {volume.Dims.J} {volume.Dims.K}");
        sb.Append(fourD ? " " + volume.Frames.ToString(CultureInfo.InvariantCulture) : "").Append('\n');
        sb.Append("space directions:");
        for (int c = 0; c < 3; c++)
        {
            sb.Append(' ').Append(Vector(-a[0, c], -a[1, c], a[2, c]));
        }

        sb.Append(fourD ? " none\n" : "\n");
        sb.Append(fourD ? "kinds: domain domain domain list\n" : "kinds: domain domain domain\n");
        sb.Append("endian: little\n");
        sb.Append("encoding: gzip\n");
        sb.Append("space origin: ").Append(Vector(-a[0, 3], -a[1, 3], a[2, 3])).Append('\n');
        if (dataFile is not null)
        {
            sb.Append("data file: ").Append(dataFile).Append('\n');
        }

        sb.Append('\n');
        return sb.ToString();
    }

    private static string Vector(double x, double y, double z) =>
        "(" + R(x) + "," + R(y) + "," + R(z) + ")";

    private static string R(double v) => (v == 0 ? 0.0 : v).ToString("R", CultureInfo.InvariantCulture);

    /// <summary>
    /// NRRD has no float16 and no slope: float16 widens to float32, and a scaled volume is written
    /// as its scaled values (float64 where the raw type is wider than 16 bits, else float32).
    /// </summary>
    internal static (VoxelType Type, Array Voxels) Storable(Volume volume)
    {
        if (!volume.IsScaled && volume.VoxelType != VoxelType.Float16)
        {
            return (volume.VoxelType, volume.Voxels);
        }

        bool wide = Volume.BytesPerVoxel(volume.VoxelType) > 2;
        long n = volume.Voxels.LongLength;
        if (!wide)
        {
            var result = new float[n];
            long perFrame = volume.Dims.VoxelCount;
            for (int f = 0; f < volume.Frames; f++)
            {
                volume.ToFloat32(f).CopyTo(result, f * perFrame);
            }

            return (VoxelType.Float32, result);
        }

        var doubles = new double[n];
        switch (volume.VoxelType)
        {
            case VoxelType.UInt32: Scale((uint[])volume.Voxels, doubles, volume.Slope, volume.Intercept); break;
            case VoxelType.Int32: Scale((int[])volume.Voxels, doubles, volume.Slope, volume.Intercept); break;
            case VoxelType.UInt64: Scale((ulong[])volume.Voxels, doubles, volume.Slope, volume.Intercept); break;
            case VoxelType.Int64: Scale((long[])volume.Voxels, doubles, volume.Slope, volume.Intercept); break;
            case VoxelType.Float32: Scale((float[])volume.Voxels, doubles, volume.Slope, volume.Intercept); break;
            default: Scale((double[])volume.Voxels, doubles, volume.Slope, volume.Intercept); break;
        }

        return (VoxelType.Float64, doubles);
    }

    private static void Scale<T>(T[] source, double[] target, double slope, double intercept)
        where T : unmanaged, System.Numerics.INumberBase<T>
    {
        for (long i = 0; i < source.LongLength; i++)
        {
            target[i] = (double.CreateTruncating(source[i]) * slope) + intercept;
        }
    }
}
