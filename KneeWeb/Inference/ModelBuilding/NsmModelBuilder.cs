using System.Text.Json;
using KneeWeb.Imaging.Phantom;
using KneeWeb.Imaging.ShapeModel;

namespace KneeWeb.Inference.ModelBuilding;

/// <summary>
/// Builds the demo neural shape model (models/nsm/femur-nsm-demo.onnx + .json) from the repository: trains
/// the decoder on the phantom femur family (<see cref="SdfTrainer"/>), finds the BScore axis, and writes the
/// decoder as an ONNX graph that also computes the L1 loss against target distances and its gradient with
/// respect to the latent, by explicit backward nodes (so the fit needs nothing but ONNX Runtime).
/// </summary>
public static class NsmModelBuilder
{
    public const string Name = "femur-nsm-demo";

    public const string Version = "1.0.0";

    public const string Interface =
        "inputs: latent [1,L] (enters scaled by 0.1), points [N,3] (model-frame mm), target_sdf [N] (model mm); " +
        "outputs: sdf [N] (model mm), loss [] = mean |sdf - target_sdf|, latent_grad [1,L] = d(loss)/d(latent).";

    /// <summary>The decoder as ONNX: forward pass, L1 loss and the loss's gradient with respect to the latent.</summary>
    public static OnnxGraphBuilder BuildGraph(SdfNetwork network)
    {
        ArgumentNullException.ThrowIfNull(network);
        int l = network.LatentSize, h = network.Hidden;
        var g = new OnnxGraphBuilder(Name);
        g.AddInput("latent", 1L, (long)l);
        g.AddInput("points", "N", 3L);
        g.AddInput("target_sdf", "N");
        g.AddOutput("sdf", "N");
        g.AddOutput("loss");
        g.AddOutput("latent_grad", 1L, (long)l);

        (float[] w0, float[] b0) = network.Layer(0);
        string w0z = g.AddInitializer("w0_latent", w0.AsSpan(0, l * h).ToArray(), l, h);
        string w0x = g.AddInitializer("w0_xyz", w0.AsSpan(l * h, 3 * h).ToArray(), 3, h);
        string b0n = g.AddInitializer("b0", b0, h);
        string inScale = g.AddInitializer("input_scale", [SdfNetwork.InputScale], 1);
        string outScale = g.AddInitializer("output_scale", [SdfNetwork.OutputScale], 1);
        string latentScale = g.AddInitializer("latent_scale", [SdfNetwork.LatentScale], 1);

        // Forward: h1 = relu(points*s W0x + (latent W0z + b0)), h(k+1) = relu(hk Wk + bk), sdf = (h Wout + bout) * 10.
        string latentPart = g.AddTensors(g.MatMul(g.Mul("latent", latentScale), w0z), b0n);
        string x = g.Mul("points", inScale);
        var activations = new List<string> { g.Relu(g.AddTensors(g.MatMul(x, w0x), latentPart)) };
        var weights = new List<string> { w0z };
        for (int layer = 1; layer < network.Depth; layer++)
        {
            (float[] w, float[] b) = network.Layer(layer);
            string wn = g.AddInitializer($"w{layer}", w, h, h);
            string bn = g.AddInitializer($"b{layer}", b, h);
            weights.Add(wn);
            activations.Add(g.Relu(g.AddTensors(g.MatMul(activations[^1], wn), bn)));
        }

        float[] p = network.Parameters;
        string wOut = g.AddInitializer("w_out", p.AsSpan(network.OutputWeightOffset, h).ToArray(), h, 1);
        string bOut = g.AddInitializer("b_out", [p[network.OutputBiasOffset]], 1);
        string raw = g.AddTensors(g.MatMul(activations[^1], wOut), bOut); // [N, 1]
        string axis1 = g.AddInt64Initializer("axis_1", [1], 1);
        string sdf = g.AddNode("Squeeze", [g.Mul(raw, outScale), axis1], ["sdf"]);

        // Loss: mean |sdf - target|.
        string diff = g.Sub(sdf, "target_sdf");
        g.AddNode("ReduceMean", [g.Abs(diff)], ["loss"], OnnxAttr.Int("keepdims", 0));

        // Backward, per point (the 1/N of the mean is applied by the final ReduceMean over points):
        // d|d|/dsdf = sign(d); dsdf/draw = 10; draw/dh = Wout^T; through ReLU: * sign(h) (h >= 0);
        // dh(k+1)/dhk = Wk^T; the latent enters layer 0 as (latent * 0.1) W0z, so d/dlatent = 0.1 (dL/da1) W0z^T.
        string gRaw = g.Mul(g.AddNode("Unsqueeze", [g.Sign(diff), axis1], [g.NewName("unsqueeze")]), outScale); // [N, 1]
        string gradH = g.MatMul(gRaw, g.Transpose(wOut)); // [N, H]
        for (int layer = network.Depth - 1; layer >= 1; layer--)
        {
            string gradA = g.Mul(gradH, g.Sign(activations[layer]));
            gradH = g.MatMul(gradA, g.Transpose(weights[layer]));
        }

        string gradA0 = g.Mul(gradH, g.Sign(activations[0]));
        string perPoint = g.MatMul(gradA0, g.Transpose(w0z)); // [N, L]
        string meanGrad = g.ReduceMean(perPoint, true, 0);
        g.AddNode("Mul", [meanGrad, latentScale], ["latent_grad"]);
        g.ProducerVersion = Version;
        g.DocString = "KneeWeb demo neural shape model (DeepSDF-style femur decoder) with its L1 loss gradient. " + Interface;
        return g;
    }

    /// <summary>Trains, finds the BScore axis and writes &lt;folder&gt;/femur-nsm-demo.onnx and .json. Returns the sidecar.</summary>
    public static NsmSidecar Build(string folder, TrainingSettings? settings = null, IProgress<(int Epoch, double Loss)>? progress = null, CancellationToken ct = default)
    {
        settings ??= new TrainingSettings();
        TrainedShapeModel trained = SdfTrainer.Train(settings, progress, ct);
        return Write(folder, trained, ct);
    }

    public static NsmSidecar Write(string folder, TrainedShapeModel trained, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(trained);
        Directory.CreateDirectory(folder);
        string onnxName = Name + ".onnx";
        string onnxPath = Path.Combine(folder, onnxName);
        BuildGraph(trained.Network).Save(onnxPath);

        int l = trained.Network.LatentSize;
        var oa = new double[trained.Latents.Length];
        for (int i = 0; i < oa.Length; i++)
        {
            oa[i] = trained.Shapes[i].Oa;
        }

        float[] mean = BScoreAxis.MeanLatent(trained.Latents);
        TrainingSettings s = trained.Settings;
        FemurFrameRule rule = s.Frame;
        double topZ = double.MinValue;
        foreach (ShapeSamples shape in trained.Shapes)
        {
            topZ = Math.Max(topZ, shape.Frame.ClipZModel + s.Samples.AboveClipMm);
        }

        var training = new Dictionary<string, JsonElement>(StringComparer.Ordinal)
        {
            ["trainer"] = Json("KneeWeb.Imaging.ShapeModel.SdfTrainer (C#, single-threaded, Adam, clamped L1, auto-decoder)"),
            ["shapes"] = Json(s.Shapes),
            ["first_seed"] = Json(s.FirstSeed),
            ["oa_values"] = Json("cycle 0, 0, 0, 0.2, 0.4, 0.6, 0.8, 1.0 over seeds"),
            ["samples_per_shape"] = Json(s.Samples.Count),
            ["epochs"] = Json(s.Epochs),
            ["shapes_per_batch"] = Json(s.ShapesPerBatch),
            ["samples_per_shape_per_step"] = Json(s.SamplesPerShape),
            ["network_learning_rate"] = Json(s.NetworkLearningRate),
            ["latent_learning_rate"] = Json(s.LatentLearningRate),
            ["clamp_mm"] = Json(s.ClampMm),
            ["latent_prior"] = Json(s.LatentPrior),
            ["seed"] = Json(s.Seed),
            ["final_loss_mm"] = Json(Math.Round(trained.FinalLoss, 5)),
            ["calibration_fit"] = Json(string.Create(System.Globalization.CultureInfo.InvariantCulture, $"run-time fit (Adam lr {s.Calibration.LearningRate}, up to {s.Calibration.MaxIterations} iterations, patience {s.Calibration.Patience}, {s.Calibration.SurfacePoints} surface points) on each training femur's analytic surface")),
            ["training_latent_oa_r2"] = Json(Math.Round(BScoreAxis.Fit(trained.Latents, oa).RegressionR2, 4)),
            ["duration_s"] = Json(Math.Round(trained.Duration.TotalSeconds, 1)),
        };
        var provisional = new NsmSidecar
        {
            Name = Name,
            Version = Version,
            Onnx = onnxName,
            Structure = "femur",
            LatentSize = l,
            Hidden = trained.Network.Hidden,
            Depth = trained.Network.Depth,
            MeanLatent = mean,
            Bscore = new BScoreReference { Axis = new float[l], HealthyMean = 0, HealthySd = 1, AxisModel = "provisional" },
            Normalisation = new NsmNormalisation
            {
                Frame = "right-knee RAS axes (left knees mirrored in x); shaft clipped clip_height_per_width x the condyles' " +
                    "mediolateral width (x extent within width_band_mm of the distal-most point) above the distal-most point; " +
                    "origin at the clipped surface's area-weighted centroid; scaled so its RMS radius is reference_rms_mm; " +
                    "then a rigid + scale ICP to the mean shape",
                ClipHeightPerWidth = rule.ClipHeightPerWidth,
                WidthBandMm = rule.WidthBandMm,
                ReferenceRmsMm = rule.ReferenceRmsMm,
                BoxMinMm = [-s.Samples.BoxHalfXMm, -s.Samples.BoxHalfYMm, s.Samples.BoxLowZMm],
                BoxMaxMm = [s.Samples.BoxHalfXMm, s.Samples.BoxHalfYMm, Math.Round(topZ, 3)],
            },
            Interface = Interface,
            Training = training,
            Provenance = new Dictionary<string, string>(StringComparer.Ordinal)
            {
                ["builder"] = "KneeWeb.Inference.ModelBuilding.NsmModelBuilder (`KneeWeb models build-nsm --out models/nsm`)",
                ["data"] = "KneeWeb.Imaging.Phantom.FemurShapeFamily: analytic phantom femurs (healthy variation per seed, known OA parameter)",
                ["license"] = "generated from this repository's code; no external data",
            },
            Sha256 = "",
        };

        // The BScore axis from latents fitted exactly as at run time (not the training codes, which were
        // optimised together with the weights and sit on a different scale of noise).
        float[][] fitted = CalibrationLatents(provisional, trained, ct);
        var reference = BScoreAxis.Fit(fitted, oa);
        reference = reference with
        {
            AxisModel = $"linear regression of the phantom OA parameter on latents fitted (as at run time, from the mean latent) to the {fitted.Length} training femurs' surfaces; " +
                $"unit coefficient vector; healthy mean and SD over the {reference.HealthyCount} OA-0 femurs",
        };
        NsmSidecar sidecar = provisional with { Bscore = reference, Sha256 = ModelRegistry.Sha256Of(onnxPath) };
        File.WriteAllText(Path.Combine(folder, Name + ".json"), sidecar.ToJson());
        return sidecar;
    }

    /// <summary>Fits every training femur's surface with the C# decoder (same function as the ONNX graph); parallel over shapes, each fit sequential.</summary>
    private static float[][] CalibrationLatents(NsmSidecar sidecar, TrainedShapeModel trained, CancellationToken ct)
    {
        var latents = new float[trained.Shapes.Count][];
        NsmFitOptions options = trained.Settings.Calibration with { Reconstruct = false };
        var shared = new NsmModel(sidecar, new MlpSdfDecoder(trained.Network));
        IReadOnlyList<KneeWeb.Imaging.Vec3d> meanSurface = shared.MeanSurface(ct);
        Parallel.For(0, latents.Length, new ParallelOptions { CancellationToken = ct }, i =>
        {
            ShapeSamples shape = trained.Shapes[i];
            var model = new NsmModel(sidecar, new MlpSdfDecoder(trained.Network), meanSurface);
            var surface = FemurSamples.AnalyticSurface(FemurShapeFamily.Sample(shape.Seed, shape.Oa), trained.Settings.Samples.SurfaceGridMm);
            latents[i] = NsmFitter.FitSurface(surface, false, "training", model, options, null, null, ct).Latent;
        });
        return latents;
    }

    private static JsonElement Json<T>(T value) => JsonSerializer.SerializeToElement(value);
}
