namespace KneeWeb.Pipeline;

/// <summary>Summary of an image's scaled values, as stats.json reports them.</summary>
public sealed record ImageStatistics(double Min, double Max, double Mean, double StandardDeviation, double NonZeroFraction, long NonFiniteCount)
{
    public static ImageStatistics Compute(float[] values)
    {
        ArgumentNullException.ThrowIfNull(values);
        const int ChunkSize = 1 << 18;
        int chunks = (values.Length + ChunkSize - 1) / ChunkSize;
        var partial = new Partial[Math.Max(chunks, 1)];
        Parallel.For(0, chunks, c =>
        {
            int start = c * ChunkSize;
            int end = Math.Min(values.Length, start + ChunkSize);
            partial[c] = Accumulate(values.AsSpan(start, end - start));
        });
        var sum = new Partial(double.PositiveInfinity, double.NegativeInfinity, 0, 0, 0, 0, 0);
        foreach (Partial p in partial)
        {
            sum = new Partial(Math.Min(sum.Min, p.Min), Math.Max(sum.Max, p.Max), sum.Sum + p.Sum, sum.SumSquares + p.SumSquares, sum.Count + p.Count, sum.NonZero + p.NonZero, sum.NonFinite + p.NonFinite);
        }

        if (sum.Count == 0)
        {
            return new ImageStatistics(double.NaN, double.NaN, double.NaN, double.NaN, 0, sum.NonFinite);
        }

        double mean = sum.Sum / sum.Count;
        double variance = Math.Max(0, (sum.SumSquares / sum.Count) - (mean * mean));
        return new ImageStatistics(sum.Min, sum.Max, mean, Math.Sqrt(variance), (double)sum.NonZero / sum.Count, sum.NonFinite);
    }

    private static Partial Accumulate(ReadOnlySpan<float> span)
    {
        double min = double.PositiveInfinity, max = double.NegativeInfinity, s = 0, s2 = 0;
        long count = 0, nonZero = 0, nonFinite = 0;
        for (int i = 0; i < span.Length; i++)
        {
            float v = span[i];
            if (!float.IsFinite(v))
            {
                nonFinite++;
                continue;
            }

            count++;
            if (v != 0)
            {
                nonZero++;
            }

            if (v < min)
            {
                min = v;
            }

            if (v > max)
            {
                max = v;
            }

            s += v;
            s2 += (double)v * v;
        }

        return new Partial(min, max, s, s2, count, nonZero, nonFinite);
    }

    private readonly record struct Partial(double Min, double Max, double Sum, double SumSquares, long Count, long NonZero, long NonFinite);
}
