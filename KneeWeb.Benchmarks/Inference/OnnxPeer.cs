using System.Diagnostics;
using System.Globalization;
using KneeWeb.Imaging;
using KneeWeb.Inference;
using KneeWeb.Inference.ModelBuilding;

namespace KneeWeb.Benchmarks.Inference;

/// <summary>
/// `peer onnx-overhead`: pre- plus postprocessing of a full 384x384x160 volume against the
/// ONNX Runtime time of the nnU-Net-sized model over the same sliding window. (The former
/// `peer onnx`, KneeWeb's own C API binding against onnxruntime-node, went with the binding:
/// both sides are now the official package; `peer nnunet-torch` compares with PyTorch.)
/// </summary>
public static class OnnxPeer
{
    public static async Task<int> RunOverheadAsync(string[] args)
    {
        int threads = IntArg(args, "--threads", Environment.ProcessorCount);
        int tileRuns = IntArg(args, "--tile-runs", 2);
        int[] patch = LongsArg(args, "--patch", [160, 160, 64]).Select(v => (int)v).ToArray();
        OrtRuntime runtime = OrtRuntime.Load();
        string folder = Directory.CreateTempSubdirectory("kneeweb-onnx-overhead-").FullName;
        try
        {
            // A 384 x 384 x 160 knee-sized volume at 0.36 x 0.36 x 0.7 mm, resampled to 0.4 x 0.4 x 0.8 mm.
            var dims = new Dims3(384, 384, 160);
            var spacing = new Vec3d(0.36, 0.36, 0.7);
            Volume image = KneeLikeVolume(dims, spacing);
            double[] target = [0.4, 0.4, 0.8];

            // Same sliding window and class count as the nnU-Net model, but the cheap demo graph
            // as the network, so the pass measures KneeWeb's own work on the full volume.
            DemoModel.Write(folder, patchSizeIjk: patch, targetSpacingMmIjk: target);
            ModelEntry cheap = new ModelRegistry(folder, runtime).Find(DemoModel.Name) ?? throw new InvalidOperationException("demo model missing");
            if (!cheap.Enabled)
            {
                throw new InvalidOperationException(cheap.DisabledReason);
            }

            var predictor = new SegmentationPredictor(runtime);
            var options = new SegmentationOptions { Provider = ExecutionProviderPreference.Cpu, IntraOpThreads = threads, BatchSize = 1 };
            await predictor.SegmentAsync(image, cheap, options, null, null, CancellationToken.None); // warm-up (JIT, page faults)
            SegmentationResult pass = await predictor.SegmentAsync(image, cheap, options, null, null, CancellationToken.None);
            SegmentationTimings t = pass.Timings;

            string unet = Path.Combine(folder, "unet-nnunet-sized.onnx");
            ModelBuilders.NnUnetSized().Save(unet);
            using OrtSession session = OrtSession.Create(runtime, unet, new OrtSessionSettings { Provider = ExecutionProviderPreference.Cpu, IntraOpThreads = threads, InterOpThreads = 1 });
            using var input = new OrtFloatTensor(runtime, 1, 1, patch[2], patch[1], patch[0]);
            using var output = new OrtFloatTensor(runtime, 1, 10, patch[2], patch[1], patch[0]);
            var random = new Random(3);
            for (int i = 0; i < input.Data.Length; i++)
            {
                input.Data[i] = (float)((random.NextDouble() * 2) - 1);
            }

            session.Run([input], [output]); // warm-up
            var tileTimes = new List<double>();
            for (int r = 0; r < tileRuns; r++)
            {
                var clock = Stopwatch.StartNew();
                session.Run([input], [output]);
                tileTimes.Add(clock.Elapsed.TotalSeconds);
            }

            double perTile = Median(tileTimes);
            double ortSeconds = perTile * pass.Tiles;
            double prePost = t.Preprocess.TotalSeconds + t.Postprocess.TotalSeconds;
            Console.WriteLine($"volume {dims} at {spacing.X} x {spacing.Y} x {spacing.Z} mm -> model grid {pass.ModelGrid} at {string.Join(" x ", target)} mm; patch (i,j,k) {string.Join('x', patch)}, overlap 0.5, {pass.Tiles} tiles, {threads} thread(s)");
            Console.WriteLine($"KneeWeb, full volume: preprocess {t.Preprocess.TotalSeconds:F2} s, postprocess {t.Postprocess.TotalSeconds:F2} s, tiling (fill, weighted accumulation, argmax) {t.Tiling.TotalSeconds:F2} s");
            Console.WriteLine($"nnU-Net-sized U-Net, one tile: {string.Join(' ', tileTimes.Select(s => s.ToString("F2", CultureInfo.InvariantCulture)))} s -> median {perTile:F2} s x {pass.Tiles} tiles = {ortSeconds:F1} s of ONNX Runtime (extrapolated from {tileRuns} measured tiles)");
            Console.WriteLine($"(pre + post) / ONNX Runtime = {prePost / ortSeconds:P2} (target <= 15%); with tiling: {(prePost + t.Tiling.TotalSeconds) / ortSeconds:P2}");
            return 0;
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    private static Volume KneeLikeVolume(Dims3 dims, Vec3d spacing)
    {
        // Zero air around an ellipsoidal leg with a few tissue intensities and noise: the crop to
        // non-zero then has real work, as on a scan.
        var voxels = new short[dims.VoxelCount];
        Parallel.For(0, dims.K, k =>
        {
            var random = new Random(k);
            for (int j = 0; j < dims.J; j++)
            {
                for (int i = 0; i < dims.I; i++)
                {
                    double x = (i - (dims.I / 2.0)) / (dims.I * 0.42), y = (j - (dims.J / 2.0)) / (dims.J * 0.40);
                    double r = (x * x) + (y * y);
                    short v = r > 1 ? (short)0 : r > 0.8 ? (short)300 : r > 0.3 ? (short)600 : (short)900;
                    voxels[dims.Index(i, j, k)] = v == 0 ? (short)0 : (short)(v + random.Next(-40, 40));
                }
            }
        });
        return new Volume(new VolumeGeometry(dims, AffineRas.FromSpacing(spacing, new Vec3d(-69, -69, -56))), VoxelType.Int16, voxels);
    }

    private static double Median(List<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[(sorted.Length / 2) - 1] + sorted[sorted.Length / 2]) / 2;
    }

    private static string Ms(double ms) => ms.ToString("F1", CultureInfo.InvariantCulture);

    private static int IntArg(string[] args, string name, int fallback)
    {
        int at = Array.IndexOf(args, name);
        return at >= 0 && at + 1 < args.Length ? int.Parse(args[at + 1], CultureInfo.InvariantCulture) : fallback;
    }

    private static long[] LongsArg(string[] args, string name, long[] fallback)
    {
        int at = Array.IndexOf(args, name);
        return at >= 0 && at + 1 < args.Length ? args[at + 1].Split(',').Select(s => long.Parse(s, CultureInfo.InvariantCulture)).ToArray() : fallback;
    }
}
