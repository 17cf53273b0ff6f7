using System.Globalization;

namespace KneeWeb.Benchmarks.Server;

/// <summary>Percentiles of timings in milliseconds, printed the same way by every verb.</summary>
public static class Figures
{
    /// <summary>The q-quantile (nearest rank) of <paramref name="sorted"/>, ascending.</summary>
    public static double Quantile(IReadOnlyList<double> sorted, double q)
    {
        ArgumentNullException.ThrowIfNull(sorted);
        return sorted.Count == 0 ? double.NaN : sorted[Math.Clamp((int)Math.Ceiling(q * sorted.Count) - 1, 0, sorted.Count - 1)];
    }

    public static double Median(IEnumerable<double> values)
    {
        double[] sorted = [.. values.Order()];
        return Quantile(sorted, 0.5);
    }

    /// <summary>"what: n requests, p50 .. ms, p95 .. ms, max .. ms".</summary>
    public static string Line(string what, IEnumerable<double> ms, string unit = "requests")
    {
        double[] sorted = [.. ms.Order()];
        return sorted.Length == 0
            ? $"{what}: none"
            : string.Create(CultureInfo.InvariantCulture, $"{what}: {sorted.Length} {unit}, p50 {Quantile(sorted, 0.5):0.0} ms, p95 {Quantile(sorted, 0.95):0.0} ms, max {sorted[^1]:0.0} ms");
    }

    public static int Option(string[] args, string name, int fallback)
    {
        ArgumentNullException.ThrowIfNull(args);
        int at = Array.IndexOf(args, name);
        return at >= 0 && at + 1 < args.Length ? int.Parse(args[at + 1], CultureInfo.InvariantCulture) : fallback;
    }

    public static string? Text(string[] args, string name)
    {
        ArgumentNullException.ThrowIfNull(args);
        int at = Array.IndexOf(args, name);
        return at >= 0 && at + 1 < args.Length ? args[at + 1] : null;
    }
}
