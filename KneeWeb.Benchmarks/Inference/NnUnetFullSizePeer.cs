using System.Diagnostics;
using System.Globalization;
using KneeWeb.Imaging;
using KneeWeb.Imaging.Phantom;
using KneeWeb.Inference;

namespace KneeWeb.Benchmarks.Inference;

/// <summary>
/// `peer nnunet-fullsize`: a full-size knee grid (the phantom at 384 x 384 x 160, 0.36 x 0.36 x
/// 0.7 mm) through the imported ResEnc-M-sized network with the real predictor on the CPU,
/// mirroring off: wall time per step and the process's peak resident memory (VmHWM, reset just
/// before segmentation; target &lt;= 6 GB). By default the plans are set to the image's own spacing
/// (a model trained at native resolution: every voxel goes through the network); --plans-spacing
/// keeps the generator's 1 mm. Options: --threads N, --patch z,y,x, --trained FOLDER, --seed S,
/// --models FOLDER (keep the imported model there and reuse it).
/// The in-process figure still carries what the phantom and the import left resident; the
/// command line gives the segmentation alone: /usr/bin/time -v KneeWeb segment IMAGE --model NAME
/// --device cpu --mirroring off --models FOLDER --out labels.nii.gz (with --models as kept here).
/// </summary>
public static class NnUnetFullSizePeer
{
    public static async Task<int> RunAsync(string[] args)
    {
        int threads = Args.Int(args, "--threads", Environment.ProcessorCount);
        int[]? patch = Args.Ints(args, "--patch");
        bool plansSpacing = args.Contains("--plans-spacing");
        OrtRuntime runtime = OrtRuntime.Load();
        string work = Directory.CreateTempSubdirectory("kneeweb-peer-nnunet-fullsize-").FullName;
        try
        {
            var clock = Stopwatch.StartNew();
            PhantomResult phantom = KneePhantom.Generate(new PhantomOptions { Seed = Args.Int(args, "--seed", 4711), Coarsening = 1 });
            Volume image = phantom.Image;
            Vec3d spacing = image.Geometry.SpacingMm;
            Console.WriteLine($"image: knee phantom {image.Dims} at {spacing.X:G3} x {spacing.Y:G3} x {spacing.Z:G3} mm ({clock.Elapsed.TotalSeconds:F0} s to make)");

            string trained = await ResEncMFixture.TrainedFolderAsync(Args.Text(args, "--trained"), work);
            double[]? spacingZyx = plansSpacing ? null : [spacing.Z, spacing.Y, spacing.X];
            if (spacingZyx is not null || patch is not null)
            {
                trained = ResEncMFixture.WithPlans(trained, work, spacingZyx, patch);
            }

            string models = Path.GetFullPath(Args.Text(args, "--models") ?? Path.Combine(work, "models"));
            Directory.CreateDirectory(models);
            string name = $"resenc-m-{(plansSpacing ? "plans" : "native")}{(patch is null ? string.Empty : "-" + string.Join('x', patch))}";
            ModelEntry model = ResEncMFixture.Import(runtime, trained, models, name);
            ModelSidecar sidecar = model.Sidecar!;
            Console.WriteLine($"model: patch (i,j,k) {string.Join('x', sidecar.PatchSizeIjk ?? [])}, spacing (i,j,k) {string.Join(" x ", (sidecar.TargetSpacingMmIjk ?? []).Select(v => v.ToString("G3", CultureInfo.InvariantCulture)))} mm; CPU, {threads} thread(s), mirroring off");

            GC.Collect();
            long rssBefore = ProcStatus("VmRSS");
            ResetPeakResident();
            var predictor = new SegmentationPredictor(runtime);
            var options = new SegmentationOptions { Provider = ExecutionProviderPreference.Cpu, IntraOpThreads = threads, Mirroring = MirroringMode.Off };
            clock.Restart();
            SegmentationResult result = await predictor.SegmentAsync(image, model, options, new TenthsProgress(clock), null, CancellationToken.None);
            TimeSpan wall = clock.Elapsed;
            long peak = ProcStatus("VmHWM");

            SegmentationTimings t = result.Timings;
            Console.WriteLine($"model grid {result.ModelGrid}, {result.Tiles} tiles, batch {result.BatchSize}, provider {result.Provider}{(result.Fallbacks.Count > 0 ? $" ({string.Join("; ", result.Fallbacks)})" : string.Empty)}");
            Console.WriteLine($"steps: session load {S(t.SessionLoad)}, preprocess {S(t.Preprocess)}, model runs {S(t.ModelRuns)} ({S(t.ModelRuns / Math.Max(1, result.Tiles))} per tile), tiling {S(t.Tiling)}, postprocess {S(t.Postprocess)}; total {S(t.Total)} (wall {S(wall)})");
            Console.WriteLine($"resident memory: {Gb(rssBefore)} before segmentation (runtime, phantom), peak during segmentation {Gb(peak)} (target <= 6 GB)");
            Console.WriteLine($"labels: {result.Labels.Dims} on the input grid: {result.Labels.Geometry == image.Geometry}");
            return 0;
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
    }

    /// <summary>Linux: writing 5 to clear_refs resets VmHWM to the current resident size.</summary>
    private static void ResetPeakResident()
    {
        try
        {
            File.WriteAllText("/proc/self/clear_refs", "5");
        }
        catch (IOException e)
        {
            Console.WriteLine($"(peak resident memory not reset: {e.Message}; it then counts from process start)");
        }
        catch (UnauthorizedAccessException e)
        {
            Console.WriteLine($"(peak resident memory not reset: {e.Message}; it then counts from process start)");
        }
    }

    /// <summary>A /proc/self/status field in bytes (its unit is kB).</summary>
    private static long ProcStatus(string field)
    {
        foreach (string line in File.ReadLines("/proc/self/status"))
        {
            if (line.StartsWith(field + ":", StringComparison.Ordinal))
            {
                string kb = line[(field.Length + 1)..].Trim().Split(' ')[0];
                return long.Parse(kb, CultureInfo.InvariantCulture) * 1024;
            }
        }

        return -1;
    }

    private static string S(TimeSpan t) => t.TotalSeconds.ToString("F1", CultureInfo.InvariantCulture) + " s";

    private static string Gb(long bytes) => (bytes / 1e9).ToString("F2", CultureInfo.InvariantCulture) + " GB";

    /// <summary>Prints each tenth of the way once (long runs on a loaded machine).</summary>
    private sealed class TenthsProgress(Stopwatch clock) : IProgress<double>
    {
        private int printed = -1;

        public void Report(double value)
        {
            int tenth = (int)Math.Floor(value * 10);
            int previous = Volatile.Read(ref printed);
            if (tenth > previous && Interlocked.CompareExchange(ref printed, tenth, previous) == previous)
            {
                Console.WriteLine($"  {tenth * 10}% at {clock.Elapsed.TotalSeconds:F0} s, resident {Gb(ProcStatus("VmRSS"))}");
            }
        }
    }
}
