using System.Globalization;
using KneeWeb.Imaging;
using KneeWeb.Imaging.Phantom;
using KneeWeb.Imaging.Segmentation;

namespace KneeWeb.Inference.ModelBuilding;

/// <summary>
/// The phantom-knee model committed as models/phantom-knee.onnx with its sidecar: a Bayesian voxel
/// classifier written as an ONNX graph, with the decision factorised as the knee phantom requires
/// (its structures share intensities, so intensity alone cannot tell femur from tibia):
/// <list type="bullet">
/// <item>a fine tissue path at full resolution: Gaussian log-likelihoods of the phantom's tissue
/// intensities (1x1x1 convolutions over x and x^2), plus a few millimetres of context that tells dark
/// cortex (within 1 mm of marrow) from dark meniscus (a max-pool of a marrow indicator);</item>
/// <item>a coarse structure path: a spatial prior log p(structure | position) on an 8x pooled grid of
/// the whole field of view (2.88 x 2.88 x 5.6 mm cells), counted in closed form from the phantom's
/// analytic label map, upsampled with a linear Resize to the full grid.</item>
/// </list>
/// logit(s) = max over the tissues t of s [log p(x | t) (+ context)] + log p(s | position); background's
/// tissues (air, soft tissue, joint fluid) carry their own coarse prior. No training, no randomness:
/// <c>KneeWeb models build-phantom-knee</c> rebuilds the same bytes.
/// The prior is in the grid's frame, so the model needs the whole field of view in one tile (the
/// sidecar's patch is the phantom's full 384 x 384 x 160 grid) and segments the phantom (right knee,
/// its fixed anatomy, any noise seed); it is not a model of real knees. <see cref="SmallName"/> is the
/// same model for the half-size phantom (<see cref="PhantomOptions.Small"/>: 192 x 192 x 80 at
/// 0.72 x 0.72 x 1.4 mm), which the full-size one segments poorly once resampled (menisci 0.72).
/// </summary>
public static class PhantomKneeModel
{
    public const string Name = "phantom-knee";

    /// <summary>The model for the half-size phantom (coarsening 2).</summary>
    public const string SmallName = "phantom-knee-small";

    public const string Version = "1.0.0";

    /// <summary>Pooling factor of the coarse prior grid along i, j and k on the full-size grid (cells of 2.88 x 2.88 x 5.6 mm).</summary>
    public const int PriorPooling = 8;

    // The graph works in raw units / 100 (the sidecar's fixed normalisation).
    private const double Scale = 100.0;

    // Tissue intensity laws (raw units) of the phantom's DESS-like image (KneeWeb/Imaging/Phantom/KneePhantom.cs):
    // mean = the tissue's value; the spread covers noise (sd 18) and the bias field (+-15% per term).
    private static readonly (string Name, double Mean, double Sd)[] BackgroundTissues =
    [
        ("air", 0, 20), ("soft tissue", 180, 25), ("joint fluid", 820, 40),
    ];

    private const double CortexMean = 60, CortexSd = 20, MarrowMean = 320, MarrowSd = 30;
    private const double CartilageMean = 620, CartilageSd = 35, MeniscusMean = 40, MeniscusSd = 20;

    // Marrow indicator: between these intensities (raw), with this softness; context weight on "marrow
    // within about 1 mm" (the cortex is a 1 mm rim on marrow; a meniscus sits on the cortex, farther out).
    private const double MarrowLow = 250, MarrowHigh = 470, MarrowSoftness = 15, ContextWeight = 4.0;

    // Max-pool window (k, j, i) of the marrow indicator: +-1.08 mm along j (superior-inferior, the
    // tibial plateau's normal) and +-0.72 mm along i, none across slices; on the half-size grid +-0.72 mm.
    private static long[] ContextWindowKji(int coarsening) => coarsening == 1 ? [1, 7, 5] : [1, 3, 3];

    // Laplace smoothing of the prior counts (voxels): small, so a structure absent from a cell stays
    // absent (log prior about -13) even where the bias field darkens soft tissue towards meniscus and
    // cortex values at the field of view's edges (seen at seed 4712 with 0.1: medial meniscus 0.93).
    private const double PriorPseudoCount = 0.001;

    /// <summary>
    /// Writes &lt;folder&gt;/phantom-knee.onnx and phantom-knee.json (coarsening 1, the full-size phantom) or
    /// phantom-knee-small.* (coarsening 2, the half-size phantom); returns the model path.
    /// </summary>
    public static string Write(string modelsFolder, int coarsening = 1)
    {
        if (coarsening is not (1 or 2))
        {
            throw new ArgumentOutOfRangeException(nameof(coarsening), coarsening, "1 (full size) or 2 (half size).");
        }

        string name = coarsening == 1 ? Name : SmallName;
        PhantomResult clean = KneePhantom.Generate(new PhantomOptions { Seed = 1, NoiseSd = 0, BiasAmplitude = 0, Coarsening = coarsening });
        OnnxGraphBuilder graph = Build(clean, coarsening);
        graph.ProducerVersion = Version;
        string modelPath = Path.Combine(modelsFolder, name + ".onnx");
        graph.Save(modelPath);

        var labels = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int c = 0; c < 10; c++)
        {
            labels[c.ToString(CultureInfo.InvariantCulture)] = c;
        }

        Dims3 d = clean.Image.Dims;
        Vec3d s = clean.Image.Geometry.SpacingMm;
        var sidecar = new ModelSidecar
        {
            Name = name,
            Version = Version,
            Description = coarsening == 1
                ? "Knee phantom model: full-resolution tissue classifier (intensity + 1 mm marrow context) plus a coarse spatial prior of the phantom's anatomy over the whole field of view. Segments the KneeWeb phantom (right knee); not for real MRI."
                : "Half-size knee phantom model (192x192x80 at 0.72x0.72x1.4 mm): the phantom-knee classifier built on the half-size grid. Segments the KneeWeb phantom made with coarsening 2 (right knee); not for real MRI.",
            InputChannels = 1,
            NumClasses = 10,
            PatchSizeIjk = [d.I, d.J, d.K],
            TargetSpacingMmIjk = [Math.Round(s.X, 6), Math.Round(s.Y, 6), Math.Round(s.Z, 6)],
            Normalization = new NormalizationSettings { Scheme = NormalizationScheme.Fixed, Mean = 0, Std = Scale },
            Output = OutputKind.Logits,
            Labels = labels,
            SlidingWindow = new SlidingWindowSettings { Overlap = 0.5, Gaussian = true, BatchSize = 1 },
            Mirroring = new MirroringSettings { Enabled = false, Axes = [0, 1, 2] },
            // Medial and lateral are told apart by position: a left knee (the mirror image) is mirrored first.
            KneeSide = KneeSide.Right,
            Provenance = new ModelProvenance
            {
                Builder = "KneeWeb.Inference.ModelBuilding.PhantomKneeModel (`KneeWeb models build-phantom-knee`)",
                TrainingData = $"none: tissue laws from the phantom's intensity table; the spatial prior is counted from the noise-free phantom (KneeWeb/Imaging/Phantom, right knee, default anatomy{(coarsening == 1 ? string.Empty : ", coarsening 2")})",
                Source = "this repository",
                License = "same as KneeWeb",
                Notes = FormattableString.Invariant($"One tile covers the whole {d.I}x{d.J}x{d.K} grid: the prior is in the grid's frame. See models/README.md for the measured Dice."),
            },
            Sha256 = ModelRegistry.Sha256Of(modelPath),
        };
        File.WriteAllText(Path.Combine(modelsFolder, name + ".json"), sidecar.ToJson() + "\n");
        return modelPath;
    }

    /// <summary>The graph for a noise-free, bias-free phantom (its voxel values name the tissues) of the given coarsening.</summary>
    public static OnnxGraphBuilder Build(PhantomResult clean, int coarsening = 1)
    {
        ArgumentNullException.ThrowIfNull(clean);
        Dims3 dims = clean.Image.Dims;
        int pooling = PriorPooling / coarsening;
        if (dims.I % pooling != 0 || dims.J % pooling != 0 || dims.K % pooling != 0)
        {
            throw new ArgumentException($"The grid {dims} is not a multiple of {pooling}.", nameof(clean));
        }

        var coarse = new Dims3(dims.I / pooling, dims.J / pooling, dims.K / pooling);
        (float[] structurePrior, float[] backgroundPrior) = CountPriors(clean.Labels.Span<byte>(), clean.Image.Span<short>(), dims, coarse, pooling);

        var g = new OnnxGraphBuilder("kneeweb_phantom_knee")
        {
            DocString = "KneeWeb phantom-knee: full-resolution tissue likelihoods (+ marrow context) + coarse whole-field-of-view spatial prior, linearly upsampled.",
        };
        g.AddInput("image", "N", 1L, "K", "J", "I");
        string runtimeZero = RuntimeZero(g);
        string square = g.Add("Mul", ["image", "image"]);
        string features = g.Add("Concat", ["image", square], OnnxAttr.Int("axis", 1));

        // Background: max over air, soft tissue and fluid of (log-likelihood + coarse tissue prior).
        var bgLaws = new (double Mean, double Sd)[BackgroundTissues.Length];
        for (int t = 0; t < bgLaws.Length; t++)
        {
            bgLaws[t] = (BackgroundTissues[t].Mean, BackgroundTissues[t].Sd);
        }

        string bgLikelihood = GaussianLogLikelihood(g, "bg", features, bgLaws, context: null);
        string bgPrior = UpsampledPrior(g, runtimeZero, "bg_tissue_prior", backgroundPrior, BackgroundTissues.Length, coarse, pooling);
        string background = g.Add("ReduceMax", [g.Add("Add", [bgLikelihood, bgPrior])], OnnxAttr.Ints("axes", 1), OnnxAttr.Int("keepdims", 1));

        // Marrow context: marrow indicator, max-pooled over about 1 mm (separable: along j, then i).
        string above = g.Add("Sigmoid", [Conv1x1(g, "marrow_above", "image", [(float)(Scale / MarrowSoftness)], (float)(-MarrowLow / MarrowSoftness))]);
        string below = g.Add("Sigmoid", [Conv1x1(g, "marrow_below", "image", [(float)(-Scale / MarrowSoftness)], (float)(MarrowHigh / MarrowSoftness))]);
        string marrow = g.Add("Mul", [above, below]);
        long[] window = ContextWindowKji(coarsening);
        long wk = window[0], wj = window[1], wi = window[2];
        string nearJ = g.Add("MaxPool", [marrow], OnnxAttr.Ints("kernel_shape", wk, wj, 1), OnnxAttr.Ints("pads", wk / 2, wj / 2, 0, wk / 2, wj / 2, 0), OnnxAttr.Ints("strides", 1, 1, 1));
        string near = g.Add("MaxPool", [nearJ], OnnxAttr.Ints("kernel_shape", 1, 1, wi), OnnxAttr.Ints("pads", 0, 0, wi / 2, 0, 0, wi / 2), OnnxAttr.Ints("strides", 1, 1, 1));
        string withContext = g.Add("Concat", [features, near], OnnxAttr.Int("axis", 1));

        // Bone: max over cortex (favoured near marrow) and marrow.
        string boneLikelihood = GaussianLogLikelihood(g, "bone", withContext, [(CortexMean, CortexSd), (MarrowMean, MarrowSd)], context: [ContextWeight, 0]);
        string bone = g.Add("ReduceMax", [boneLikelihood], OnnxAttr.Ints("axes", 1), OnnxAttr.Int("keepdims", 1));
        string cartilage = GaussianLogLikelihood(g, "cartilage", features, [(CartilageMean, CartilageSd)], context: null);
        string meniscus = GaussianLogLikelihood(g, "meniscus", withContext, [(MeniscusMean, MeniscusSd)], context: [-ContextWeight]);

        // Structures: tissue score + coarse structure prior, in schema label order 0..9.
        string[] groups =
        [
            g.Add("Add", [background, UpsampledPrior(g, runtimeZero, "prior_background", Channels(structurePrior, coarse, 0, 1), 1, coarse, pooling)]),
            g.Add("Add", [bone, UpsampledPrior(g, runtimeZero, "prior_bones", Channels(structurePrior, coarse, 1, 3), 3, coarse, pooling)]),
            g.Add("Add", [cartilage, UpsampledPrior(g, runtimeZero, "prior_cartilage", Channels(structurePrior, coarse, 4, 4), 4, coarse, pooling)]),
            g.Add("Add", [meniscus, UpsampledPrior(g, runtimeZero, "prior_menisci", Channels(structurePrior, coarse, 8, 2), 2, coarse, pooling)]),
        ];
        g.AddNode("Concat", groups, ["logits"], OnnxAttr.Int("axis", 1));
        g.AddOutput("logits", "N", 10L, "K", "J", "I");
        return g;
    }

    /// <summary>
    /// log p(x | t) = -(x - mean)^2 / (2 sd^2) - ln sd per tissue t, as a 1x1x1 convolution over (x, x^2[, near]);
    /// <paramref name="context"/> adds weight * (near - 0.5) per tissue when the input carries the context channel.
    /// </summary>
    private static string GaussianLogLikelihood(OnnxGraphBuilder g, string name, string input, (double Mean, double Sd)[] laws, double[]? context)
    {
        int inputs = context is null ? 2 : 3;
        var weights = new float[laws.Length * inputs];
        var bias = new float[laws.Length];
        for (int t = 0; t < laws.Length; t++)
        {
            double mean = laws[t].Mean / Scale, sd = laws[t].Sd / Scale, variance = sd * sd;
            weights[(t * inputs) + 0] = (float)(mean / variance);
            weights[(t * inputs) + 1] = (float)(-0.5 / variance);
            double b = (-0.5 * mean * mean / variance) - Math.Log(sd);
            if (context is not null)
            {
                weights[(t * inputs) + 2] = (float)context[t];
                b -= 0.5 * context[t];
            }

            bias[t] = (float)b;
        }

        string w = g.AddInitializer(name + "_w", weights, laws.Length, inputs, 1, 1, 1);
        string bb = g.AddInitializer(name + "_b", bias, laws.Length);
        return g.Add("Conv", [input, w, bb], OnnxAttr.Ints("kernel_shape", 1, 1, 1));
    }

    private static string Conv1x1(OnnxGraphBuilder g, string name, string input, float[] weights, float bias)
    {
        string w = g.AddInitializer(name + "_w", weights, 1, weights.Length, 1, 1, 1);
        string b = g.AddInitializer(name + "_b", [bias], 1);
        return g.Add("Conv", [input, w, b], OnnxAttr.Ints("kernel_shape", 1, 1, 1));
    }

    /// <summary>A coarse prior [1, C, k, j, i] resized linearly (half-pixel centres) by the pooling factor to the full grid.</summary>
    /// <remarks>
    /// The prior gets a zero that depends on the input's shape added before the Resize: on a constant,
    /// ONNX Runtime would fold the Resize at load and keep every full-size prior in memory.
    /// </remarks>
    private static string UpsampledPrior(OnnxGraphBuilder g, string runtimeZero, string name, float[] values, int channels, Dims3 coarse, int pooling)
    {
        string prior = g.Add("Add", [g.AddInitializer(name, values, 1, channels, coarse.K, coarse.J, coarse.I), runtimeZero]);
        string scales = g.AddInitializer(name + "_scales", [1f, 1f, pooling, pooling, pooling], 5);
        return g.Add("Resize", [prior, string.Empty, scales], OnnxAttr.String("mode", "linear"), OnnxAttr.String("coordinate_transformation_mode", "half_pixel"));
    }

    // ONNX TensorProto.FLOAT.
    private const long FloatTypeCode = 1;

    /// <summary>0 * min(shape of the input): a zero that is not a constant of the graph.</summary>
    private static string RuntimeZero(OnnxGraphBuilder g)
    {
        string shape = g.Add("Cast", [g.Add("Shape", ["image"])], OnnxAttr.Int("to", FloatTypeCode));
        string smallest = g.Add("ReduceMin", [shape], OnnxAttr.Ints("axes", 0), OnnxAttr.Int("keepdims", 1));
        return g.Add("Mul", [smallest, g.AddInitializer("zero", [0f], 1)]);
    }

    private static float[] Channels(float[] all, Dims3 coarse, int first, int count)
    {
        long cells = coarse.VoxelCount;
        return all.AsSpan(checked((int)(first * cells)), checked((int)(count * cells))).ToArray();
    }

    /// <summary>
    /// Per coarse cell: log p(structure) over the 10 labels, and log p(tissue | background) over air,
    /// soft tissue and fluid (told apart by the noise-free image's exact values), Laplace-smoothed.
    /// </summary>
    // Loops over every voxel: optimised even in Debug builds, where the rebuild test runs.
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    private static (float[] Structures, float[] Background) CountPriors(ReadOnlySpan<byte> labels, ReadOnlySpan<short> values, Dims3 dims, Dims3 coarse, int pooling)
    {
        long cells = coarse.VoxelCount;
        var structureCounts = new double[10 * cells];
        var backgroundCounts = new double[3 * cells];
        for (int k = 0; k < dims.K; k++)
        {
            for (int j = 0; j < dims.J; j++)
            {
                long row = dims.Index(0, j, k);
                long cellRow = coarse.Index(0, j / pooling, k / pooling);
                for (int i = 0; i < dims.I; i++)
                {
                    byte label = labels[(int)(row + i)];
                    long cell = cellRow + (i / pooling);
                    structureCounts[(label * cells) + cell]++;
                    if (label == KneeLabels.Background)
                    {
                        backgroundCounts[(BackgroundTissue(values[(int)(row + i)]) * cells) + cell]++;
                    }
                }
            }
        }

        var structures = new float[structureCounts.Length];
        var background = new float[backgroundCounts.Length];
        for (long cell = 0; cell < cells; cell++)
        {
            double total = 0, bgTotal = 0;
            for (int c = 0; c < 10; c++)
            {
                total += structureCounts[(c * cells) + cell];
            }

            for (int t = 0; t < 3; t++)
            {
                bgTotal += backgroundCounts[(t * cells) + cell];
            }

            for (int c = 0; c < 10; c++)
            {
                structures[(c * cells) + cell] = (float)Math.Log((structureCounts[(c * cells) + cell] + PriorPseudoCount) / (total + (10 * PriorPseudoCount)));
            }

            for (int t = 0; t < 3; t++)
            {
                background[(t * cells) + cell] = (float)Math.Log((backgroundCounts[(t * cells) + cell] + PriorPseudoCount) / (bgTotal + (3 * PriorPseudoCount)));
            }
        }

        return (structures, background);
    }

    // The noise-free phantom's background values: air 0, soft tissue 180, joint fluid 820.
    private static int BackgroundTissue(short value) => value < 90 ? 0 : value < 500 ? 1 : 2;
}
