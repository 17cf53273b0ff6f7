using System.Buffers.Binary;
using System.IO.Compression;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace KneeWeb.Imaging.Io;

/// <summary>Typed voxel buffers as bytes: allocation within caps, bounded reads, byte swapping, writing.</summary>
internal static class VoxelData
{
    /// <summary>Deflate cannot expand data more than about 1032:1; a declared size past that is a lie.</summary>
    public const double MaxDeflateRatio = 1032.0;

    private const int ChunkBytes = 1 << 24;

    /// <summary>
    /// Checks a declared voxel count against 64-bit overflow and the caps, and returns the count
    /// and byte size. <paramref name="dims"/> are the declared lengths of every axis.
    /// </summary>
    public static (long Voxels, long Bytes) CheckSize(string format, string field, ReadOnlySpan<long> dims, VoxelType type, VolumeReadOptions options)
    {
        UInt128 count = 1;
        foreach (long d in dims)
        {
            count *= (UInt128)(ulong)d;
            if (count > long.MaxValue)
            {
                throw new InvalidImageException(format, field, Join(dims), "the voxel count overflows 64 bits");
            }
        }

        UInt128 bytes = count * (UInt128)Volume.BytesPerVoxel(type);
        if (bytes > long.MaxValue)
        {
            throw new InvalidImageException(format, field, Join(dims), "the data size overflows 64 bits");
        }

        if ((long)count > options.MaxVoxels || (long)count > Array.MaxLength)
        {
            throw new InvalidImageException(format, field, Join(dims), $"{count} voxels exceed the cap of {Math.Min(options.MaxVoxels, Array.MaxLength)}");
        }

        if ((long)bytes > options.MaxBytes)
        {
            throw new InvalidImageException(format, field, Join(dims), $"{bytes} bytes of voxel data exceed the cap of {options.MaxBytes}");
        }

        return ((long)count, (long)bytes);
    }

    public static string Join(ReadOnlySpan<long> values)
    {
        var parts = new string[values.Length];
        for (int i = 0; i < values.Length; i++)
        {
            parts[i] = values[i].ToString(System.Globalization.CultureInfo.InvariantCulture);
        }

        return "[" + string.Join(", ", parts) + "]";
    }

    /// <summary>
    /// An array every caller fills completely (or abandons with an error). Uninitialized: the
    /// pages of a large array are only touched as data arrive, so a header that declares more than
    /// the file delivers costs address space, not memory.
    /// </summary>
    public static Array Allocate(VoxelType type, long count)
    {
        int n = checked((int)count);
        return type switch
        {
            VoxelType.UInt8 => GC.AllocateUninitializedArray<byte>(n),
            VoxelType.Int8 => GC.AllocateUninitializedArray<sbyte>(n),
            VoxelType.UInt16 => GC.AllocateUninitializedArray<ushort>(n),
            VoxelType.Int16 => GC.AllocateUninitializedArray<short>(n),
            VoxelType.UInt32 => GC.AllocateUninitializedArray<uint>(n),
            VoxelType.Int32 => GC.AllocateUninitializedArray<int>(n),
            VoxelType.UInt64 => GC.AllocateUninitializedArray<ulong>(n),
            VoxelType.Int64 => GC.AllocateUninitializedArray<long>(n),
            VoxelType.Float16 => GC.AllocateUninitializedArray<Half>(n),
            VoxelType.Float32 => GC.AllocateUninitializedArray<float>(n),
            VoxelType.Float64 => GC.AllocateUninitializedArray<double>(n),
            _ => throw new ArgumentOutOfRangeException(nameof(type), type, null),
        };
    }

    public static long ByteLength(Array voxels) =>
        voxels.LongLength * Volume.BytesPerVoxel(VoxelTypeOf(voxels));

    /// <summary>
    /// The voxel type of an array by its exact element type (an sbyte[] also passes `is byte[]`,
    /// a short[] `is ushort[]`, so type patterns cannot tell them apart).
    /// </summary>
    public static VoxelType VoxelTypeOf(Array voxels)
    {
        Type? element = voxels.GetType().GetElementType();
        foreach (VoxelType type in Enum.GetValues<VoxelType>())
        {
            if (element == Volume.ElementTypeOf(type))
            {
                return type;
            }
        }

        throw new ArgumentException($"Unsupported voxel array {voxels.GetType().Name}.", nameof(voxels));
    }

    /// <summary>A window of an array's bytes (arrays may pass 2 GiB, spans may not).</summary>
    public static Span<byte> Bytes(Array voxels, long offset, int length)
    {
        ref byte start = ref MemoryMarshal.GetArrayDataReference(voxels);
        return MemoryMarshal.CreateSpan(ref Unsafe.Add(ref start, (nint)offset), length);
    }

    /// <summary>
    /// Allocates the voxels and fills them from <paramref name="source"/>, reading exactly the
    /// declared bytes and no more (a stream that would inflate further is never read past them).
    /// </summary>
    /// <summary>
    /// The voxels of a volume as the caller asked: the file's type (slope/intercept kept apart),
    /// or scaled float32 when <see cref="VolumeReadOptions.AsFloat32"/> is set.
    /// </summary>
    public static (Array Voxels, VoxelType Type, double Slope, double Intercept) ReadVolume(
        Stream source, VoxelType type, long count, bool swapBytes, double slope, double intercept, VolumeReadOptions options, string format)
    {
        (Array Voxels, VoxelType Type, double Slope, double Intercept) result = options.AsFloat32
            ? (FloatConversion.Read(source, type, count, swapBytes, slope, intercept, format, options.Cancellation), VoxelType.Float32, 1.0, 0.0)
            : (Read(source, type, count, swapBytes, format, options.Cancellation), type, slope, intercept);
        if (source is GZipStream)
        {
            CheckInflatesNoFurther(source, format);
        }

        return result;
    }

    /// <summary>
    /// A gzip stream must end where the header says the data ends (give or take a small margin): one
    /// that inflates further is not the file its header describes, and is never inflated past the margin.
    /// </summary>
    private static void CheckInflatesNoFurther(Stream source, string format)
    {
        byte[] rest = System.Buffers.ArrayPool<byte>.Shared.Rent(1 << 16);
        try
        {
            long extra = 0;
            int got;
            while ((got = source.Read(rest, 0, rest.Length)) > 0)
            {
                extra += got;
                if (extra > InflateMarginBytes)
                {
                    throw new InvalidImageException(format, "compressed data", $"> {InflateMarginBytes} bytes past the voxels",
                        "the gzip stream inflates beyond the size its header declares: refused");
                }
            }
        }
        catch (InvalidDataException)
        {
            // Damaged bytes after the data the header declares: the voxels themselves were whole.
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(rest);
        }
    }

    /// <summary>Bytes a gzip stream may inflate past its declared data (padding some writers add).</summary>
    public const long InflateMarginBytes = 1 << 20;

    public static Array Read(Stream source, VoxelType type, long count, bool swapBytes, string format, CancellationToken ct = default)
    {
        Array voxels = Allocate(type, count);
        long total = ByteLength(voxels);
        long done = 0;
        while (done < total)
        {
            ct.ThrowIfCancellationRequested();
            int want = (int)Math.Min(ChunkBytes, total - done);
            int got = source.ReadAtLeast(Bytes(voxels, done, want), want, throwOnEndOfStream: false);
            done += got;
            if (got < want)
            {
                throw new InvalidImageException(format, "voxel data", $"{done} of {total} bytes", "the data is truncated");
            }
        }

        if (swapBytes)
        {
            SwapBytes(voxels);
        }

        return voxels;
    }

    /// <summary>Reverses the byte order of every voxel in place (slices in parallel).</summary>
    public static void SwapBytes(Array voxels)
    {
        int size = Volume.BytesPerVoxel(VoxelTypeOf(voxels));
        if (size == 1)
        {
            return;
        }

        long total = ByteLength(voxels);
        const int chunk = 1 << 20;
        long chunks = (total + chunk - 1) / chunk;
        Parallel.For(0L, chunks, c =>
        {
            long start = c * chunk;
            int length = (int)Math.Min(chunk, total - start);
            Span<byte> bytes = Bytes(voxels, start, length);
            switch (size)
            {
                case 2: Span<ushort> s2 = MemoryMarshal.Cast<byte, ushort>(bytes); BinaryPrimitives.ReverseEndianness(s2, s2); break;
                case 4: Span<uint> s4 = MemoryMarshal.Cast<byte, uint>(bytes); BinaryPrimitives.ReverseEndianness(s4, s4); break;
                default: Span<ulong> s8 = MemoryMarshal.Cast<byte, ulong>(bytes); BinaryPrimitives.ReverseEndianness(s8, s8); break;
            }
        });
    }

    /// <summary>Writes the voxels' bytes in this machine's (little-endian) order.</summary>
    public static void Write(Stream destination, Array voxels)
    {
        long total = ByteLength(voxels);
        for (long done = 0; done < total; done += ChunkBytes)
        {
            int length = (int)Math.Min(ChunkBytes, total - done);
            destination.Write(Bytes(voxels, done, length));
        }
    }

    /// <summary>Discards <paramref name="count"/> bytes of a stream that may not seek.</summary>
    public static void Skip(Stream source, long count, string format, string field)
    {
        if (count <= 0)
        {
            return;
        }

        if (source.CanSeek)
        {
            if (source.Position + count > source.Length)
            {
                throw new InvalidImageException(format, field, count.ToString(System.Globalization.CultureInfo.InvariantCulture), "the data offset lies outside the file");
            }

            source.Seek(count, SeekOrigin.Current);
            return;
        }

        byte[] buffer = new byte[(int)Math.Min(count, 1 << 16)];
        long left = count;
        while (left > 0)
        {
            int got = source.Read(buffer, 0, (int)Math.Min(left, buffer.Length));
            if (got == 0)
            {
                throw new InvalidImageException(format, field, count.ToString(System.Globalization.CultureInfo.InvariantCulture), "the data offset lies outside the file");
            }

            left -= got;
        }
    }

    public static bool IsGzip(ReadOnlySpan<byte> head) => head.Length >= 2 && head[0] == 0x1f && head[1] == 0x8b;

    /// <summary>
    /// Opens a file for reading; a gzip file (by its magic bytes) is inflated on the fly.
    /// <paramref name="storedLength"/> is the file's size on disk.
    /// </summary>
    public static Stream Open(string path, out bool gzip, out long storedLength)
    {
        var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20, FileOptions.SequentialScan);
        try
        {
            storedLength = file.Length;
            Span<byte> head = stackalloc byte[2];
            int got = file.ReadAtLeast(head, 2, throwOnEndOfStream: false);
            file.Position = 0;
            gzip = IsGzip(head[..got]);
            return gzip ? new GZipStream(file, CompressionMode.Decompress, leaveOpen: false) : file;
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    /// <summary>Rejects a declared size that the file on disk cannot hold (raw) or cannot inflate to (gzip).</summary>
    public static void CheckFits(string format, string field, long neededBytes, long storedLength, bool gzip)
    {
        if (!gzip && neededBytes > storedLength)
        {
            throw new InvalidImageException(format, field, neededBytes.ToString(System.Globalization.CultureInfo.InvariantCulture),
                $"the header needs {neededBytes} bytes but the file holds {storedLength}: the data is truncated or the offset lies outside the file");
        }

        if (gzip && neededBytes > (storedLength * MaxDeflateRatio) + 4096)
        {
            throw new InvalidImageException(format, field, neededBytes.ToString(System.Globalization.CultureInfo.InvariantCulture),
                $"the header needs {neededBytes} bytes but {storedLength} gzip bytes cannot inflate to that many: the data is truncated");
        }
    }

    /// <summary>Reads as many bytes as the stream has, up to <paramref name="buffer"/>'s length.</summary>
    public static int ReadUpTo(Stream source, Span<byte> buffer)
    {
        try
        {
            return source.ReadAtLeast(buffer, buffer.Length, throwOnEndOfStream: false);
        }
        catch (InvalidDataException)
        {
            return 0;
        }
    }
}
