using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using KneeWeb.Imaging;
using KneeWeb.Imaging.Meshing;
using KneeWeb.Imaging.Phantom;
using KneeWeb.Imaging.Segmentation;

namespace KneeWeb.Benchmarks.Analysis;

/// <summary>
/// `peer marching-cubes`: the femur of the full phantom (384x384x160 label map, as float32 0/1) meshed at
/// level 0.5 over the whole grid by KneeWeb (<c>MarchingCubes.Extract</c>) and by scikit-image
/// (<c>skimage.measure.marching_cubes(volume, 0.5)</c>), same volume, interleaved rounds in one run,
/// each side timed inside its own process. Prints times, the ratio and both vertex counts.
/// Options: --repeats N (default 5), --label L (default 1, femur).
/// </summary>
public static class MarchingCubesPeer
{
    private const string Python = "/usr/bin/python3";

    public static async Task<int> RunAsync(string[] args)
    {
        ArgumentNullException.ThrowIfNull(args);
        int repeats = 5;
        byte label = KneeLabels.Femur;
        for (int i = 0; i < args.Length; i++)
        {
            if (args[i] == "--repeats" && i + 1 < args.Length)
            {
                repeats = int.Parse(args[++i], CultureInfo.InvariantCulture);
            }
            else if (args[i] == "--label" && i + 1 < args.Length)
            {
                label = byte.Parse(args[++i], CultureInfo.InvariantCulture);
            }
        }

        PhantomResult phantom = KneePhantom.Generate(new PhantomOptions { Seed = 1, IncludeImage = false });
        byte[] labels = (byte[])phantom.Labels.Voxels;
        Dims3 dims = phantom.Labels.Dims;
        var field = new float[labels.Length];
        for (int v = 0; v < labels.Length; v++)
        {
            field[v] = labels[v] == label ? 1f : 0f;
        }

        string folder = Path.Combine(Path.GetTempPath(), "kneeweb-peer-mc");
        Directory.CreateDirectory(folder);
        string raw = Path.Combine(folder, $"label{label}-{dims.I}x{dims.J}x{dims.K}-float32.raw");
        await File.WriteAllBytesAsync(raw, MemoryMarshal.AsBytes(field.AsSpan()).ToArray());
        Console.WriteLine($"volume: {KneeLabels.Name(label)} mask of the full phantom, {dims} float32, level 0.5, whole grid on both sides");
        Console.WriteLine($"cores: {Environment.ProcessorCount}, repeats: {repeats} (+1 warm-up each side)");

        string script = $$"""
            import sys, time, gc, numpy as np, skimage
            from skimage.measure import marching_cubes
            v = np.fromfile(r'{{raw}}', dtype=np.float32).reshape(({{dims.K}}, {{dims.J}}, {{dims.I}}))
            print(skimage.__version__, flush=True)
            for line in sys.stdin:
                gc.collect()
                t0 = time.perf_counter()
                verts, faces, normals, values = marching_cubes(v, 0.5)
                t = time.perf_counter() - t0
                print(repr(t), len(verts), len(faces), flush=True)
            """;
        string scriptPath = Path.Combine(folder, "skimage_worker.py");
        await File.WriteAllTextAsync(scriptPath, script);
        var start = new ProcessStartInfo(Python) { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(scriptPath);
        using Process python = Process.Start(start) ?? throw new InvalidOperationException("python3 did not start");
        string? version = await python.StandardOutput.ReadLineAsync();
        if (version is null)
        {
            await Console.Error.WriteLineAsync($"scikit-image side failed (apt-get install python3-skimage): {await python.StandardError.ReadToEndAsync()}");
            return 1;
        }

        var ours = new List<double>();
        var theirs = new List<double>();
        int ourVertices = 0, ourTriangles = 0, theirVertices = 0, theirTriangles = 0;
        for (int round = 0; round <= repeats; round++)
        {
            await python.StandardInput.WriteLineAsync("go");
            await python.StandardInput.FlushAsync();
            string line = await python.StandardOutput.ReadLineAsync() ?? throw new InvalidOperationException(await python.StandardError.ReadToEndAsync());
            string[] parts = line.Split(' ');
            theirVertices = int.Parse(parts[1], CultureInfo.InvariantCulture);
            theirTriangles = int.Parse(parts[2], CultureInfo.InvariantCulture);

            var watch = Stopwatch.StartNew();
            TriangleMesh mesh = MarchingCubes.Extract(field, dims, 0.5f, AffineRas.Identity);
            double seconds = watch.Elapsed.TotalSeconds;
            ourVertices = mesh.VertexCount;
            ourTriangles = mesh.TriangleCount;
            if (round > 0)
            {
                theirs.Add(double.Parse(parts[0], CultureInfo.InvariantCulture));
                ours.Add(seconds);
            }
        }

        python.StandardInput.Close();
        await python.WaitForExitAsync();
        double ourMedian = Median(ours), theirMedian = Median(theirs);
        Console.WriteLine($"scikit-image {version} marching_cubes: median {theirMedian * 1000:F1} ms  ({theirVertices} vertices, {theirTriangles} triangles)");
        Console.WriteLine($"KneeWeb MarchingCubes.Extract:      median {ourMedian * 1000:F1} ms  ({ourVertices} vertices, {ourTriangles} triangles)");
        Console.WriteLine($"ratio (scikit-image / KneeWeb): {theirMedian / ourMedian:F2}x; vertex counts differ by {100.0 * (ourVertices - theirVertices) / theirVertices:F3}%");
        return 0;
    }

    private static double Median(List<double> values)
    {
        values.Sort();
        return values.Count % 2 == 1 ? values[values.Count / 2] : 0.5 * (values[(values.Count / 2) - 1] + values[values.Count / 2]);
    }
}
