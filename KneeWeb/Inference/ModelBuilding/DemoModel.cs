namespace KneeWeb.Inference.ModelBuilding;

/// <summary>
/// The demo segmentation model committed as models/demo-knee.onnx with its sidecar: an intensity
/// classifier whose class table matches a phantom that gives every structure its own intensity.
/// Rebuilt byte for byte by <c>KneeWeb models build-demo</c> (no randomness, no training).
/// </summary>
public static class DemoModel
{
    public const string Name = "demo-knee";

    public const string Version = "1.0.0";

    /// <summary>Intensity (raw units) and spread of each structure; model label = schema label.</summary>
    public static IReadOnlyList<IntensityClass> DefaultClasses { get; } =
    [
        new(0, 0, "background", 0, 50),
        new(1, 1, "femur", 300, 50),
        new(2, 2, "tibia", 450, 50),
        new(3, 3, "patella", 600, 50),
        new(4, 4, "femoral cartilage", 750, 50),
        new(5, 5, "medial tibial cartilage", 900, 50),
        new(6, 6, "lateral tibial cartilage", 1050, 50),
        new(7, 7, "patellar cartilage", 1200, 50),
        new(8, 8, "medial meniscus", 1350, 50),
        new(9, 9, "lateral meniscus", 1500, 50),
    ];

    /// <summary>Writes &lt;folder&gt;/demo-knee.onnx and demo-knee.json; returns the model path.</summary>
    public static string Write(string modelsFolder, IReadOnlyList<IntensityClass>? classes = null, int[]? patchSizeIjk = null, double[]? targetSpacingMmIjk = null)
    {
        classes ??= DefaultClasses;
        // The intensity table is in raw units; the fixed normalisation divides by 100 so the graph works in small numbers.
        const double Scale = 100.0;
        var scaled = new List<IntensityClass>(classes.Count);
        foreach (IntensityClass c in classes)
        {
            scaled.Add(c with { Mean = c.Mean / Scale, StandardDeviation = c.StandardDeviation / Scale });
        }

        // Centre weight 1: the 3x3x3 convolution passes intensities through unchanged. Smoothing
        // would blend the large intensity steps between neighbouring structures into a third class's range.
        OnnxGraphBuilder graph = ModelBuilders.IntensityClassifier(scaled, centreWeight: 1f);
        graph.ProducerVersion = Version;
        string modelPath = Path.Combine(modelsFolder, Name + ".onnx");
        graph.Save(modelPath);

        var labels = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (IntensityClass c in classes)
        {
            labels[c.ModelLabel.ToString(System.Globalization.CultureInfo.InvariantCulture)] = c.SchemaLabel;
        }

        var sidecar = new ModelSidecar
        {
            Name = Name,
            Version = Version,
            Description = "Demo: per-voxel Gaussian intensity classifier (3x3x3 and 1x1x1 convolutions) for a phantom with one intensity per structure. Not for real MRI.",
            InputChannels = 1,
            NumClasses = classes.Count,
            PatchSizeIjk = patchSizeIjk ?? [64, 64, 32],
            TargetSpacingMmIjk = targetSpacingMmIjk ?? [0.5, 0.5, 1.0],
            Normalization = new NormalizationSettings { Scheme = NormalizationScheme.Fixed, Mean = 0, Std = Scale },
            Output = OutputKind.Logits,
            Labels = labels,
            SlidingWindow = new SlidingWindowSettings { Overlap = 0.5, Gaussian = true, BatchSize = 2 },
            Mirroring = new MirroringSettings { Enabled = false, Axes = [0, 1, 2] },
            Provenance = new ModelProvenance
            {
                Builder = "KneeWeb.Inference.ModelBuilding.DemoModel (`KneeWeb models build-demo`)",
                TrainingData = "none: weights follow from the class intensity table",
                Source = "this repository",
                License = "same as KneeWeb",
            },
            Sha256 = ModelRegistry.Sha256Of(modelPath),
        };
        string sidecarPath = Path.Combine(modelsFolder, Name + ".json");
        File.WriteAllText(sidecarPath, sidecar.ToJson() + "\n");
        return modelPath;
    }
}
