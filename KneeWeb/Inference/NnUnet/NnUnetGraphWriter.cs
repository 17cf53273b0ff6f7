using KneeWeb.Inference.ModelBuilding;

namespace KneeWeb.Inference.NnUnet;

/// <summary>One fold's weights by state_dict name (prefixes already stripped).</summary>
public interface INnUnetWeights
{
    /// <summary>The tensor under this exact name, as float32; throws naming the file when it is missing.</summary>
    FloatTensor Get(string name);

    /// <summary>Whether a tensor of this name exists.</summary>
    bool Has(string name);
}

/// <summary>
/// Writes an nnU-Net network as an ONNX graph: input [N, C, n0, n1, n2] in network axes, output
/// the last segmentation layer's logits [N, classes, n0, n1, n2] (deep-supervision heads dropped).
/// Several folds go into one graph whose output is the mean of their logits: sliding-window
/// aggregation and mirroring are linear, so this equals nnU-Net's averaging over folds.
/// Names follow dynamic_network_architectures' state_dict, read once each (the all_modules.N and
/// decoder.encoder.* aliases name the same storages and are never read).
/// </summary>
public sealed class NnUnetGraphWriter
{
    public const string InputName = "input";
    public const string OutputName = "logits";

    private readonly OnnxGraphBuilder graph;
    private readonly NnUnetArchitecture arch;
    private INnUnetWeights weights = null!;
    private string prefix = string.Empty;

    private NnUnetGraphWriter(OnnxGraphBuilder graph, NnUnetArchitecture arch)
    {
        this.graph = graph;
        this.arch = arch;
    }

    /// <summary>Builds the graph for the given folds (at least one).</summary>
    public static OnnxGraphBuilder Build(NnUnetArchitecture architecture, int inputChannels, int classes, IReadOnlyList<INnUnetWeights> folds, string graphName)
    {
        ArgumentNullException.ThrowIfNull(architecture);
        ArgumentNullException.ThrowIfNull(folds);
        if (folds.Count == 0)
        {
            throw new ArgumentException("At least one fold is needed.", nameof(folds));
        }

        var graph = new OnnxGraphBuilder(graphName) { ProducerName = "KneeWeb nnU-Net import" };
        graph.AddInput(InputName, "batch", (long)inputChannels, "n0", "n1", "n2");
        graph.AddOutput(OutputName, "batch", (long)classes, "n0", "n1", "n2");
        var writer = new NnUnetGraphWriter(graph, architecture);
        var outputs = new List<string>();
        for (int f = 0; f < folds.Count; f++)
        {
            writer.weights = folds[f];
            writer.prefix = folds.Count == 1 ? string.Empty : $"fold{f}/";
            outputs.Add(writer.Network(InputName, inputChannels, classes));
        }

        // Mean of the folds' logits (Identity for one fold, so the output keeps its name).
        graph.AddNode(outputs.Count == 1 ? "Identity" : "Mean", [.. outputs], [OutputName]);
        return graph;
    }

    private string Network(string input, int inputChannels, int classes)
    {
        List<string> skips = arch.NetworkClass == NnUnetNetworkClass.PlainConvUNet
            ? PlainEncoder(input, inputChannels)
            : ResidualEncoder(input, inputChannels);
        int n = arch.Stages;
        string x = skips[^1];
        for (int s = 1; s < n; s++)
        {
            int below = arch.Features[n - s];
            int skip = arch.Features[n - s - 1];
            x = ConvTranspose(x, $"decoder.transpconvs.{s - 1}", below, skip, arch.Strides[n - s]);
            x = graph.Add("Concat", [x, skips[n - s - 1]], OnnxAttr.Int("axis", 1));
            for (int c = 0; c < arch.DecoderConvs[s - 1]; c++)
            {
                x = ConvNormNonlin(x, $"decoder.stages.{s - 1}.convs.{c}", c == 0 ? 2 * skip : skip, skip, arch.KernelSizes[n - s - 1], [1, 1, 1], nonlin: true);
            }
        }

        return Conv(x, $"decoder.seg_layers.{n - 2}", arch.Features[0], classes, [1, 1, 1], [1, 1, 1], bias: true);
    }

    private List<string> PlainEncoder(string x, int channels)
    {
        var skips = new List<string>();
        for (int s = 0; s < arch.Stages; s++)
        {
            for (int c = 0; c < arch.EncoderDepth[s]; c++)
            {
                x = ConvNormNonlin(x, $"encoder.stages.{s}.0.convs.{c}", c == 0 ? channels : arch.Features[s], arch.Features[s], arch.KernelSizes[s], c == 0 ? arch.Strides[s] : [1, 1, 1], nonlin: true);
            }

            channels = arch.Features[s];
            skips.Add(x);
        }

        return skips;
    }

    private List<string> ResidualEncoder(string x, int channels)
    {
        int stem = arch.StemChannels ?? arch.Features[0];
        x = ConvNormNonlin(x, "encoder.stem.convs.0", channels, stem, arch.KernelSizes[0], [1, 1, 1], nonlin: true);
        channels = stem;
        var skips = new List<string>();
        for (int s = 0; s < arch.Stages; s++)
        {
            for (int b = 0; b < arch.EncoderDepth[s]; b++)
            {
                x = BasicBlockD(x, $"encoder.stages.{s}.blocks.{b}", b == 0 ? channels : arch.Features[s], arch.Features[s], arch.KernelSizes[s], b == 0 ? arch.Strides[s] : [1, 1, 1]);
            }

            channels = arch.Features[s];
            skips.Add(x);
        }

        return skips;
    }

    /// <summary>ResNet-D block: conv(stride)-norm-nonlin, conv-norm, plus the skip (AvgPool if strided, 1x1 conv + norm if widened), nonlin.</summary>
    private string BasicBlockD(string x, string name, int cin, int cout, int[] kernel, int[] stride)
    {
        bool strided = stride.Any(s => s != 1);
        string residual = x;
        if (strided)
        {
            long[] k = [.. stride.Select(v => (long)v)];
            residual = graph.Add("AveragePool", [residual], OnnxAttr.Ints("kernel_shape", k), OnnxAttr.Ints("strides", k));
        }

        if (cin != cout)
        {
            residual = ConvNormNonlin(residual, $"{name}.skip.{(strided ? 1 : 0)}", cin, cout, [1, 1, 1], [1, 1, 1], nonlin: false, bias: false);
        }
        else if (weights.Has($"{name}.skip.0.conv.weight") || weights.Has($"{name}.skip.1.conv.weight"))
        {
            throw new NnUnetFormatException($"{name} has a projection skip although its channels do not change: the checkpoint does not match the plans");
        }

        string y = ConvNormNonlin(x, $"{name}.conv1", cin, cout, kernel, stride, nonlin: true);
        y = ConvNormNonlin(y, $"{name}.conv2", cout, cout, kernel, [1, 1, 1], nonlin: false);
        return Nonlin(graph.Add("Add", [y, residual]));
    }

    private string ConvNormNonlin(string x, string name, int cin, int cout, int[] kernel, int[] stride, bool nonlin, bool? bias = null)
    {
        x = Conv(x, $"{name}.conv", cin, cout, kernel, stride, bias ?? arch.ConvBias);
        x = Norm(x, $"{name}.norm", cout);
        return nonlin ? Nonlin(x) : x;
    }

    private string Conv(string x, string name, int cin, int cout, int[] kernel, int[] stride, bool bias)
    {
        string w = Initializer($"{name}.weight", [cout, cin, kernel[0], kernel[1], kernel[2]]);
        long[] pads = [.. kernel.Select(k => (long)((k - 1) / 2)), .. kernel.Select(k => (long)((k - 1) / 2))];
        string[] inputs = bias ? [x, w, Initializer($"{name}.bias", [cout])] : [x, w];
        if (!bias && weights.Has($"{name}.bias"))
        {
            throw new NnUnetFormatException($"{name} has a bias the plans do not declare (conv_bias)");
        }

        return graph.Add("Conv", inputs,
            OnnxAttr.Ints("kernel_shape", [.. kernel.Select(k => (long)k)]),
            OnnxAttr.Ints("strides", [.. stride.Select(s => (long)s)]),
            OnnxAttr.Ints("pads", pads));
    }

    private string ConvTranspose(string x, string name, int cin, int cout, int[] stride)
    {
        long[] k = [.. stride.Select(v => (long)v)];
        string w = Initializer($"{name}.weight", [cin, cout, stride[0], stride[1], stride[2]]);
        string[] inputs = arch.ConvBias ? [x, w, Initializer($"{name}.bias", [cout])] : [x, w];
        return graph.Add("ConvTranspose", inputs, OnnxAttr.Ints("kernel_shape", k), OnnxAttr.Ints("strides", k));
    }

    private string Norm(string x, string name, int channels)
    {
        string scale, shift;
        if (arch.NormAffine)
        {
            scale = Initializer($"{name}.weight", [channels]);
            shift = Initializer($"{name}.bias", [channels]);
        }
        else
        {
            scale = graph.AddInitializer(graph.NewName(prefix + name + ".ones"), [.. Enumerable.Repeat(1f, channels)], channels);
            shift = graph.AddInitializer(graph.NewName(prefix + name + ".zeros"), new float[channels], channels);
        }

        return graph.Add("InstanceNormalization", [x, scale, shift], OnnxAttr.Float("epsilon", (float)arch.NormEpsilon));
    }

    private string Nonlin(string x) => arch.NegativeSlope == 0
        ? graph.Add("Relu", [x])
        : graph.Add("LeakyRelu", [x], OnnxAttr.Float("alpha", (float)arch.NegativeSlope));

    private string Initializer(string name, long[] shape)
    {
        FloatTensor tensor = weights.Get(name);
        if (!tensor.Shape.SequenceEqual(shape))
        {
            throw new NnUnetFormatException($"tensor {name} has shape {tensor.ShapeText}; the plans imply [{string.Join(", ", shape)}]: the checkpoint does not match plans.json");
        }

        return graph.AddInitializer(prefix + name, tensor.Data, shape);
    }
}
