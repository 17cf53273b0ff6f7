using System.Buffers.Binary;
using System.Globalization;
using System.Text;

namespace KneeWeb.Imaging.Io;

/// <summary>
/// Writes MRC2014, little-endian. MRC stores no rotation: each index axis must step along one of
/// x, y, z (any order, written as mapc/mapr/maps); an axis stepping the negative way is flipped
/// in the data, so the same voxels land at the same RAS points. Voxels go in the narrowest MRC mode that
/// holds every value exactly (uint8 labels up to 127 as mode 0, else mode 6); float64 and
/// scaled volumes are written as float32.
/// </summary>
internal static class MrcWriter
{
    public static void Write(Volume volume, string path)
    {
        volume = WithPositiveSteps(volume);
        AffineRas a = volume.Geometry.IndexToRas;
        int[] axisOf = new int[3];
        double[] step = new double[3];
        for (int c = 0; c < 3; c++)
        {
            Vec3d col = a.Column(c);
            double[] v = [col.X, col.Y, col.Z];
            int axis = Math.Abs(v[0]) >= Math.Abs(v[1]) ? (Math.Abs(v[0]) >= Math.Abs(v[2]) ? 0 : 2) : (Math.Abs(v[1]) >= Math.Abs(v[2]) ? 1 : 2);
            double off = 0;
            for (int w = 0; w < 3; w++)
            {
                off += w == axis ? 0 : Math.Abs(v[w]);
            }

            if (v[axis] <= 0 || off > 1e-9 * v[axis])
            {
                throw new ArgumentException(
                    $"MRC stores no rotation, but index axis {c} steps ({col.X:G6}, {col.Y:G6}, {col.Z:G6}) mm in RAS: write NIfTI or NRRD for this geometry.",
                    nameof(volume));
            }

            axisOf[c] = axis;
            step[axis] = v[axis];
        }

        if (axisOf[0] == axisOf[1] || axisOf[1] == axisOf[2] || axisOf[0] == axisOf[2])
        {
            throw new ArgumentException("MRC needs the three index axes along three different world axes.", nameof(volume));
        }

        (int mode, Array voxels) = Narrowest(volume);
        Dims3 d = volume.Dims;
        int[] n = [d.I, d.J, d.K];
        int[] perAxis = new int[3];
        for (int c = 0; c < 3; c++)
        {
            perAxis[axisOf[c]] = n[c];
        }

        (double min, double max, double mean, double rms) = VolumeStatistics.RawMoments(voxels);
        var h = new byte[MrcReader.HeaderSize];
        Span<byte> s = h;
        BinaryPrimitives.WriteInt32LittleEndian(s, d.I);
        BinaryPrimitives.WriteInt32LittleEndian(s[4..], d.J);
        BinaryPrimitives.WriteInt32LittleEndian(s[8..], checked(d.K * volume.Frames));
        BinaryPrimitives.WriteInt32LittleEndian(s[12..], mode);
        for (int w = 0; w < 3; w++)
        {
            BinaryPrimitives.WriteInt32LittleEndian(s[(28 + (4 * w))..], perAxis[w]);
            BinaryPrimitives.WriteSingleLittleEndian(s[(40 + (4 * w))..], (float)(step[w] * perAxis[w]));
            BinaryPrimitives.WriteSingleLittleEndian(s[(52 + (4 * w))..], 90f);
            BinaryPrimitives.WriteInt32LittleEndian(s[(64 + (4 * w))..], axisOf[w] + 1);
            BinaryPrimitives.WriteSingleLittleEndian(s[(196 + (4 * w))..], (float)a[w, 3]);
        }

        BinaryPrimitives.WriteSingleLittleEndian(s[76..], (float)min);
        BinaryPrimitives.WriteSingleLittleEndian(s[80..], (float)max);
        BinaryPrimitives.WriteSingleLittleEndian(s[84..], (float)mean);
        BinaryPrimitives.WriteInt32LittleEndian(s[88..], volume.Frames > 1 ? 401 : 1);
        BinaryPrimitives.WriteInt32LittleEndian(s[108..], 20140);
        "MAP "u8.CopyTo(s[208..]);
        s[212] = 0x44;
        s[213] = 0x44;
        BinaryPrimitives.WriteSingleLittleEndian(s[216..], (float)rms);
        BinaryPrimitives.WriteInt32LittleEndian(s[220..], 1);
        Encoding.ASCII.GetBytes("KneeWeb", s[224..]);
        VolumeIo.WriteAtomically(path, stream =>
        {
            stream.Write(h);
            VoxelData.Write(stream, voxels);
        });
    }

    /// <summary>Flips the data along every index axis whose step points the negative way along its world axis.</summary>
    private static Volume WithPositiveSteps(Volume volume)
    {
        AffineRas a = volume.Geometry.IndexToRas;
        Span<bool> flip = stackalloc bool[3];
        bool any = false;
        for (int c = 0; c < 3; c++)
        {
            Vec3d col = a.Column(c);
            double dominant = Math.Abs(col.X) >= Math.Abs(col.Y) ? (Math.Abs(col.X) >= Math.Abs(col.Z) ? col.X : col.Z) : (Math.Abs(col.Y) >= Math.Abs(col.Z) ? col.Y : col.Z);
            flip[c] = dominant < 0;
            any |= flip[c];
        }

        if (!any)
        {
            return volume;
        }

        Dims3 d = volume.Dims;
        Vec3d origin = a.Apply(new Vec3d(flip[0] ? d.I - 1 : 0, flip[1] ? d.J - 1 : 0, flip[2] ? d.K - 1 : 0));
        Vec3d c0 = a.Column(0) * (flip[0] ? -1 : 1), c1 = a.Column(1) * (flip[1] ? -1 : 1), c2 = a.Column(2) * (flip[2] ? -1 : 1);
        var affine = new AffineRas(c0.X, c1.X, c2.X, origin.X, c0.Y, c1.Y, c2.Y, origin.Y, c0.Z, c1.Z, c2.Z, origin.Z);
        Array flipped = Flip(volume.Voxels, d, volume.Frames, flip[0], flip[1], flip[2]);
        return new Volume(new VolumeGeometry(d, affine), volume.VoxelType, flipped, volume.Frames, volume.Slope, volume.Intercept);
    }

    private static Array Flip(Array source, Dims3 d, int frames, bool flipI, bool flipJ, bool flipK)
    {
        VoxelType type = VoxelData.VoxelTypeOf(source);
        int size = Volume.BytesPerVoxel(type);
        Array target = VoxelData.Allocate(type, source.LongLength);
        int lineBytes = d.I * size;
        Parallel.For(0, d.K * frames, slice =>
        {
            int frame = slice / d.K, k = slice % d.K;
            int sourceK = flipK ? d.K - 1 - k : k;
            for (int j = 0; j < d.J; j++)
            {
                int sourceJ = flipJ ? d.J - 1 - j : j;
                long sourceLine = ((((long)frame * d.K) + sourceK) * d.J) + sourceJ;
                long targetLine = ((((long)frame * d.K) + k) * d.J) + j;
                Span<byte> from = VoxelData.Bytes(source, sourceLine * lineBytes, lineBytes);
                Span<byte> to = VoxelData.Bytes(target, targetLine * lineBytes, lineBytes);
                if (!flipI)
                {
                    from.CopyTo(to);
                    continue;
                }

                for (int i = 0; i < d.I; i++)
                {
                    from.Slice((d.I - 1 - i) * size, size).CopyTo(to.Slice(i * size, size));
                }
            }
        });
        return target;
    }

    private static (int Mode, Array Voxels) Narrowest(Volume volume)
    {
        if (volume.IsScaled)
        {
            return (2, Frames(volume));
        }

        switch (volume.VoxelType)
        {
            case VoxelType.Int8: return (0, volume.Voxels);
            case VoxelType.Int16: return (1, volume.Voxels);
            case VoxelType.UInt16: return (6, volume.Voxels);
            case VoxelType.Float32: return (2, volume.Voxels);
            case VoxelType.Float16: return (12, volume.Voxels);
            case VoxelType.Float64: return (2, ToFloat((double[])volume.Voxels));
        }

        (double min, double max, _, _) = VolumeStatistics.RawMoments(volume.Voxels);
        if (min >= sbyte.MinValue && max <= sbyte.MaxValue)
        {
            return (0, Convert<sbyte>(volume.Voxels));
        }

        if (min >= short.MinValue && max <= short.MaxValue)
        {
            return (1, Convert<short>(volume.Voxels));
        }

        if (min >= 0 && max <= ushort.MaxValue)
        {
            return (6, Convert<ushort>(volume.Voxels));
        }

        if (min >= -(1 << 24) && max <= 1 << 24)
        {
            return (2, Convert<float>(volume.Voxels));
        }

        throw new ArgumentException(
            $"MRC holds at most float32; {volume.VoxelType} values from {min.ToString(CultureInfo.InvariantCulture)} to {max.ToString(CultureInfo.InvariantCulture)} would lose precision: write NIfTI or NRRD.",
            nameof(volume));
    }

    private static float[] Frames(Volume volume)
    {
        long perFrame = volume.Dims.VoxelCount;
        var result = new float[perFrame * volume.Frames];
        for (int f = 0; f < volume.Frames; f++)
        {
            volume.ToFloat32(f).CopyTo(result, f * perFrame);
        }

        return result;
    }

    private static float[] ToFloat(double[] source)
    {
        var result = new float[source.LongLength];
        for (long i = 0; i < source.LongLength; i++)
        {
            result[i] = (float)source[i];
        }

        return result;
    }

    private static T[] Convert<T>(Array source)
        where T : unmanaged, System.Numerics.INumberBase<T>
    {
        var result = new T[source.LongLength];
        switch (VoxelData.VoxelTypeOf(source))
        {
            case VoxelType.UInt8: Fill((byte[])source, result); break;
            case VoxelType.UInt32: Fill((uint[])source, result); break;
            case VoxelType.Int32: Fill((int[])source, result); break;
            case VoxelType.UInt64: Fill((ulong[])source, result); break;
            case VoxelType.Int64: Fill((long[])source, result); break;
            default: throw new ArgumentException($"Unexpected voxel array {source.GetType().Name}.", nameof(source));
        }

        return result;
    }

    private static void Fill<TFrom, TTo>(TFrom[] source, TTo[] target)
        where TFrom : unmanaged, System.Numerics.INumberBase<TFrom>
        where TTo : unmanaged, System.Numerics.INumberBase<TTo>
    {
        for (long i = 0; i < source.LongLength; i++)
        {
            target[i] = TTo.CreateTruncating(source[i]);
        }
    }
}
