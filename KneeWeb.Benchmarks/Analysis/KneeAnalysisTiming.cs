using System.Diagnostics;
using System.Globalization;
using KneeWeb.Imaging.Analysis;
using KneeWeb.Imaging.Meshing;
using KneeWeb.Imaging.Phantom;
using KneeWeb.Imaging.Segmentation;
using KneeWeb.Imaging.Thickness;

namespace KneeWeb.Benchmarks.Analysis;

/// <summary>
/// `peer knee-analysis`: wall-clock time of meshes (all nine structures) plus cartilage thickness on the full
/// phantom (384x384x160), the issue's 10 s bar on a 2-core machine (run it under `taskset -c 0,1` to hold it
/// to two cores). The lab's previous Python pipeline (3.5 minutes) is not runnable here, so this prints our
/// side only. Options: --repeats N (default 3).
/// </summary>
public static class KneeAnalysisTiming
{
    public static Task<int> RunAsync(string[] args)
    {
        ArgumentNullException.ThrowIfNull(args);
        int repeats = 3;
        for (int i = 0; i < args.Length; i++)
        {
            if (args[i] == "--repeats" && i + 1 < args.Length)
            {
                repeats = int.Parse(args[++i], CultureInfo.InvariantCulture);
            }
        }

        var watch = Stopwatch.StartNew();
        PhantomResult phantom = KneePhantom.Generate(new PhantomOptions { Seed = 1, IncludeImage = false });
        Console.WriteLine($"phantom {phantom.Labels.Dims} in {watch.Elapsed.TotalSeconds:F2} s; cores: {Environment.ProcessorCount}");
        var options = new AnalysisOptions();
        for (int round = 0; round <= repeats; round++)
        {
            watch.Restart();
            PostprocessResult clean = KneeAnalysis.Postprocess(phantom.Labels, options.Postprocess);
            double post = watch.Elapsed.TotalSeconds;
            watch.Restart();
            IReadOnlyDictionary<byte, StructureMesh> meshes = KneeAnalysis.BuildMeshes(clean.Labels, options.Meshes);
            double mesh = watch.Elapsed.TotalSeconds;
            watch.Restart();
            (FemoralSubregionRule? _, IReadOnlyList<RegionThickness> stats) = KneeAnalysis.MeasureThickness(clean.Labels, meshes, options, []);
            double thickness = watch.Elapsed.TotalSeconds;
            Console.WriteLine($"{(round == 0 ? "warm-up" : $"round {round}")}: postprocess {post:F2} s, meshes {mesh:F2} s, thickness {thickness:F2} s "
                + $"-> meshes + thickness {mesh + thickness:F2} s ({stats.Count} regions)");
        }

        return Task.FromResult(0);
    }
}
