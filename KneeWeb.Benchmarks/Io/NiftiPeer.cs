using System.Diagnostics;
using System.Globalization;
using System.IO.Compression;
using System.Text.Json;
using KneeWeb.Imaging;
using KneeWeb.Imaging.Io;

namespace KneeWeb.Benchmarks.Io;

/// <summary>
/// `peer nifti`: reading a 384x384x160 int16 .nii.gz into float32, KneeWeb
/// (<c>VolumeIo.Read(f).ToFloat32()</c>) against nibabel
/// (<c>nib.load(f).get_fdata(dtype=np.float32)</c>), side by side in one run on the same file.
/// Options: --repeats N (default 7), --file PATH (default: a generated knee-sized phantom).
/// </summary>
public static class NiftiPeer
{
    private const string Python = "/usr/bin/python3";

    public static async Task<int> RunAsync(string[] args)
    {
        ArgumentNullException.ThrowIfNull(args);
        int repeats = 7;
        string? file = null;
        for (int i = 0; i < args.Length; i++)
        {
            if (args[i] == "--repeats" && i + 1 < args.Length)
            {
                repeats = int.Parse(args[++i], CultureInfo.InvariantCulture);
            }
            else if (args[i] == "--file" && i + 1 < args.Length)
            {
                file = args[++i];
            }
        }

        string folder = Path.Combine(Path.GetTempPath(), "kneeweb-peer-nifti");
        Directory.CreateDirectory(folder);
        if (file is null)
        {
            file = Path.Combine(folder, "phantom-384x384x160-int16.nii.gz");
            if (!File.Exists(file))
            {
                Console.WriteLine("writing phantom 384x384x160 int16 (gzip level 6, as dcm2niix writes) ...");
                WritePhantom(file);
            }
        }

        Console.WriteLine($"file: {file} ({new FileInfo(file).Length / 1e6:F1} MB compressed)");
        if (args.Contains("--profile"))
        {
            Profile(file, repeats);
            return 0;
        }

        Console.WriteLine($"cores: {Environment.ProcessorCount}, repeats: {repeats} (+1 warm-up each side)");

        // Interleaved rounds (nibabel, KneeWeb, KneeWeb AsFloat32, ...) so that load from other
        // processes on the machine falls on all sides alike; each side is timed inside its own process.
        await using var nibabel = await NibabelWorker.StartAsync(file);
        var nib = new List<double>();
        var own = new List<double>();
        var ownFloat = new List<double>();
        for (int r = -1; r < repeats; r++)
        {
            double a = await nibabel.TimeOneAsync();
            double b = TimeKneeWeb(file, asFloat32: false);
            double c = TimeKneeWeb(file, asFloat32: true);
            if (r >= 0)
            {
                nib.Add(a);
                own.Add(b);
                ownFloat.Add(c);
            }
        }

        double nibMedian = Median(nib), ownMedian = Median(own), floatMedian = Median(ownFloat);
        var ci = CultureInfo.InvariantCulture;
        Console.WriteLine($"nibabel {nibabel.Version}");
        Console.WriteLine(string.Create(ci, $"nibabel  nib.load(f).get_fdata(dtype=np.float32)               median {nibMedian * 1000,7:F1} ms  (min {nib.Min() * 1000:F1})"));
        Console.WriteLine(string.Create(ci, $"KneeWeb  VolumeIo.Read(f).ToFloat32()                          median {ownMedian * 1000,7:F1} ms  (min {own.Min() * 1000:F1})"));
        Console.WriteLine(string.Create(ci, $"KneeWeb  VolumeIo.Read(f, new() {{ AsFloat32 = true }})            median {floatMedian * 1000,7:F1} ms  (min {ownFloat.Min() * 1000:F1})"));
        Console.WriteLine(string.Create(ci, $"ratio nibabel / KneeWeb Read+ToFloat32:  {nibMedian / ownMedian:F2}x (medians), {nib.Min() / own.Min():F2}x (minima)"));
        Console.WriteLine(string.Create(ci, $"ratio nibabel / KneeWeb AsFloat32 read:  {nibMedian / floatMedian:F2}x (medians), {nib.Min() / ownFloat.Min():F2}x (minima)"));
        return 0;
    }

    private static double TimeKneeWeb(string file, bool asFloat32)
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        var clock = Stopwatch.StartNew();
        float[] values = asFloat32
            ? (float[])VolumeIo.Read(file, new VolumeReadOptions { AsFloat32 = true }).Voxels
            : VolumeIo.Read(file).ToFloat32();
        clock.Stop();
        GC.KeepAlive(values);
        return clock.Elapsed.TotalSeconds;
    }

    /// <summary>Where KneeWeb's time goes: bare inflate, the reader, the float conversion.</summary>
    private static void Profile(string file, int repeats)
    {
        for (int r = 0; r < repeats; r++)
        {
            var clock = Stopwatch.StartNew();
            byte[] buffer = new byte[384 * 384 * 160 * 2 + 352];
            using (var stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20))
            using (var gzip = new GZipStream(stream, CompressionMode.Decompress))
            {
                gzip.ReadAtLeast(buffer, buffer.Length, throwOnEndOfStream: false);
            }

            double inflate = clock.Elapsed.TotalMilliseconds;
            clock.Restart();
            byte[] compressed = File.ReadAllBytes(file);
            using (var gzip = new GZipStream(new MemoryStream(compressed), CompressionMode.Decompress))
            {
                gzip.ReadAtLeast(buffer, buffer.Length, throwOnEndOfStream: false);
            }

            double inflateMemory = clock.Elapsed.TotalMilliseconds;
            clock.Restart();
            var floats = GC.AllocateUninitializedArray<float>(384 * 384 * 160);
            System.Numerics.Tensors.TensorPrimitives.ConvertTruncating<short, float>(System.Runtime.InteropServices.MemoryMarshal.Cast<byte, short>(buffer.AsSpan(352)), floats);
            double tensor = clock.Elapsed.TotalMilliseconds;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"inflate from memory {inflateMemory:F1} ms; TensorPrimitives convert {tensor:F1} ms"));
            clock.Restart();
            Volume volume = VolumeIo.Read(file);
            double read = clock.Elapsed.TotalMilliseconds;
            clock.Restart();
            float[] values = volume.ToFloat32();
            double convert = clock.Elapsed.TotalMilliseconds;
            GC.KeepAlive(values);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"inflate only {inflate:F1} ms, VolumeIo.Read {read:F1} ms, ToFloat32 {convert:F1} ms"));
        }
    }

    /// <summary>A python3 process that loads the file with nibabel each time it is asked, and says how long it took.</summary>
    private sealed class NibabelWorker : IAsyncDisposable
    {
        private readonly Process process;

        private NibabelWorker(Process process, string version)
        {
            this.process = process;
            Version = version;
        }

        public string Version { get; }

        public static async Task<NibabelWorker> StartAsync(string file)
        {
            string script = $$"""
                import sys, time, gc, numpy as np, nibabel as nib
                f = r'{{file}}'
                print(nib.__version__, flush=True)
                for line in sys.stdin:
                    gc.collect()
                    t0 = time.perf_counter()
                    a = nib.load(f).get_fdata(dtype=np.float32)
                    t = time.perf_counter() - t0
                    del a
                    print(repr(t), flush=True)
                """;
            string path = Path.Combine(Path.GetTempPath(), "kneeweb-peer-nifti", "nibabel_worker.py");
            await File.WriteAllTextAsync(path, script);
            var start = new ProcessStartInfo(Python) { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true };
            start.ArgumentList.Add(path);
            Process process = Process.Start(start) ?? throw new InvalidOperationException("python3 did not start");
            string? version = await process.StandardOutput.ReadLineAsync();
            if (version is null)
            {
                throw new InvalidOperationException($"nibabel side failed (apt-get install python3-nibabel): {await process.StandardError.ReadToEndAsync()}");
            }

            return new NibabelWorker(process, version);
        }

        public async Task<double> TimeOneAsync()
        {
            await process.StandardInput.WriteLineAsync("go");
            await process.StandardInput.FlushAsync();
            string line = await process.StandardOutput.ReadLineAsync() ?? throw new InvalidOperationException(await process.StandardError.ReadToEndAsync());
            return double.Parse(line, CultureInfo.InvariantCulture);
        }

        public async ValueTask DisposeAsync()
        {
            process.StandardInput.Close();
            await process.WaitForExitAsync();
            process.Dispose();
        }
    }

    /// <summary>A knee-sized phantom: smooth anatomy-like blobs plus scanner-like noise (so it compresses like an MRI).</summary>
    private static void WritePhantom(string path)
    {
        var dims = new Dims3(384, 384, 160);
        var values = new short[dims.VoxelCount];
        Parallel.For(0, dims.K, k =>
        {
            var random = new Random(k);
            for (int j = 0; j < dims.J; j++)
            {
                for (int i = 0; i < dims.I; i++)
                {
                    double x = (i - 192) / 120.0, y = (j - 192) / 120.0, z = (k - 80) / 60.0;
                    double r2 = (x * x) + (y * y) + (z * z);
                    double tissue = r2 < 1 ? 600 + (300 * Math.Cos(6 * x) * Math.Sin(5 * y)) : 0;
                    double bone = ((x - 0.2) * (x - 0.2)) + (y * y) < 0.1 ? 1200 : 0;
                    values[dims.Index(i, j, k)] = (short)(tissue + bone + random.Next(0, 40));
                }
            }
        });
        var affine = AffineRas.FromDirections(new Vec3d(-1, 0, 0), new Vec3d(0, 1, 0), new Vec3d(0, 0, 1), new Vec3d(0.3646, 0.3646, 0.7), new Vec3d(70, -70, -56));
        var volume = new Volume(new VolumeGeometry(dims, affine), VoxelType.Int16, values);
        VolumeIo.Write(volume, path, new VolumeWriteOptions { Compression = CompressionLevel.Optimal });
    }

    private static double Median(IReadOnlyCollection<double> values)
    {
        double[] sorted = [.. values.Order()];
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[(sorted.Length / 2) - 1] + sorted[sorted.Length / 2]) / 2;
    }
}
