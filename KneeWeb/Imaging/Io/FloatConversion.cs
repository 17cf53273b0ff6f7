using System.Buffers;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace KneeWeb.Imaging.Io;

/// <summary>
/// Reading straight to scaled float32 (<see cref="VolumeReadOptions.AsFloat32"/>): inflating
/// chunk n+1 on the reading thread while another core converts chunk n, so the conversion hides
/// behind the inflate that dominates a .nii.gz read.
/// </summary>
internal static class FloatConversion
{
    private const int ChunkVoxels = 1 << 20;

    public static float[] Read(Stream source, VoxelType type, long count, bool swapBytes, double slope, double intercept, string format)
    {
        int size = Volume.BytesPerVoxel(type);
        float[] result = GC.AllocateUninitializedArray<float>(checked((int)count));
        byte[][] buffers = [ArrayPool<byte>.Shared.Rent(ChunkVoxels * size), ArrayPool<byte>.Shared.Rent(ChunkVoxels * size)];
        Task pending = Task.CompletedTask;
        try
        {
            int which = 0;
            for (long start = 0; start < count; start += ChunkVoxels)
            {
                int n = (int)Math.Min(ChunkVoxels, count - start);
                byte[] buffer = buffers[which];
                which ^= 1;
                int want = n * size;
                int got = source.ReadAtLeast(buffer.AsSpan(0, want), want, throwOnEndOfStream: false);
                if (got < want)
                {
                    throw new InvalidImageException(format, "voxel data", $"{(start * size) + got} of {count * size} bytes", "the data is truncated");
                }

                pending.GetAwaiter().GetResult();
                long at = start;
                pending = Task.Run(() => Convert(buffer.AsSpan(0, want), type, swapBytes, (float)slope, (float)intercept, result.AsSpan((int)at, n)));
            }

            pending.GetAwaiter().GetResult();
        }
        finally
        {
            try
            {
                pending.GetAwaiter().GetResult();
            }
            catch (InvalidOperationException)
            {
                // already reported by the first wait
            }

            ArrayPool<byte>.Shared.Return(buffers[0]);
            ArrayPool<byte>.Shared.Return(buffers[1]);
        }

        return result;
    }

    /// <summary>One chunk of raw bytes (file byte order) to scaled float32.</summary>
    public static void Convert(Span<byte> raw, VoxelType type, bool swapBytes, float slope, float intercept, Span<float> target)
    {
        if (swapBytes)
        {
            switch (Volume.BytesPerVoxel(type))
            {
                case 2: Span<ushort> s2 = MemoryMarshal.Cast<byte, ushort>(raw); System.Buffers.Binary.BinaryPrimitives.ReverseEndianness(s2, s2); break;
                case 4: Span<uint> s4 = MemoryMarshal.Cast<byte, uint>(raw); System.Buffers.Binary.BinaryPrimitives.ReverseEndianness(s4, s4); break;
                case 8: Span<ulong> s8 = MemoryMarshal.Cast<byte, ulong>(raw); System.Buffers.Binary.BinaryPrimitives.ReverseEndianness(s8, s8); break;
            }
        }

        switch (type)
        {
            case VoxelType.Int16: Widen(MemoryMarshal.Cast<byte, short>(raw), target); break;
            case VoxelType.UInt16: Widen(MemoryMarshal.Cast<byte, ushort>(raw), target); break;
            case VoxelType.UInt8: Scalar<byte>(raw, target); break;
            case VoxelType.Int8: Scalar(MemoryMarshal.Cast<byte, sbyte>(raw), target); break;
            case VoxelType.UInt32: Scalar(MemoryMarshal.Cast<byte, uint>(raw), target); break;
            case VoxelType.Int32: TensorPrimitives.ConvertTruncating<int, float>(MemoryMarshal.Cast<byte, int>(raw), target); break;
            case VoxelType.UInt64: Scalar(MemoryMarshal.Cast<byte, ulong>(raw), target); break;
            case VoxelType.Int64: Scalar(MemoryMarshal.Cast<byte, long>(raw), target); break;
            case VoxelType.Float16: TensorPrimitives.ConvertToSingle(MemoryMarshal.Cast<byte, Half>(raw), target); break;
            case VoxelType.Float32: MemoryMarshal.Cast<byte, float>(raw).CopyTo(target); break;
            default: Scalar(MemoryMarshal.Cast<byte, double>(raw), target); break;
        }

        if (slope != 1f || intercept != 0f)
        {
            TensorPrimitives.Multiply(target, slope, target);
            TensorPrimitives.Add(target, intercept, target);
        }
    }

    private static void Widen(ReadOnlySpan<short> source, Span<float> target)
    {
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            for (; i <= source.Length - Vector256<short>.Count; i += Vector256<short>.Count)
            {
                (Vector256<int> lo, Vector256<int> hi) = Vector256.Widen(Vector256.Create(source.Slice(i, Vector256<short>.Count)));
                Vector256.ConvertToSingle(lo).CopyTo(target.Slice(i));
                Vector256.ConvertToSingle(hi).CopyTo(target.Slice(i + Vector256<int>.Count));
            }
        }

        for (; i < source.Length; i++)
        {
            target[i] = source[i];
        }
    }

    private static void Widen(ReadOnlySpan<ushort> source, Span<float> target)
    {
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            for (; i <= source.Length - Vector256<ushort>.Count; i += Vector256<ushort>.Count)
            {
                (Vector256<uint> lo, Vector256<uint> hi) = Vector256.Widen(Vector256.Create(source.Slice(i, Vector256<ushort>.Count)));
                Vector256.ConvertToSingle(lo.AsInt32()).CopyTo(target.Slice(i));
                Vector256.ConvertToSingle(hi.AsInt32()).CopyTo(target.Slice(i + Vector256<int>.Count));
            }
        }

        for (; i < source.Length; i++)
        {
            target[i] = source[i];
        }
    }

    private static void Scalar<T>(ReadOnlySpan<T> source, Span<float> target)
        where T : unmanaged, System.Numerics.INumberBase<T>
    {
        for (int i = 0; i < source.Length; i++)
        {
            target[i] = float.CreateTruncating(source[i]);
        }
    }
}
