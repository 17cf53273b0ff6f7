using System.Numerics;

namespace KneeWeb.Imaging.Io;

/// <summary>Minimum, maximum and mean of a volume's values (NaNs left out), for inspect and headers.</summary>
public readonly record struct VolumeStatistics(double Min, double Max, double Mean, long Count)
{
    /// <summary>Statistics of the scaled values (raw x slope + intercept) over every frame.</summary>
    public static VolumeStatistics Of(Volume volume)
    {
        ArgumentNullException.ThrowIfNull(volume);
        (double min, double max, double mean, _, long count) = Moments(volume.Voxels);
        double a = volume.Slope, b = volume.Intercept;
        double lo = (min * a) + b, hi = (max * a) + b;
        return new VolumeStatistics(Math.Min(lo, hi), Math.Max(lo, hi), (mean * a) + b, count);
    }

    internal static (double Min, double Max, double Mean, double Rms) RawMoments(Array voxels)
    {
        (double min, double max, double mean, double rms, _) = Moments(voxels);
        return (min, max, mean, rms);
    }

    private static (double Min, double Max, double Mean, double Rms, long Count) Moments(Array voxels) => VoxelData.VoxelTypeOf(voxels) switch
    {
        VoxelType.UInt8 => Scan((byte[])voxels),
        VoxelType.Int8 => Scan((sbyte[])voxels),
        VoxelType.UInt16 => Scan((ushort[])voxels),
        VoxelType.Int16 => Scan((short[])voxels),
        VoxelType.UInt32 => Scan((uint[])voxels),
        VoxelType.Int32 => Scan((int[])voxels),
        VoxelType.UInt64 => Scan((ulong[])voxels),
        VoxelType.Int64 => Scan((long[])voxels),
        VoxelType.Float16 => Scan((Half[])voxels),
        VoxelType.Float32 => Scan((float[])voxels),
        _ => Scan((double[])voxels),
    };

    private static (double Min, double Max, double Mean, double Rms, long Count) Scan<T>(T[] values)
        where T : unmanaged, INumberBase<T>
    {
        const int chunk = 1 << 18;
        long chunks = (values.LongLength + chunk - 1) / chunk;
        var partial = new (double Min, double Max, double Sum, double Squares, long Count)[chunks];
        Parallel.For(0L, chunks, c =>
        {
            long start = c * chunk;
            ReadOnlySpan<T> span = values.AsSpan((int)start, (int)Math.Min(chunk, values.LongLength - start));
            double min = double.PositiveInfinity, max = double.NegativeInfinity, sum = 0, squares = 0;
            long count = 0;
            foreach (T raw in span)
            {
                double v = double.CreateTruncating(raw);
                if (double.IsNaN(v))
                {
                    continue;
                }

                min = Math.Min(min, v);
                max = Math.Max(max, v);
                sum += v;
                squares += v * v;
                count++;
            }

            partial[c] = (min, max, sum, squares, count);
        });

        double tMin = double.PositiveInfinity, tMax = double.NegativeInfinity, tSum = 0, tSquares = 0;
        long tCount = 0;
        foreach ((double min, double max, double sum, double squares, long count) in partial)
        {
            tMin = Math.Min(tMin, min);
            tMax = Math.Max(tMax, max);
            tSum += sum;
            tSquares += squares;
            tCount += count;
        }

        return tCount == 0 ? (double.NaN, double.NaN, double.NaN, double.NaN, 0) : (tMin, tMax, tSum / tCount, Math.Sqrt(Math.Max(0, (tSquares / tCount) - ((tSum / tCount) * (tSum / tCount)))), tCount);
    }
}
