using System.CommandLine;
using System.Globalization;
using KneeWeb.Imaging;
using KneeWeb.Imaging.Analysis;
using KneeWeb.Imaging.Phantom;
using KneeWeb.Imaging.ShapeModel;
using KneeWeb.Inference;
using KneeWeb.Inference.ModelBuilding;

namespace KneeWeb.Cli;

/// <summary>`KneeWeb models build-nsm`: rebuild the demo neural shape model from this source.</summary>
public static class ShapeModelCommands
{
    /// <summary>Adds the shape-model verbs under the existing `models` command (or a new one when there is none).</summary>
    public static void AttachTo(RootCommand root)
    {
        ArgumentNullException.ThrowIfNull(root);
        Command? models = null;
        foreach (Command command in root.Subcommands)
        {
            if (command.Name == "models")
            {
                models = command;
            }
        }

        if (models is null)
        {
            models = new Command("models", "Models: rebuild the demo shape model.");
            root.Subcommands.Add(models);
        }

        models.Subcommands.Add(CreateBuild());
        models.Subcommands.Add(CreateSeries());
    }

    /// <summary>`models nsm-series`: fits held-out phantom femurs across OA values and prints BScore, ASSD and fit time.</summary>
    public static Command CreateSeries()
    {
        var seedsOption = new Option<string>("--seeds") { Description = "Comma-separated phantom seeds (training uses 1-64; held-out from 1000).", DefaultValueFactory = _ => "1001,1002,1003" };
        var oaOption = new Option<string>("--oa") { Description = "Comma-separated OA values.", DefaultValueFactory = _ => "0,0.25,0.5,0.75,1" };
        var coarseOption = new Option<int>("--coarsening") { Description = "Phantom grid coarsening (1: full 384x384x160 DESS grid).", DefaultValueFactory = _ => 2 };
        var leftOption = new Option<bool>("--left") { Description = "Left knees (mirrored phantoms)." };
        ShapeModelOptions nsm = ShapeModelOptions.Create();
        var command = new Command("nsm-series", "Fit the shape model to held-out phantom femurs over an OA series; print BScore, ASSD, iterations and fit time.")
        {
            seedsOption, oaOption, coarseOption, leftOption,
        };
        nsm.AddTo(command);
        command.SetAction((parseResult, ct) =>
        {
            ShapeModelChoice choice = nsm.Read(parseResult) with { Mode = NsmMode.Bone };
            int[] seeds = Array.ConvertAll(parseResult.GetValue(seedsOption)!.Split(','), s => int.Parse(s, CultureInfo.InvariantCulture));
            double[] oas = Array.ConvertAll(parseResult.GetValue(oaOption)!.Split(','), s => double.Parse(s, CultureInfo.InvariantCulture));
            int coarsening = parseResult.GetValue(coarseOption);
            KneeSide side = parseResult.GetValue(leftOption) ? KneeSide.Left : KneeSide.Right;
            (NsmModel model, IDisposable owner) = choice.Load();
            using (owner)
            {
                Console.WriteLine("seed,oa,bscore,assd_mm,iterations,converged,best_loss_mm,fit_time_s,mirrored");
                foreach (int seed in seeds)
                {
                    foreach (double oa in oas)
                    {
                        PhantomResult phantom = KneePhantom.Generate(FemurShapeFamily.Phantom(seed, oa, coarsening, side));
                        NsmFitResult fit = NsmFitter.Fit(phantom.Labels, null, model, choice.Settings, null, ct);
                        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                            $"{seed},{oa},{fit.BScore:F4},{fit.AssdMm:F4},{fit.Iterations},{fit.Converged},{fit.BestLoss:F4},{fit.FitTimeSeconds:F3},{fit.Mirrored}"));
                    }
                }
            }

            return Task.FromResult(0);
        });
        return command;
    }

    public static Command CreateBuild()
    {
        var outOption = new Option<string>("--out") { Description = "Folder to write femur-nsm-demo.onnx and .json into.", DefaultValueFactory = _ => Path.Combine("models", "nsm") };
        var epochsOption = new Option<int?>("--epochs") { Description = "Training epochs (default: the committed model's)." };
        var shapesOption = new Option<int?>("--shapes") { Description = "Training femurs (default: the committed model's)." };
        var hiddenOption = new Option<int?>("--hidden") { Description = "Hidden layer width (multiple of 8; default: the committed model's)." };
        var latentRateOption = new Option<double?>("--latent-lr") { Description = "Learning rate of the training latents (default: the committed model's)." };
        var command = new Command("build-nsm", "Train the demo neural shape model on the phantom femur family and write it (ONNX with loss gradient + sidecar), reproducibly.")
        {
            outOption, epochsOption, shapesOption, hiddenOption, latentRateOption,
        };
        command.SetAction((parseResult, ct) =>
        {
            var settings = new TrainingSettings();
            if (parseResult.GetValue(epochsOption) is int epochs)
            {
                settings = settings with { Epochs = epochs };
            }

            if (parseResult.GetValue(shapesOption) is int shapes)
            {
                settings = settings with { Shapes = shapes };
            }

            if (parseResult.GetValue(hiddenOption) is int hidden)
            {
                settings = settings with { Hidden = hidden };
            }

            if (parseResult.GetValue(latentRateOption) is double latentRate)
            {
                settings = settings with { LatentLearningRate = latentRate };
            }

            string folder = parseResult.GetValue(outOption)!;
            var progress = new SynchronousProgress<(int Epoch, double Loss)>(p =>
            {
                if (p.Epoch % 10 == 0 || p.Epoch == settings.Epochs - 1)
                {
                    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"epoch {p.Epoch + 1}/{settings.Epochs}: mean L1 {p.Loss:F4} mm"));
                }
            });
            NsmSidecar sidecar = NsmModelBuilder.Build(folder, settings, progress, ct);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{Path.Combine(folder, sidecar.Onnx)} sha256 {sidecar.Sha256}; BScore axis R2 {sidecar.Bscore.RegressionR2:F3}, healthy {sidecar.Bscore.HealthyMean:F4} +- {sidecar.Bscore.HealthySd:F4}; trained in {sidecar.Training["duration_s"]} s"));
            return Task.FromResult(0);
        });
        return command;
    }

    /// <summary>Reports on the calling thread (Progress&lt;T&gt; would post to the thread pool and reorder lines).</summary>
    private sealed class SynchronousProgress<T>(Action<T> report) : IProgress<T>
    {
        public void Report(T value) => report(value);
    }
}

/// <summary>What the user chose about the shape model on the command line.</summary>
public sealed record ShapeModelChoice(NsmMode Mode, string? Problem, string? ModelsFolder, string? SidecarPath, NsmFitOptions Settings)
{
    /// <summary>Loads ONNX Runtime and the shape model (the owner disposes the ONNX session).</summary>
    /// <exception cref="NsmFailedException">The model is missing or does not load.</exception>
    /// <exception cref="ModelConfigurationException">ONNX Runtime cannot be loaded.</exception>
    public (NsmModel Model, IDisposable Owner) Load()
    {
        OrtRuntime runtime = OrtRuntime.Load();
        string models = ModelsFolder ?? ModelRegistry.FindDefaultFolder() ?? Path.GetFullPath("models");
        return NsmModels.Load(runtime, models, SidecarPath);
    }
}

/// <summary>The --nsm options shared by `analyze` (and any verb that fits the shape model).</summary>
public sealed class ShapeModelOptions
{
    private Option<string> mode = null!;
    private Option<string?> sidecar = null!;
    private Option<string?> models = null!;
    private Option<double> spacing = null!;

    public static ShapeModelOptions Create() => new()
    {
        mode = new Option<string>("--nsm") { Description = "Neural shape model: off, bone or bone-cartilage (the demo model is bone only: bone-cartilage fits the bone and says so).", DefaultValueFactory = _ => "off" },
        sidecar = new Option<string?>("--nsm-model") { Description = "Shape model sidecar (.json) to use (default: models/nsm/femur-nsm-demo.json)." },
        models = new Option<string?>("--models") { Description = "Models folder (default: models/ found upward from here)." },
        spacing = new Option<double>("--nsm-resolution") { Description = "Grid spacing (model mm) of the reconstructed mesh's marching cubes.", DefaultValueFactory = _ => 1.5 },
    };

    public void AddTo(Command command)
    {
        ArgumentNullException.ThrowIfNull(command);
        command.Options.Add(mode);
        command.Options.Add(sidecar);
        command.Options.Add(models);
        command.Options.Add(spacing);
    }

    public ShapeModelChoice Read(ParseResult parseResult)
    {
        ArgumentNullException.ThrowIfNull(parseResult);
        string text = parseResult.GetValue(mode) ?? "off";
        NsmMode? chosen = text switch
        {
            "off" => NsmMode.Off,
            "bone" => NsmMode.Bone,
            "bone-cartilage" => NsmMode.BoneAndCartilage,
            _ => null,
        };
        double resolution = parseResult.GetValue(spacing);
        string? problem = chosen is null ? $"--nsm must be off, bone or bone-cartilage (got '{text}')."
            : !(resolution > 0.25 && resolution <= 10) ? $"--nsm-resolution must lie in (0.25, 10] model mm (got {resolution})." : null;
        return new ShapeModelChoice(chosen ?? NsmMode.Off, problem, parseResult.GetValue(models), parseResult.GetValue(sidecar),
            new NsmFitOptions { ReconstructionSpacingMm = resolution });
    }
}
