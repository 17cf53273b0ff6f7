using System.Diagnostics;
using System.Globalization;
using KneeWeb.Imaging.Meshing;
using KneeWeb.Imaging.Phantom;
using KneeWeb.Imaging.Segmentation;
using KneeWeb.Imaging.ShapeModel;
using KneeWeb.Inference;
using KneeWeb.Inference.ModelBuilding;

namespace KneeWeb.Benchmarks.ShapeModel;

/// <summary>
/// `peer nsm-fit`: CPU time of the shape-model fit (ONNX Runtime, one thread) on full phantom femurs
/// (384x384x160 label maps, femur mesh resampled to 20k vertices as the analysis does), over an OA series,
/// with iterations, ASSD and BScore. There is no peer to run here (the lab's PyTorch NSM is not installed),
/// so this prints our side only. Options: --seed N (default 1001), --oa a,b,c (default 0,0.5,1),
/// --coarsening N (default 1), --models DIR.
/// </summary>
public static class NsmFitTiming
{
    public static Task<int> RunAsync(string[] args)
    {
        ArgumentNullException.ThrowIfNull(args);
        int seed = 1001, coarsening = 1;
        double[] oas = [0, 0.5, 1];
        string? modelsFolder = null;
        for (int i = 0; i + 1 < args.Length; i++)
        {
            switch (args[i])
            {
                case "--seed":
                    seed = int.Parse(args[++i], CultureInfo.InvariantCulture);
                    break;
                case "--oa":
                    oas = Array.ConvertAll(args[++i].Split(','), s => double.Parse(s, CultureInfo.InvariantCulture));
                    break;
                case "--coarsening":
                    coarsening = int.Parse(args[++i], CultureInfo.InvariantCulture);
                    break;
                case "--models":
                    modelsFolder = args[++i];
                    break;
            }
        }

        string models = modelsFolder ?? ModelRegistry.FindDefaultFolder() ?? throw new InvalidOperationException("models/ not found; pass --models.");
        OrtRuntime runtime = OrtRuntime.Load();
        (NsmModel model, IDisposable owner) = NsmModels.Load(runtime, models);
        using (owner)
        {
            var watch = Stopwatch.StartNew();
            _ = model.MeanSurface();
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"model {model.Sidecar.Name} {model.Sidecar.Version}; mean shape (ICP target) in {watch.Elapsed.TotalSeconds:F2} s; cores: {Environment.ProcessorCount}"));
            Console.WriteLine("seed,oa,grid,femur_vertices,mesh_s,fit_s,iterations,converged,best_loss_mm,assd_mm,bscore");
            foreach (double oa in oas)
            {
                PhantomResult phantom = KneePhantom.Generate(FemurShapeFamily.Phantom(seed, oa, coarsening));
                watch.Restart();
                TriangleMesh femur = KneeMeshes.BuildOne(phantom.Labels, KneeLabels.Femur, new MeshOptions());
                double meshSeconds = watch.Elapsed.TotalSeconds;
                NsmFitResult fit = NsmFitter.Fit(phantom.Labels, femur, model, new NsmFitOptions());
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{seed},{oa},{phantom.Labels.Dims},{femur.VertexCount},{meshSeconds:F2},{fit.FitTimeSeconds:F2},{fit.Iterations},{fit.Converged},{fit.BestLoss:F4},{fit.AssdMm:F4},{fit.BScore:F3}"));
            }
        }

        return Task.FromResult(0);
    }
}
