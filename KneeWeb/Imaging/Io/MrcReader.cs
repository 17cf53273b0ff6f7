using System.Buffers.Binary;
using System.Globalization;

namespace KneeWeb.Imaging.Io;

/// <summary>
/// Reads MRC / MRC2014 (modes 0 int8, 1 int16, 2 float32, 6 uint16, 12 float16), either byte
/// order (machine stamp; guessed from the header when the stamp is missing), skipping the
/// extended header. Voxel size is cell length / samples per axis. MRC's cell units are Angstrom
/// in electron microscopy; KneeWeb reads (and writes) them as mm, since its MRC files come from
/// imaging tools that store mm there. Axes map (mapc/mapr/maps) onto RAS x, y, z unrotated.
/// Volume stacks (ispg 401+) keep every volume as a frame.
/// </summary>
internal static class MrcReader
{
    public const int HeaderSize = 1024;
    private const string Format = "MRC";

    /// <summary>MRC by content: the "MAP " word, or (older files) a header whose sizes explain the file length exactly.</summary>
    public static bool Sniff(ReadOnlySpan<byte> head, long length)
    {
        if (head.Length < HeaderSize)
        {
            return false;
        }

        if (head.Slice(208, 4).SequenceEqual("MAP "u8))
        {
            return true; // MRC2014's own magic; the reader then checks every field
        }

        foreach (bool bigEndian in new[] { false, true })
        {
            var r = new Fields(head, bigEndian);
            int nx = r.I32(0), ny = r.I32(4), nz = r.I32(8), mode = r.I32(12), nsymbt = r.I32(92);
            if (nx < 1 || ny < 1 || nz < 1 || BytesOfMode(mode) == 0)
            {
                continue;
            }

            long expected = HeaderSize + (long)Math.Max(0, nsymbt) + ((long)nx * ny * nz * BytesOfMode(mode));
            if (length > 0 && expected == length && IsAxisMap(r.I32(64), r.I32(68), r.I32(72)))
            {
                return true;
            }
        }

        return false;
    }

    public static Volume Read(string path, VolumeReadOptions options)
    {
        using Stream stream = VoxelData.Open(path, out bool gzip, out long stored);
        byte[] header = new byte[HeaderSize];
        int got = VoxelData.ReadUpTo(stream, header);
        if (got < HeaderSize)
        {
            throw new InvalidImageException(Format, "header", $"{got} bytes", "the file ends inside the 1024-byte header");
        }

        bool bigEndian = ByteOrder(header);
        var r = new Fields(header, bigEndian);
        int nx = r.I32(0), ny = r.I32(4), nz = r.I32(8), mode = r.I32(12);
        Positive("nx", nx);
        Positive("ny", ny);
        Positive("nz", nz);
        VoxelType type = mode switch
        {
            0 => VoxelType.Int8,
            1 => VoxelType.Int16,
            2 => VoxelType.Float32,
            6 => VoxelType.UInt16,
            12 => VoxelType.Float16,
            3 or 4 => throw new InvalidImageException(Format, "mode", Str(mode), "complex voxels are not supported"),
            16 => throw new InvalidImageException(Format, "mode", Str(mode), "RGB voxels are not supported"),
            101 => throw new InvalidImageException(Format, "mode", Str(mode), "4-bit voxels are not supported"),
            _ => throw new InvalidImageException(Format, "mode", Str(mode), "unknown MRC mode (KneeWeb reads 0, 1, 2, 6 and 12)"),
        };

        int nsymbt = r.I32(92);
        if (nsymbt < 0 || nsymbt > options.MaxBytes)
        {
            throw new InvalidImageException(Format, "nsymbt", Str(nsymbt), "the extended header size must be 0 or more and within the cap");
        }

        int ispg = r.I32(88);
        int[] m = [r.I32(28), r.I32(32), r.I32(36)];
        Positive("mx", m[0]);
        Positive("my", m[1]);
        Positive("mz", m[2]);

        int mapc = r.I32(64), mapr = r.I32(68), maps = r.I32(72);
        if (mapc == 0 && mapr == 0 && maps == 0)
        {
            (mapc, mapr, maps) = (1, 2, 3);
        }

        if (!IsAxisMap(mapc, mapr, maps))
        {
            throw new InvalidImageException(Format, "mapc/mapr/maps", $"{mapc}/{mapr}/{maps}", "must be a permutation of 1, 2, 3");
        }

        int[] axisOf = [mapc - 1, mapr - 1, maps - 1];

        // Volume stacks: nz holds mz sections per volume, volume after volume.
        int sections = nz, frames = 1;
        if (ispg >= 401 && ispg <= 630 && m[axisOf[2]] < nz && nz % m[axisOf[2]] == 0)
        {
            sections = m[axisOf[2]];
            frames = nz / m[axisOf[2]];
        }

        (long voxels, long bytes) = VoxelData.CheckSize(Format, "nx/ny/nz", [nx, ny, nz], type, options);
        VoxelData.CheckFits(Format, "nsymbt + data size", HeaderSize + (long)nsymbt + bytes, stored, gzip);

        double[] cell = [r.F32(40), r.F32(44), r.F32(48)];
        string[] cellNames = ["cella.x", "cella.y", "cella.z"];
        var step = new double[3];
        for (int a = 0; a < 3; a++)
        {
            if (!double.IsFinite(cell[a]) || cell[a] <= 0)
            {
                throw new InvalidImageException(Format, cellNames[a], Str(cell[a]), "the cell length must be positive and finite (it gives the voxel size)");
            }

            step[a] = cell[a] / m[a];
        }

        double[] origin = [r.F32(196), r.F32(200), r.F32(204)];
        int[] start = [r.I32(16), r.I32(20), r.I32(24)];
        for (int a = 0; a < 3; a++)
        {
            if (!double.IsFinite(origin[a]))
            {
                throw new InvalidImageException(Format, "origin", $"({Str(origin[0])}, {Str(origin[1])}, {Str(origin[2])})", "the origin must be finite");
            }
        }

        if (origin[0] == 0 && origin[1] == 0 && origin[2] == 0)
        {
            for (int c = 0; c < 3; c++)
            {
                origin[axisOf[c]] = start[c] * step[axisOf[c]];
            }
        }

        var linear = new double[3, 3];
        for (int c = 0; c < 3; c++)
        {
            linear[axisOf[c], c] = step[axisOf[c]];
        }

        var affine = new AffineRas(
            linear[0, 0], linear[0, 1], linear[0, 2], origin[0],
            linear[1, 0], linear[1, 1], linear[1, 2], origin[1],
            linear[2, 0], linear[2, 1], linear[2, 2], origin[2]);

        options.CheckHeader?.Invoke(VolumeHeaderInfo.Of(Format, new Dims3(nx, ny, sections), frames, type, affine));
        VoxelData.Skip(stream, nsymbt, Format, "nsymbt");
        (Array data, VoxelType dataType, _, _) = VoxelData.ReadVolume(stream, type, voxels, bigEndian, 1, 0, options, Format);
        return new Volume(new VolumeGeometry(new Dims3(nx, ny, sections), affine), dataType, data, frames)
        {
            Metadata = new ImageMetadata
            {
                Format = Format,
                SourceName = Path.GetFileName(path),
                Properties = new Dictionary<string, string>(StringComparer.Ordinal)
                {
                    ["mode"] = Str(mode),
                    ["byte_order"] = bigEndian ? "big-endian" : "little-endian",
                    ["extended_header_bytes"] = Str(nsymbt),
                    ["cell_units"] = "mm",
                },
            },
        };
    }

    /// <summary>The machine stamp's first byte (0x44 little, 0x11 big); without one, the order whose mode and sizes make sense.</summary>
    private static bool ByteOrder(byte[] header)
    {
        byte stamp = header[212];
        if (stamp is 0x44 or 0x41)
        {
            return false;
        }

        if (stamp == 0x11)
        {
            return true;
        }

        // No stamp (older files): the order in which the mode and the sizes make sense.
        return !Plausible(new Fields(header, false)) && Plausible(new Fields(header, true));
    }

    private static bool Plausible(Fields r)
    {
        const int large = 1 << 20;
        return BytesOfMode(r.I32(12)) > 0 && r.I32(0) is > 0 and < large && r.I32(4) is > 0 and < large && r.I32(8) is > 0 and < large;
    }

    internal static int BytesOfMode(int mode) => mode switch
    {
        0 => 1,
        1 or 6 or 12 => 2,
        2 => 4,
        3 => 4,
        4 => 8,
        _ => 0,
    };

    private static bool IsAxisMap(int c, int r, int s) =>
        c is >= 1 and <= 3 && r is >= 1 and <= 3 && s is >= 1 and <= 3 && c != r && r != s && c != s;

    private static void Positive(string field, int value)
    {
        if (value < 1)
        {
            throw new InvalidImageException(Format, field, Str(value), "must be at least 1");
        }
    }

    private static string Str(double value) => value.ToString(CultureInfo.InvariantCulture);

    private readonly ref struct Fields(ReadOnlySpan<byte> bytes, bool bigEndian)
    {
        private readonly ReadOnlySpan<byte> bytes = bytes;

        public int I32(int at) => bigEndian ? BinaryPrimitives.ReadInt32BigEndian(bytes[at..]) : BinaryPrimitives.ReadInt32LittleEndian(bytes[at..]);

        public float F32(int at) => bigEndian ? BinaryPrimitives.ReadSingleBigEndian(bytes[at..]) : BinaryPrimitives.ReadSingleLittleEndian(bytes[at..]);
    }
}
