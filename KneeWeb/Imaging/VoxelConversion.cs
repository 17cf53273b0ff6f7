using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace KneeWeb.Imaging;

/// <summary>
/// Typed voxels to float32, vectorized for the types MRI comes in (int16, uint16, uint8, float32);
/// shared by <see cref="Volume.ToFloat32"/> and the readers' float path.
/// </summary>
internal static class VoxelConversion
{
    /// <summary>target = source x slope + intercept, in float32 arithmetic.</summary>
    public static void ToFloat32<T>(ReadOnlySpan<T> source, Span<float> target, float slope, float intercept)
        where T : unmanaged, INumberBase<T>
    {
        if (typeof(T) == typeof(short))
        {
            Widen(MemoryMarshal.Cast<T, short>(source), target);
        }
        else if (typeof(T) == typeof(ushort))
        {
            Widen(MemoryMarshal.Cast<T, ushort>(source), target);
        }
        else if (typeof(T) == typeof(byte))
        {
            Widen(MemoryMarshal.Cast<T, byte>(source), target);
        }
        else if (typeof(T) == typeof(float))
        {
            MemoryMarshal.Cast<T, float>(source).CopyTo(target);
        }
        else if (typeof(T) == typeof(int))
        {
            TensorPrimitives.ConvertTruncating<int, float>(MemoryMarshal.Cast<T, int>(source), target);
        }
        else if (typeof(T) == typeof(Half))
        {
            TensorPrimitives.ConvertToSingle(MemoryMarshal.Cast<T, Half>(source), target);
        }
        else
        {
            for (int i = 0; i < source.Length; i++)
            {
                target[i] = float.CreateTruncating(source[i]);
            }
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

    private static void Widen(ReadOnlySpan<byte> source, Span<float> target)
    {
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            for (; i <= source.Length - Vector256<byte>.Count; i += Vector256<byte>.Count)
            {
                (Vector256<ushort> lo16, Vector256<ushort> hi16) = Vector256.Widen(Vector256.Create(source.Slice(i, Vector256<byte>.Count)));
                (Vector256<uint> a, Vector256<uint> b) = Vector256.Widen(lo16);
                (Vector256<uint> c, Vector256<uint> d) = Vector256.Widen(hi16);
                Vector256.ConvertToSingle(a.AsInt32()).CopyTo(target.Slice(i));
                Vector256.ConvertToSingle(b.AsInt32()).CopyTo(target.Slice(i + 8));
                Vector256.ConvertToSingle(c.AsInt32()).CopyTo(target.Slice(i + 16));
                Vector256.ConvertToSingle(d.AsInt32()).CopyTo(target.Slice(i + 24));
            }
        }

        for (; i < source.Length; i++)
        {
            target[i] = source[i];
        }
    }
}
