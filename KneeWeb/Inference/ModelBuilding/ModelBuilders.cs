namespace KneeWeb.Inference.ModelBuilding;

/// <summary>One class of the demo intensity model: a model label, the structure and its intensity law.</summary>
public sealed record IntensityClass(int ModelLabel, int SchemaLabel, string Structure, double Mean, double StandardDeviation);

/// <summary>
/// The ONNX graphs KneeWeb builds itself: the demo segmentation model committed under models/,
/// an nnU-Net-sized 3D U-Net (random weights) for timing, and tiny graphs for binding tests.
/// Tensors are [N, C, K, J, I]: C order with i fastest, the memory order of a KneeWeb Volume.
/// </summary>
public static class ModelBuilders
{
    /// <summary>y = x * scale + shift on a float tensor of any 5D shape (binding tests).</summary>
    public static OnnxGraphBuilder Affine(float scale, float shift)
    {
        var g = new OnnxGraphBuilder("affine");
        g.AddInput("x", "N", "C", "K", "J", "I");
        string s = g.AddInitializer("scale", [scale]);
        string b = g.AddInitializer("shift", [shift]);
        string scaled = g.Add("Mul", ["x", s]);
        g.AddNode("Add", [scaled, b], ["y"]);
        g.AddOutput("y", "N", "C", "K", "J", "I");
        return g;
    }

    /// <summary>
    /// The demo knee model: a 3x3x3 smoothing convolution, then a per-voxel Gaussian classifier
    /// written as a 1x1x1 convolution over (x, x^2): logit_c = -(x - mean_c)^2 / (2 sd_c^2) - ln sd_c.
    /// Real convolutions with weights derived from the class table, no training.
    /// </summary>
    public static OnnxGraphBuilder IntensityClassifier(IReadOnlyList<IntensityClass> classes, float centreWeight = 0.4f)
    {
        ArgumentNullException.ThrowIfNull(classes);
        int count = classes.Count;
        var g = new OnnxGraphBuilder("kneeweb_demo_intensity")
        {
            DocString = "KneeWeb demo model: 3x3x3 smoothing convolution + Gaussian intensity classifier (1x1x1 convolution).",
        };
        g.AddInput("image", "N", 1L, "K", "J", "I");

        var smoothing = new float[27];
        float faceWeight = (1f - centreWeight) / 6f;
        smoothing[13] = centreWeight;
        foreach (int face in new[] { 4, 10, 12, 14, 16, 22 })
        {
            smoothing[face] = faceWeight;
        }

        string wSmooth = g.AddInitializer("smooth_w", smoothing, 1, 1, 3, 3, 3);
        string bSmooth = g.AddInitializer("smooth_b", [0f], 1);
        string smooth = g.Add("Conv", ["image", wSmooth, bSmooth], OnnxAttr.Ints("kernel_shape", 3, 3, 3), OnnxAttr.Ints("pads", 1, 1, 1, 1, 1, 1));
        string square = g.Add("Mul", [smooth, smooth]);
        string features = g.Add("Concat", [smooth, square], OnnxAttr.Int("axis", 1));

        var weights = new float[count * 2];
        var bias = new float[count];
        var ordered = new IntensityClass[count];
        foreach (IntensityClass c in classes)
        {
            if (c.ModelLabel < 0 || c.ModelLabel >= count || ordered[c.ModelLabel] is not null)
            {
                throw new ArgumentException($"Model labels must be 0..{count - 1}, each once; {c.ModelLabel} is not.", nameof(classes));
            }

            ordered[c.ModelLabel] = c;
        }

        for (int c = 0; c < count; c++)
        {
            double mean = ordered[c].Mean, variance = ordered[c].StandardDeviation * ordered[c].StandardDeviation;
            weights[(c * 2) + 0] = (float)(mean / variance);
            weights[(c * 2) + 1] = (float)(-0.5 / variance);
            bias[c] = (float)((-0.5 * mean * mean / variance) - Math.Log(ordered[c].StandardDeviation));
        }

        string wClass = g.AddInitializer("classify_w", weights, count, 2, 1, 1, 1);
        string bClass = g.AddInitializer("classify_b", bias, count);
        g.AddNode("Conv", [features, wClass, bClass], ["logits"], OnnxAttr.Ints("kernel_shape", 1, 1, 1));
        g.AddOutput("logits", "N", (long)count, "K", "J", "I");
        return g;
    }

    /// <summary>
    /// A plain 3D U-Net shaped like nnU-Net's 3d_fullres network (PlainConvUNet): per stage two
    /// 3x3x3 convolutions with instance norm and leaky ReLU, strided convolutions down,
    /// transposed convolutions up, skip concatenation, a 1x1x1 head. Weights are He-normal
    /// random from <paramref name="seed"/>: for timing, not for segmenting.
    /// </summary>
    public static OnnxGraphBuilder UNet3d(int inputChannels, int classes, IReadOnlyList<int> features, IReadOnlyList<long[]> strides, int seed = 1234)
    {
        ArgumentNullException.ThrowIfNull(features);
        ArgumentNullException.ThrowIfNull(strides);
        if (features.Count != strides.Count || features.Count < 2)
        {
            throw new ArgumentException("One stride (k, j, i) per stage, two stages or more.", nameof(strides));
        }

        var random = new Random(seed);
        var g = new OnnxGraphBuilder("kneeweb_unet3d") { DocString = "nnU-Net-sized 3D U-Net with random weights (KneeWeb benchmark)." };
        g.AddInput("image", "N", (long)inputChannels, "K", "J", "I");

        string x = "image";
        int channels = inputChannels;
        var skips = new List<(string Tensor, int Channels)>();
        for (int stage = 0; stage < features.Count; stage++)
        {
            x = ConvBlock(g, random, x, channels, features[stage], strides[stage]);
            x = ConvBlock(g, random, x, features[stage], features[stage], [1, 1, 1]);
            channels = features[stage];
            skips.Add((x, channels));
        }

        for (int stage = features.Count - 2; stage >= 0; stage--)
        {
            long[] up = strides[stage + 1];
            int outChannels = features[stage];
            float[] w = HeNormal(random, channels * (int)(up[0] * up[1] * up[2]), (long)channels * outChannels * up[0] * up[1] * up[2]);
            string wName = g.AddInitializer(g.NewName("up_w"), w, channels, outChannels, up[0], up[1], up[2]);
            string bName = g.AddInitializer(g.NewName("up_b"), new float[outChannels], outChannels);
            x = g.Add("ConvTranspose", [x, wName, bName], OnnxAttr.Ints("kernel_shape", up), OnnxAttr.Ints("strides", up));
            x = g.Add("Concat", [x, skips[stage].Tensor], OnnxAttr.Int("axis", 1));
            x = ConvBlock(g, random, x, outChannels * 2, outChannels, [1, 1, 1]);
            x = ConvBlock(g, random, x, outChannels, outChannels, [1, 1, 1]);
            channels = outChannels;
        }

        string headW = g.AddInitializer("head_w", HeNormal(random, channels, (long)classes * channels), classes, channels, 1, 1, 1);
        string headB = g.AddInitializer("head_b", new float[classes], classes);
        g.AddNode("Conv", [x, headW, headB], ["logits"], OnnxAttr.Ints("kernel_shape", 1, 1, 1));
        g.AddOutput("logits", "N", (long)classes, "K", "J", "I");
        return g;
    }

    /// <summary>nnU-Net's default 3d_fullres widths and strides for a 6-stage network.</summary>
    public static OnnxGraphBuilder NnUnetSized(int classes = 10) => UNet3d(
        1,
        classes,
        [32, 64, 128, 256, 320, 320],
        [[1, 1, 1], [2, 2, 2], [2, 2, 2], [2, 2, 2], [2, 2, 2], [1, 2, 2]]);

    private static string ConvBlock(OnnxGraphBuilder g, Random random, string x, int inChannels, int outChannels, long[] stride)
    {
        string w = g.AddInitializer(g.NewName("conv_w"), HeNormal(random, inChannels * 27, (long)outChannels * inChannels * 27), outChannels, inChannels, 3, 3, 3);
        string b = g.AddInitializer(g.NewName("conv_b"), new float[outChannels], outChannels);
        x = g.Add("Conv", [x, w, b], OnnxAttr.Ints("kernel_shape", 3, 3, 3), OnnxAttr.Ints("pads", 1, 1, 1, 1, 1, 1), OnnxAttr.Ints("strides", stride));
        var ones = new float[outChannels];
        Array.Fill(ones, 1f);
        string scale = g.AddInitializer(g.NewName("norm_scale"), ones, outChannels);
        string shift = g.AddInitializer(g.NewName("norm_bias"), new float[outChannels], outChannels);
        x = g.Add("InstanceNormalization", [x, scale, shift], OnnxAttr.Float("epsilon", 1e-5f));
        return g.Add("LeakyRelu", [x], OnnxAttr.Float("alpha", 0.01f));
    }

    private static float[] HeNormal(Random random, int fanIn, long count)
    {
        var values = new float[count];
        double sd = Math.Sqrt(2.0 / fanIn);
        for (long i = 0; i < count; i++)
        {
            // Box-Muller: a seeded normal without a dependency.
            double u1 = 1.0 - random.NextDouble(), u2 = random.NextDouble();
            values[i] = (float)(sd * Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2));
        }

        return values;
    }
}
