using System.Buffers;
using System.Runtime.InteropServices;

namespace KneeWeb.Imaging.Io;

/// <summary>
/// Reading straight to scaled float32 (<see cref="VolumeReadOptions.AsFloat32"/>): inflating
/// chunk n+1 on the reading thread while another core converts chunk n, so the conversion hides
/// behind the inflate that dominates a .nii.gz read.
/// </summary>
internal static class FloatConversion
{
    private const int ChunkVoxels = 1 << 20;

    public static float[] Read(Stream source, VoxelType type, long count, bool swapBytes, double slope, double intercept, string format, CancellationToken ct = default)
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
                ct.ThrowIfCancellationRequested();
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
                pending = Task.Run(() => Convert(buffer.AsSpan(0, want), type, swapBytes, (float)slope, (float)intercept, result.AsSpan((int)at, n)), CancellationToken.None);
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
            case VoxelType.Int16: VoxelConversion.ToFloat32(MemoryMarshal.Cast<byte, short>(raw), target, slope, intercept); break;
            case VoxelType.UInt16: VoxelConversion.ToFloat32(MemoryMarshal.Cast<byte, ushort>(raw), target, slope, intercept); break;
            case VoxelType.UInt8: VoxelConversion.ToFloat32<byte>(raw, target, slope, intercept); break;
            case VoxelType.Int8: VoxelConversion.ToFloat32(MemoryMarshal.Cast<byte, sbyte>(raw), target, slope, intercept); break;
            case VoxelType.UInt32: VoxelConversion.ToFloat32(MemoryMarshal.Cast<byte, uint>(raw), target, slope, intercept); break;
            case VoxelType.Int32: VoxelConversion.ToFloat32(MemoryMarshal.Cast<byte, int>(raw), target, slope, intercept); break;
            case VoxelType.UInt64: VoxelConversion.ToFloat32(MemoryMarshal.Cast<byte, ulong>(raw), target, slope, intercept); break;
            case VoxelType.Int64: VoxelConversion.ToFloat32(MemoryMarshal.Cast<byte, long>(raw), target, slope, intercept); break;
            case VoxelType.Float16: VoxelConversion.ToFloat32(MemoryMarshal.Cast<byte, Half>(raw), target, slope, intercept); break;
            case VoxelType.Float32: VoxelConversion.ToFloat32(MemoryMarshal.Cast<byte, float>(raw), target, slope, intercept); break;
            default: VoxelConversion.ToFloat32(MemoryMarshal.Cast<byte, double>(raw), target, slope, intercept); break;
        }
    }
}
