using Xunit;
using System.Buffers.Binary;
using System.IO.Compression;
using System.Runtime.InteropServices;
using KneeWeb.Imaging;

namespace KneeWeb.Tests.Imaging.Io;

/// <summary>
/// NIfTI fields for fixtures, written by the tests' own encoder (independent of KneeWeb's
/// writer) so that reader bugs cannot hide behind a matching writer bug.
/// </summary>
public sealed record NiftiSpec
{
    public int Version { get; init; } = 1;

    public bool BigEndian { get; init; }

    public int Datatype { get; init; } = 4;

    public int Bitpix { get; init; } = 16;

    public long[] Dim { get; init; } = [3, 4, 3, 2, 1, 1, 1, 1];

    public double[] Pixdim { get; init; } = [1, 1, 1, 1, 0, 0, 0, 0];

    public double VoxOffset { get; init; } = -1;

    /// <summary>A vox_offset written into the header whatever the data layout (for broken files).</summary>
    public double? HeaderVoxOffset { get; init; }

    public double Slope { get; init; } = 1;

    public double Inter { get; init; }

    public byte Units { get; init; } = 2;

    public int QformCode { get; init; }

    public int SformCode { get; init; }

    public double[] Quatern { get; init; } = [0, 0, 0, 0, 0, 0];

    public double[] Srow { get; init; } = [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0];

    public string? Magic { get; init; }

    public bool Pair { get; init; }

    public int HeaderSize => Version == 2 ? 540 : 348;

    public long DataOffset => VoxOffset >= 0 ? (long)VoxOffset : Pair ? 0 : HeaderSize + 4;

    public byte[] Header()
    {
        var h = new byte[HeaderSize];
        Span<byte> s = h;
        bool be = BigEndian;
        void I16(int at, long v)
        {
            if (be)
            {
                BinaryPrimitives.WriteInt16BigEndian(h.AsSpan(at), (short)v);
            }
            else
            {
                BinaryPrimitives.WriteInt16LittleEndian(h.AsSpan(at), (short)v);
            }
        }

        void I32(int at, long v)
        {
            if (be)
            {
                BinaryPrimitives.WriteInt32BigEndian(h.AsSpan(at), (int)v);
            }
            else
            {
                BinaryPrimitives.WriteInt32LittleEndian(h.AsSpan(at), (int)v);
            }
        }

        void I64(int at, long v)
        {
            if (be)
            {
                BinaryPrimitives.WriteInt64BigEndian(h.AsSpan(at), v);
            }
            else
            {
                BinaryPrimitives.WriteInt64LittleEndian(h.AsSpan(at), v);
            }
        }

        void F32(int at, double v)
        {
            if (be)
            {
                BinaryPrimitives.WriteSingleBigEndian(h.AsSpan(at), (float)v);
            }
            else
            {
                BinaryPrimitives.WriteSingleLittleEndian(h.AsSpan(at), (float)v);
            }
        }

        void F64(int at, double v)
        {
            if (be)
            {
                BinaryPrimitives.WriteDoubleBigEndian(h.AsSpan(at), v);
            }
            else
            {
                BinaryPrimitives.WriteDoubleLittleEndian(h.AsSpan(at), v);
            }
        }

        I32(0, HeaderSize);
        if (Version == 1)
        {
            for (int i = 0; i < 8; i++)
            {
                I16(40 + (2 * i), Dim[i]);
                F32(76 + (4 * i), Pixdim[i]);
            }

            I16(70, Datatype);
            I16(72, Bitpix);
            F32(108, HeaderVoxOffset ?? DataOffset);
            F32(112, Slope);
            F32(116, Inter);
            s[123] = Units;
            I16(252, QformCode);
            I16(254, SformCode);
            for (int i = 0; i < 6; i++)
            {
                F32(256 + (4 * i), Quatern[i]);
            }

            for (int i = 0; i < 12; i++)
            {
                F32(280 + (4 * i), Srow[i]);
            }

            System.Text.Encoding.ASCII.GetBytes((Magic ?? (Pair ? "ni1" : "n+1")) + "\0").AsSpan(0, 4).CopyTo(s[344..]);
        }
        else
        {
            System.Text.Encoding.ASCII.GetBytes((Magic ?? (Pair ? "ni2" : "n+2")) + "\0\r\n\u001a\n").AsSpan(0, 8).CopyTo(s[4..]);
            I16(12, Datatype);
            I16(14, Bitpix);
            for (int i = 0; i < 8; i++)
            {
                I64(16 + (8 * i), Dim[i]);
                F64(104 + (8 * i), Pixdim[i]);
            }

            I64(168, (long)(HeaderVoxOffset ?? DataOffset));
            F64(176, Slope);
            F64(184, Inter);
            I32(344, QformCode);
            I32(348, SformCode);
            for (int i = 0; i < 6; i++)
            {
                F64(352 + (8 * i), Quatern[i]);
            }

            for (int i = 0; i < 12; i++)
            {
                F64(400 + (8 * i), Srow[i]);
            }

            I32(500, Units);
        }

        return h;
    }

    /// <summary>Writes the fixture; <paramref name="path"/> ends .nii, .nii.gz or .hdr (pair: .img beside it).</summary>
    public void WriteFile(string path, byte[] data, bool gzip = false)
    {
        byte[] header = Header();
        if (Pair)
        {
            WriteMaybeGzip(path, header, gzip);
            string img = path.EndsWith(".gz", StringComparison.Ordinal) ? path[..^7] + ".img.gz" : path[..^4] + ".img";
            WriteMaybeGzip(img, [.. new byte[DataOffset], .. data], gzip);
            return;
        }

        var all = new byte[DataOffset + data.Length];
        header.CopyTo(all, 0);
        data.CopyTo(all, DataOffset);
        WriteMaybeGzip(path, all, gzip);
    }

    public static void WriteMaybeGzip(string path, byte[] bytes, bool gzip)
    {
        if (!gzip)
        {
            System.IO.File.WriteAllBytes(path, bytes);
            return;
        }

        using var file = System.IO.File.Create(path);
        using var z = new GZipStream(file, CompressionLevel.Fastest);
        z.Write(bytes);
    }
}

/// <summary>Deterministic voxel values of every type, with the extremes of each type included.</summary>
public static class VoxelFixtures
{
    public static readonly VoxelType[] NiftiTypes =
    [
        VoxelType.UInt8, VoxelType.Int8, VoxelType.UInt16, VoxelType.Int16, VoxelType.UInt32, VoxelType.Int32,
        VoxelType.UInt64, VoxelType.Int64, VoxelType.Float32, VoxelType.Float64,
    ];

    public static int NiftiCode(VoxelType t) => t switch
    {
        VoxelType.UInt8 => 2,
        VoxelType.Int16 => 4,
        VoxelType.Int32 => 8,
        VoxelType.Float32 => 16,
        VoxelType.Float64 => 64,
        VoxelType.Int8 => 256,
        VoxelType.UInt16 => 512,
        VoxelType.UInt32 => 768,
        VoxelType.Int64 => 1024,
        VoxelType.UInt64 => 1280,
        _ => throw new ArgumentOutOfRangeException(nameof(t)),
    };

    /// <summary>Values whose float32 image is exact for floats and bounded for wide integers.</summary>
    public static Array Values(VoxelType type, int count, int seed = 7)
    {
        var rng = new Random(seed);
        Array a = Array.CreateInstance(Volume.ElementTypeOf(type), count);
        for (int i = 0; i < count; i++)
        {
            double v = (rng.NextDouble() * 200) - 50;
            object value = type switch
            {
                VoxelType.UInt8 => (object)(byte)(i == 0 ? 255 : Math.Abs(v)),
                VoxelType.Int8 => (sbyte)(i == 0 ? -128 : Math.Clamp(v, -128, 127)),
                VoxelType.UInt16 => (ushort)(i == 0 ? 65535 : Math.Abs(v) * 100),
                VoxelType.Int16 => (short)(i == 0 ? -32768 : i == 1 ? 32767 : v * 100),
                VoxelType.UInt32 => (uint)(i == 0 ? 4000000000u : Math.Abs(v) * 1000),
                VoxelType.Int32 => (int)(i == 0 ? int.MinValue : v * 1000),
                VoxelType.UInt64 => (ulong)(Math.Abs(v) * 1000),
                VoxelType.Int64 => (long)(v * 1000),
                VoxelType.Float16 => (Half)v,
                VoxelType.Float32 => (float)(i == 0 ? -1e30 : v / 7),
                VoxelType.Float64 => (double)(float)(v / 3),
                _ => throw new ArgumentOutOfRangeException(nameof(type)),
            };
            a.SetValue(value, i);
        }

        return a;
    }

    /// <summary>The values' bytes in the chosen byte order.</summary>
    public static byte[] Bytes(Array values, bool bigEndian)
    {
        int size = Volume.BytesPerVoxel(TypeOf(values));
        byte[] bytes = MemoryMarshal.CreateSpan(ref MemoryMarshal.GetArrayDataReference(values), values.Length * size).ToArray();
        if (bigEndian && size > 1)
        {
            for (int i = 0; i < bytes.Length; i += size)
            {
                Array.Reverse(bytes, i, size);
            }
        }

        return bytes;
    }

    public static VoxelType TypeOf(Array values) =>
        Enum.GetValues<VoxelType>().First(t => Volume.ElementTypeOf(t) == values.GetType().GetElementType());

    /// <summary>Reading with AsFloat32 gives exactly the scaled float values of a typed read, every frame.</summary>
    public static void AssertFloatReadMatches(string path, Volume typed)
    {
        Volume floats = KneeWeb.Imaging.Io.VolumeIo.Read(path, new KneeWeb.Imaging.Io.VolumeReadOptions { AsFloat32 = true });
        Assert.Equal(VoxelType.Float32, floats.VoxelType);
        Assert.False(floats.IsScaled);
        Assert.Equal(typed.Frames, floats.Frames);
        Assert.Equal(typed.Geometry, floats.Geometry);
        for (int f = 0; f < typed.Frames; f++)
        {
            Assert.Equal(typed.ToFloat32(f), floats.ToFloat32(f));
        }
    }

    public static void AssertSameVoxels(Array expected, Array actual)
    {
        Assert.Equal(expected.GetType(), actual.GetType());
        Assert.Equal(expected.Length, actual.Length);
        Span<byte> a = MemoryMarshal.CreateSpan(ref MemoryMarshal.GetArrayDataReference(expected), expected.Length * Volume.BytesPerVoxel(TypeOf(expected)));
        Span<byte> b = MemoryMarshal.CreateSpan(ref MemoryMarshal.GetArrayDataReference(actual), actual.Length * Volume.BytesPerVoxel(TypeOf(actual)));
        Assert.True(a.SequenceEqual(b), "voxel bytes differ");
    }

    public static void AssertAffine(AffineRas expected, AffineRas actual, double tolerance)
    {
        Assert.True(expected.ApproximatelyEquals(actual, tolerance), $"affine differs:\nexpected {Format(expected)}\nactual   {Format(actual)}");
    }

    public static string Format(AffineRas a) => string.Join(" | ", a.ToRows().Select(r => string.Join(", ", r.Select(v => v.ToString("G9", System.Globalization.CultureInfo.InvariantCulture)))));
}
