using System.Diagnostics;
using System.IO.Compression;
using KneeWeb.Imaging;
using KneeWeb.Imaging.Io;
using Xunit;
using KneeWeb.Tests.TestData;

namespace KneeWeb.Tests.Imaging.Io;

/// <summary>
/// Peak resident memory while refusing hostile files whose headers declare gigabytes within the
/// default caps. Measured with Linux's VmHWM, reset through /proc/self/clear_refs.
/// </summary>
[Trait("Category", "unit")]
public sealed class PeakMemoryTests : IDisposable
{
    // A hang guard, not a speed bound (the allocation bounds show a hostile file costs no real work).
    private static readonly TimeSpan HangGuard = TimeSpan.FromMinutes(2);

    private readonly TempFolder temp = new();

    public void Dispose() => temp.Dispose();

    [Fact]
    public void A_header_declaring_two_gigabytes_costs_far_less_than_500_MB_to_refuse()
    {
        // 1000 x 1000 x 1000 int16 declared (2 GB, inside the default 2 GiB cap); the gzip stream
        // holds 2.5 MB of incompressible bytes, enough to pass the deflate-ratio bound but far short.
        string path = temp.File("liar.nii.gz");
        var spec = new NiftiSpec { Dim = [3, 1000, 1000, 1000, 1, 1, 1, 1] };
        byte[] noise = new byte[2_500_000];
        new Random(5).NextBytes(noise);
        using (var file = File.Create(path))
        using (var gzip = new GZipStream(file, CompressionLevel.NoCompression))
        {
            gzip.Write(spec.Header());
            gzip.Write(new byte[4]);
            gzip.Write(noise);
        }

        GC.Collect();
        long baseline = ResetPeak();
        var clock = Stopwatch.StartNew();
        var e = Assert.Throws<InvalidImageException>(() => VolumeIo.Read(path));
        long peak = PeakBytes();
        Assert.Contains("truncated", e.Message, StringComparison.Ordinal);
        Assert.True(clock.Elapsed < HangGuard, $"took {clock.Elapsed}");
        Assert.True(peak - baseline < 500L << 20, $"peak resident memory grew by {(peak - baseline) >> 20} MB");
    }

    private static long ResetPeak()
    {
        File.WriteAllText("/proc/self/clear_refs", "5");
        return Field("VmRSS:");
    }

    private static long PeakBytes() => Field("VmHWM:");

    private static long Field(string name)
    {
        foreach (string line in File.ReadLines("/proc/self/status"))
        {
            if (line.StartsWith(name, StringComparison.Ordinal))
            {
                return long.Parse(line[name.Length..].Trim().Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture) * 1024;
            }
        }

        throw new InvalidOperationException($"{name} missing from /proc/self/status");
    }
}
