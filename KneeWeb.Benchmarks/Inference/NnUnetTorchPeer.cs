using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json;
using KneeWeb.Inference;

namespace KneeWeb.Benchmarks.Inference;

/// <summary>
/// `peer nnunet-torch`: the same imported ResEnc-M weights on the same tile, through KneeWeb's
/// OrtSession (ONNX Runtime CPU) and through PyTorch CPU (the network nnU-Net builds, loaded from
/// the checkpoint), in interleaved rounds with the same thread count; prints both medians, their
/// ratio (target &lt;= 0.8: faster than PyTorch) and how far the outputs differ.
/// Options: --threads N (default: cores), --rounds R, --runs N (per side and round),
/// --patch z,y,x (default: the plans' patch), --trained FOLDER (default: generated),
/// --models FOLDER (keep the imported model there and reuse it on the next run).
/// </summary>
public static class NnUnetTorchPeer
{
    private static readonly JsonSerializerOptions Json = new() { PropertyNameCaseInsensitive = true };

    public static async Task<int> RunAsync(string[] args)
    {
        int threads = Args.Int(args, "--threads", Environment.ProcessorCount);
        int rounds = Args.Int(args, "--rounds", 2);
        int runs = Args.Int(args, "--runs", 2);
        int[]? patchArg = Args.Ints(args, "--patch");
        OrtRuntime runtime = OrtRuntime.Load();
        string work = Directory.CreateTempSubdirectory("kneeweb-peer-nnunet-torch-").FullName;
        try
        {
            string trained = await ResEncMFixture.TrainedFolderAsync(Args.Text(args, "--trained"), work);
            string models = Path.GetFullPath(Args.Text(args, "--models") ?? Path.Combine(work, "models"));
            Directory.CreateDirectory(models);
            ModelEntry model = ResEncMFixture.Import(runtime, trained, models, "resenc-m-plans"); // the same name as nnunet-fullsize --plans-spacing: one import serves both
            ModelSidecar sidecar = model.Sidecar ?? throw new InvalidOperationException("the imported model has no sidecar");
            int[] patch = patchArg ?? [.. Enumerable.Reverse(sidecar.PatchSizeIjk ?? throw new InvalidOperationException("no patch size"))]; // network axes z, y, x
            int channels = sidecar.InputChannels;
            long[] shape = [1, channels, patch[0], patch[1], patch[2]];

            using OrtSession session = OrtSession.Create(runtime, model.ModelPath, new OrtSessionSettings { Provider = ExecutionProviderPreference.Cpu, IntraOpThreads = threads, InterOpThreads = 1 });
            using var input = new OrtFloatTensor(runtime, shape);
            var random = new Random(11);
            for (int i = 0; i < input.Data.Length; i++)
            {
                input.Data[i] = (float)((random.NextDouble() * 4) - 2); // z-scored intensities
            }

            string inputPath = Path.Combine(work, "input.f32");
            await File.WriteAllBytesAsync(inputPath, MemoryMarshal.AsBytes(input.Data.AsSpan()).ToArray());

            var clock = Stopwatch.StartNew();
            session.Run(input, out long[] outputShape); // warm-up, and the output's shape
            Console.WriteLine($"network: {model.Name} ({model.Description}); tile [{string.Join(',', shape)}] -> [{string.Join(',', outputShape)}]; CPU, {threads} thread(s), {rounds} rounds x {runs} runs per side after one warm-up (KneeWeb warm-up {clock.Elapsed.TotalSeconds:F1} s)");
            using var output = new OrtFloatTensor(runtime, outputShape);

            string foldDir = Directory.EnumerateDirectories(trained, "fold_*").OrderBy(d => d, StringComparer.Ordinal).First();
            string script = Path.Combine(ResEncMFixture.RepoRoot(), "KneeWeb.Benchmarks", "Inference", "nnunet_torch_peer.py");
            string torchOutput = Path.Combine(work, "torch-output.f32");
            var kneeWeb = new List<double>();
            var torch = new List<double>();
            string torchVersion = "?";
            for (int round = 0; round < rounds; round++)
            {
                for (int r = 0; r < runs; r++)
                {
                    clock.Restart();
                    session.Run([input], [output]);
                    kneeWeb.Add(clock.Elapsed.TotalMilliseconds);
                }

                (int code, string stdout, string stderr) = await ResEncMFixture.RunAsync(ResEncMFixture.Python, [
                    script, trained, foldDir, inputPath, string.Join(',', shape), threads.ToString(CultureInfo.InvariantCulture),
                    runs.ToString(CultureInfo.InvariantCulture), round == rounds - 1 ? torchOutput : "-"]);
                if (code != 0)
                {
                    throw new InvalidOperationException($"nnunet_torch_peer.py failed ({code}): {stderr}");
                }

                TorchResult result = JsonSerializer.Deserialize<TorchResult>(stdout.Trim().Split('\n')[^1], Json)
                    ?? throw new InvalidOperationException($"the torch peer printed {stdout}");
                torch.AddRange(result.Times);
                torchVersion = result.Torch;
                Console.WriteLine($"round {round + 1}: KneeWeb {string.Join(' ', kneeWeb.TakeLast(runs).Select(Ms))} ms | PyTorch {string.Join(' ', result.Times.Select(Ms))} ms");
            }

            CompareOutputs(output.Data, await File.ReadAllBytesAsync(torchOutput), (int)outputShape[1]);
            double kwMedian = Median(kneeWeb), torchMedian = Median(torch);
            Console.WriteLine($"KneeWeb (ONNX Runtime {runtime.Version}, OrtSession): median {Ms(kwMedian)} ms, min {Ms(kneeWeb.Min())} ms");
            Console.WriteLine($"PyTorch {torchVersion} (CPU, inference_mode): median {Ms(torchMedian)} ms, min {Ms(torch.Min())} ms");
            Console.WriteLine($"ratio KneeWeb / PyTorch: median {kwMedian / torchMedian:F3}, min {kneeWeb.Min() / torch.Min():F3} (target <= 0.8)");
            return 0;
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
    }

    /// <summary>Largest logit difference, relative to the logits' range, and voxels whose argmax differs.</summary>
    private static void CompareOutputs(float[] ours, byte[] theirsBytes, int classes)
    {
        ReadOnlySpan<float> theirs = MemoryMarshal.Cast<byte, float>(theirsBytes);
        if (theirs.Length != ours.Length)
        {
            throw new InvalidOperationException($"PyTorch gave {theirs.Length} values, KneeWeb {ours.Length}");
        }

        double maxDiff = 0, maxAbs = 0;
        for (int i = 0; i < ours.Length; i++)
        {
            maxDiff = Math.Max(maxDiff, Math.Abs(ours[i] - theirs[i]));
            maxAbs = Math.Max(maxAbs, Math.Abs(theirs[i]));
        }

        int voxels = ours.Length / classes;
        long differ = 0;
        for (int v = 0; v < voxels; v++)
        {
            int a = 0, b = 0;
            for (int c = 1; c < classes; c++)
            {
                a = ours[(c * voxels) + v] > ours[(a * voxels) + v] ? c : a;
                b = theirs[(c * voxels) + v] > theirs[(b * voxels) + v] ? c : b;
            }

            differ += a == b ? 0 : 1;
        }

        Console.WriteLine($"outputs: max |KneeWeb - PyTorch| {maxDiff:G3} (logits up to {maxAbs:G3}, relative {maxDiff / Math.Max(1e-12, maxAbs):E1}); argmax differs at {differ} of {voxels} voxels");
    }

    private sealed record TorchResult(string Torch, int Threads, double[] Times, double Sum);

    private static double Median(List<double> values)
    {
        double[] sorted = [.. values.Order()];
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[(sorted.Length / 2) - 1] + sorted[sorted.Length / 2]) / 2;
    }

    private static string Ms(double ms) => ms.ToString("F0", CultureInfo.InvariantCulture);
}

/// <summary>Command-line options of the peer verbs.</summary>
internal static class Args
{
    public static string? Text(string[] args, string name)
    {
        int at = Array.IndexOf(args, name);
        return at >= 0 && at + 1 < args.Length ? args[at + 1] : null;
    }

    public static int Int(string[] args, string name, int fallback) =>
        Text(args, name) is { } text ? int.Parse(text, CultureInfo.InvariantCulture) : fallback;

    public static int[]? Ints(string[] args, string name) =>
        Text(args, name) is { } text ? [.. text.Split(',').Select(s => int.Parse(s, CultureInfo.InvariantCulture))] : null;

    public static double[]? Doubles(string[] args, string name) =>
        Text(args, name) is { } text ? [.. text.Split(',').Select(s => double.Parse(s, CultureInfo.InvariantCulture))] : null;
}
