namespace KneeWeb.Imaging;

/// <summary>On-disk voxel types KneeWeb reads and writes.</summary>
public enum VoxelType
{
    UInt8,
    Int8,
    UInt16,
    Int16,
    UInt32,
    Int32,
    UInt64,
    Int64,
    Float16,
    Float32,
    Float64,
}

/// <summary>
/// A 3D (or 4D: <see cref="Frames"/> volumes of one geometry) image kept with its original voxel
/// type so that writing it back is lossless. Values a person means are
/// <c>raw * <see cref="Slope"/> + <see cref="Intercept"/></c>; <see cref="ToFloat32"/> applies that.
/// </summary>
public sealed class Volume
{
    public Volume(VolumeGeometry geometry, VoxelType voxelType, Array voxels, int frames = 1, double slope = 1.0, double intercept = 0.0)
    {
        ArgumentNullException.ThrowIfNull(geometry);
        ArgumentNullException.ThrowIfNull(voxels);
        if (frames < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(frames), frames, "A volume has at least one frame.");
        }

        if (voxels.Rank != 1 || voxels.GetType().GetElementType() != ElementTypeOf(voxelType))
        {
            throw new ArgumentException($"Voxel array must be a one-dimensional {ElementTypeOf(voxelType).Name}[] for {voxelType}.", nameof(voxels));
        }

        if (voxels.LongLength != geometry.Dims.VoxelCount * frames)
        {
            throw new ArgumentException($"Voxel array holds {voxels.LongLength} values; {geometry.Dims} x {frames} frame(s) needs {geometry.Dims.VoxelCount * frames}.", nameof(voxels));
        }

        Geometry = geometry;
        VoxelType = voxelType;
        Voxels = voxels;
        Frames = frames;
        Slope = slope;
        Intercept = intercept;
    }

    public VolumeGeometry Geometry { get; }

    public Dims3 Dims => Geometry.Dims;

    public VoxelType VoxelType { get; }

    /// <summary>Raw voxels (a T[] matching <see cref="VoxelType"/>), frame after frame, i fastest.</summary>
    public Array Voxels { get; }

    public int Frames { get; }

    public double Slope { get; }

    public double Intercept { get; }

    public bool IsScaled => Slope != 1.0 || Intercept != 0.0;

    /// <summary>Where the volume came from (format, allow-listed DICOM facts, frame chosen); null when made in memory.</summary>
    public ImageMetadata? Metadata { get; init; }

    /// <summary>The raw voxels as a typed span.</summary>
    public Span<T> Span<T>()
        where T : unmanaged =>
        // Compare element types exactly: `Voxels is T[]` would let a short[] pass as ushort[].
        Voxels.GetType().GetElementType() == typeof(T)
            ? (T[])Voxels
            : throw new InvalidOperationException($"Volume holds {VoxelType}, not {typeof(T).Name}.");

    /// <summary>A label map: uint8 voxels on the given geometry.</summary>
    public static Volume CreateLabelMap(VolumeGeometry geometry, byte[] labels) =>
        new(geometry, VoxelType.UInt8, labels);

    /// <summary>One frame's scaled values as float32 (the pipeline's working type).</summary>
    public float[] ToFloat32(int frame = 0)
    {
        if ((uint)frame >= (uint)Frames)
        {
            throw new ArgumentOutOfRangeException(nameof(frame), frame, $"The volume has {Frames} frame(s).");
        }

        long n = Dims.VoxelCount;
        // Every element is written below: skip the zeroing of a fresh 100 MB array.
        float[] result = GC.AllocateUninitializedArray<float>(checked((int)n));
        int offset = checked((int)(n * frame));
        float slope = (float)Slope, intercept = (float)Intercept;
        // Dispatch on the declared type, not on `Voxels is T[]`: the runtime lets an sbyte[] pass as
        // byte[] (and short[] as ushort[]), which would read signed voxels as unsigned.
        switch (VoxelType)
        {
            case VoxelType.UInt8: Convert((byte[])Voxels, offset, result, slope, intercept); break;
            case VoxelType.Int8: Convert((sbyte[])Voxels, offset, result, slope, intercept); break;
            case VoxelType.UInt16: Convert((ushort[])Voxels, offset, result, slope, intercept); break;
            case VoxelType.Int16: Convert((short[])Voxels, offset, result, slope, intercept); break;
            case VoxelType.UInt32: Convert((uint[])Voxels, offset, result, slope, intercept); break;
            case VoxelType.Int32: Convert((int[])Voxels, offset, result, slope, intercept); break;
            case VoxelType.UInt64: Convert((ulong[])Voxels, offset, result, slope, intercept); break;
            case VoxelType.Int64: Convert((long[])Voxels, offset, result, slope, intercept); break;
            case VoxelType.Float16: Convert((Half[])Voxels, offset, result, slope, intercept); break;
            case VoxelType.Float32: Convert((float[])Voxels, offset, result, slope, intercept); break;
            case VoxelType.Float64: Convert((double[])Voxels, offset, result, slope, intercept); break;
            default: throw new InvalidOperationException($"Unsupported voxel type {VoxelType}.");
        }

        return result;
    }

    public static Type ElementTypeOf(VoxelType type) => type switch
    {
        VoxelType.UInt8 => typeof(byte),
        VoxelType.Int8 => typeof(sbyte),
        VoxelType.UInt16 => typeof(ushort),
        VoxelType.Int16 => typeof(short),
        VoxelType.UInt32 => typeof(uint),
        VoxelType.Int32 => typeof(int),
        VoxelType.UInt64 => typeof(ulong),
        VoxelType.Int64 => typeof(long),
        VoxelType.Float16 => typeof(Half),
        VoxelType.Float32 => typeof(float),
        VoxelType.Float64 => typeof(double),
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, null),
    };

    public static int BytesPerVoxel(VoxelType type) => type switch
    {
        VoxelType.UInt8 or VoxelType.Int8 => 1,
        VoxelType.UInt16 or VoxelType.Int16 or VoxelType.Float16 => 2,
        VoxelType.UInt32 or VoxelType.Int32 or VoxelType.Float32 => 4,
        VoxelType.UInt64 or VoxelType.Int64 or VoxelType.Float64 => 8,
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, null),
    };

    private static void Convert<T>(T[] source, int offset, float[] destination, float slope, float intercept)
        where T : unmanaged, System.Numerics.INumberBase<T>
    {
        int n = destination.Length;
        // Slices in parallel, each vectorized: conversion of a 20-M voxel volume is memory bound.
        int slice = 1 << 18;
        int chunks = (n + slice - 1) / slice;
        Parallel.For(0, chunks, c =>
        {
            int start = c * slice;
            int end = Math.Min(n, start + slice);
            VoxelConversion.ToFloat32<T>(source.AsSpan(offset + start, end - start), destination.AsSpan(start, end - start), slope, intercept);
        });
    }
}
