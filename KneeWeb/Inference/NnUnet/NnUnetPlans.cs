using System.Text.Json;
using System.Text.Json.Nodes;

namespace KneeWeb.Inference.NnUnet;

/// <summary>The two dynamic_network_architectures classes nnU-Net's plans name today.</summary>
public enum NnUnetNetworkClass
{
    PlainConvUNet,
    ResidualEncoderUNet,
}

/// <summary>What a configuration's architecture is, resolved from current or older plans (network axes).</summary>
public sealed record NnUnetArchitecture
{
    public required NnUnetNetworkClass NetworkClass { get; init; }

    /// <summary>As written in plans.json (network_class_name, or the converted UNet_class_name).</summary>
    public required string NetworkClassName { get; init; }

    public required int[] Features { get; init; }

    public required int[][] KernelSizes { get; init; }

    public required int[][] Strides { get; init; }

    /// <summary>Convs per stage (PlainConvUNet) or residual blocks per stage (ResidualEncoderUNet).</summary>
    public required int[] EncoderDepth { get; init; }

    public required int[] DecoderConvs { get; init; }

    public bool ConvBias { get; init; }

    public double NormEpsilon { get; init; } = 1e-5;

    public bool NormAffine { get; init; } = true;

    /// <summary>LeakyReLU's negative slope; 0 for ReLU.</summary>
    public double NegativeSlope { get; init; } = 0.01;

    /// <summary>ResidualEncoderUNet's stem width (features[0] when absent).</summary>
    public int? StemChannels { get; init; }

    public int Stages => Features.Length;
}

/// <summary>One configuration of plans.json with inherits_from applied.</summary>
public sealed record NnUnetConfiguration
{
    public required string Name { get; init; }

    public required int[] PatchSize { get; init; }

    public required double[] SpacingMm { get; init; }

    public required string[] NormalizationSchemes { get; init; }

    public required bool[] UseMaskForNorm { get; init; }

    public required NnUnetArchitecture Architecture { get; init; }

    public string? PreviousStage { get; init; }

    public int DataOrder { get; init; } = 3;

    public int DataOrderZ { get; init; }

    public int LogitsOrder { get; init; } = 1;

    public int LogitsOrderZ { get; init; }
}

/// <summary>plans.json: the parts the importer needs, read strictly with errors naming the file and key.</summary>
public sealed class NnUnetPlans
{
    private static readonly HashSet<string> KnownArchKwargs = new(StringComparer.Ordinal)
    {
        "n_stages", "features_per_stage", "conv_op", "kernel_sizes", "strides", "n_conv_per_stage", "n_blocks_per_stage",
        "n_conv_per_stage_decoder", "conv_bias", "norm_op", "norm_op_kwargs", "dropout_op", "dropout_op_kwargs", "nonlin",
        "nonlin_kwargs", "deep_supervision", "nonlin_first", "block", "bottleneck_channels", "stem_channels",
    };

    private readonly JsonObject root;

    private NnUnetPlans(JsonObject root, string fileName)
    {
        this.root = root;
        FileName = fileName;
        DatasetName = root["dataset_name"]?.GetValue<string>() ?? string.Empty;
        PlansName = root["plans_name"]?.GetValue<string>() ?? string.Empty;
        TransposeForward = Permutation("transpose_forward");
        TransposeBackward = Permutation("transpose_backward");
        for (int a = 0; a < 3; a++)
        {
            if (TransposeBackward[TransposeForward[a]] != a)
            {
                throw Format("transpose_backward is not the inverse of transpose_forward");
            }
        }
    }

    public string FileName { get; }

    public string DatasetName { get; }

    public string PlansName { get; }

    public int[] TransposeForward { get; }

    public int[] TransposeBackward { get; }

    public static NnUnetPlans Parse(string json, string fileName = "plans.json")
    {
        try
        {
            return JsonNode.Parse(json) is JsonObject obj ? new NnUnetPlans(obj, fileName) : throw new NnUnetFormatException($"{fileName} is not a JSON object");
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException)
        {
            throw new NnUnetFormatException($"{fileName} is not valid nnU-Net plans: {e.Message}", e);
        }
    }

    public IEnumerable<string> ConfigurationNames => (root["configurations"] as JsonObject)?.Select(p => p.Key) ?? [];

    /// <summary>foreground_intensity_properties_per_channel[channel] (CT normalisation), or null.</summary>
    public (double Mean, double Std, double Low, double High)? IntensityProperties(int channel)
    {
        JsonNode? all = root["foreground_intensity_properties_per_channel"] ?? root["foreground_intensity_properties_by_modality"];
        if (all?[channel.ToString(System.Globalization.CultureInfo.InvariantCulture)] is not JsonObject props)
        {
            return null;
        }

        return (Number(props, "mean"), Number(props, "std"), Number(props, "percentile_00_5"), Number(props, "percentile_99_5"));
    }

    /// <summary>The configuration with inherits_from resolved (nnU-Net's PlansManager semantics).</summary>
    public NnUnetConfiguration Configuration(string name)
    {
        try
        {
            JsonObject config = Resolve(name, []);
            return Read(name, config);
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException or KeyNotFoundException)
        {
            throw Format($"configuration {name}: {e.Message}");
        }
    }

    private JsonObject Resolve(string name, HashSet<string> visited)
    {
        if (root["configurations"]?[name] is not JsonObject own)
        {
            throw new NnUnetImportException($"{FileName} has no configuration '{name}' (it has {string.Join(", ", ConfigurationNames)})");
        }

        var config = (JsonObject)own.DeepClone();
        if (config["inherits_from"]?.GetValue<string>() is { } parent)
        {
            if (!visited.Add(name) || visited.Contains(parent))
            {
                throw Format($"configuration {name} inherits from itself (through {parent})");
            }

            JsonObject merged = Resolve(parent, visited);
            foreach (KeyValuePair<string, JsonNode?> entry in config)
            {
                merged[entry.Key] = entry.Value?.DeepClone();
            }

            return merged;
        }

        return config;
    }

    private NnUnetConfiguration Read(string name, JsonObject config)
    {
        int[] patch = IntArray(config["patch_size"], "patch_size");
        if (patch.Length != 3)
        {
            throw new NnUnetImportException($"{FileName}: configuration {name} has a {patch.Length}D patch; only 3D configurations are imported (2D ones use Conv2d)");
        }

        double[] spacing = config["spacing"]?.AsArray().Select(n => n!.GetValue<double>()).ToArray() ?? throw Format($"configuration {name} has no spacing");
        string[] schemes = config["normalization_schemes"]?.AsArray().Select(n => n!.GetValue<string>()).ToArray() ?? throw Format($"configuration {name} has no normalization_schemes");
        bool[] mask = config["use_mask_for_norm"]?.AsArray().Select(n => n!.GetValue<bool>()).ToArray() ?? new bool[schemes.Length];
        JsonObject architecture = config["architecture"] as JsonObject ?? ConvertOldPlans(name, config);
        return new NnUnetConfiguration
        {
            Name = name,
            PatchSize = patch,
            SpacingMm = spacing.Length == 3 ? spacing : throw Format($"configuration {name} spacing has {spacing.Length} values"),
            NormalizationSchemes = schemes,
            UseMaskForNorm = mask,
            Architecture = ReadArchitecture(name, architecture),
            PreviousStage = config["previous_stage"]?.GetValue<string>(),
            DataOrder = Order(config, "resampling_fn_data_kwargs", "order", 3),
            DataOrderZ = Order(config, "resampling_fn_data_kwargs", "order_z", 0),
            LogitsOrder = Order(config, "resampling_fn_probabilities_kwargs", "order", 1),
            LogitsOrderZ = Order(config, "resampling_fn_probabilities_kwargs", "order_z", 0),
        };
    }

    private static int Order(JsonObject config, string kwargs, string key, int fallback) =>
        config[kwargs]?[key] is JsonValue value ? value.GetValue<int>() : fallback;

    /// <summary>Older plans (before nnU-Net 2.3): rebuild architecture as plans_handler.py does.</summary>
    private JsonObject ConvertOldPlans(string name, JsonObject config)
    {
        string className = config["UNet_class_name"]?.GetValue<string>() ?? throw Format($"configuration {name} has neither architecture nor UNet_class_name");
        string fullName = className switch
        {
            "PlainConvUNet" => "dynamic_network_architectures.architectures.unet.PlainConvUNet",
            "ResidualEncoderUNet" => "dynamic_network_architectures.architectures.residual_unet.ResidualEncoderUNet",
            _ => throw new NnUnetImportException($"{FileName}: configuration {name} uses UNet_class_name '{className}'; KneeWeb imports PlainConvUNet and ResidualEncoderUNet only"),
        };
        int[] encoder = IntArray(config["n_conv_per_stage_encoder"], "n_conv_per_stage_encoder");
        int baseFeatures = config["UNet_base_num_features"]!.GetValue<int>();
        int maxFeatures = config["unet_max_num_features"]!.GetValue<int>();
        var features = new JsonArray();
        for (int i = 0; i < encoder.Length; i++)
        {
            features.Add((int)Math.Min((long)baseFeatures << i, maxFeatures));
        }

        var kwargs = new JsonObject
        {
            ["n_stages"] = encoder.Length,
            ["features_per_stage"] = features,
            ["conv_op"] = "torch.nn.modules.conv.Conv3d",
            ["kernel_sizes"] = config["conv_kernel_sizes"]?.DeepClone(),
            ["strides"] = config["pool_op_kernel_sizes"]?.DeepClone(),
            [className == "PlainConvUNet" ? "n_conv_per_stage" : "n_blocks_per_stage"] = config["n_conv_per_stage_encoder"]!.DeepClone(),
            ["n_conv_per_stage_decoder"] = config["n_conv_per_stage_decoder"]?.DeepClone(),
            ["conv_bias"] = true,
            ["norm_op"] = "torch.nn.modules.instancenorm.InstanceNorm3d",
            ["norm_op_kwargs"] = new JsonObject { ["eps"] = 1e-5, ["affine"] = true },
            ["nonlin"] = "torch.nn.LeakyReLU",
            ["nonlin_kwargs"] = new JsonObject { ["inplace"] = true },
        };
        return new JsonObject { ["network_class_name"] = fullName, ["arch_kwargs"] = kwargs };
    }

    private NnUnetArchitecture ReadArchitecture(string name, JsonObject architecture)
    {
        string className = architecture["network_class_name"]?.GetValue<string>() ?? throw Format($"configuration {name} names no network_class_name");
        NnUnetNetworkClass networkClass = className switch
        {
            "dynamic_network_architectures.architectures.unet.PlainConvUNet" => NnUnetNetworkClass.PlainConvUNet,
            "dynamic_network_architectures.architectures.unet.ResidualEncoderUNet"
                or "dynamic_network_architectures.architectures.residual_unet.ResidualEncoderUNet" => NnUnetNetworkClass.ResidualEncoderUNet,
            _ => throw Refuse(name, $"network class {className} is not supported (KneeWeb imports dynamic_network_architectures' PlainConvUNet and ResidualEncoderUNet)"),
        };
        JsonObject kwargs = architecture["arch_kwargs"] as JsonObject ?? throw Format($"configuration {name} has no arch_kwargs");
        foreach (KeyValuePair<string, JsonNode?> entry in kwargs)
        {
            if (!KnownArchKwargs.Contains(entry.Key))
            {
                throw Refuse(name, $"arch_kwargs.{entry.Key} is not an argument KneeWeb knows for {networkClass}");
            }
        }

        string convOp = kwargs["conv_op"]?.GetValue<string>() ?? string.Empty;
        if (!convOp.EndsWith("Conv3d", StringComparison.Ordinal))
        {
            throw Refuse(name, $"conv_op {convOp}: only 3D convolutions (Conv3d) are imported");
        }

        string normOp = kwargs["norm_op"]?.GetValue<string>() ?? "None";
        if (!normOp.EndsWith("InstanceNorm3d", StringComparison.Ordinal))
        {
            throw Refuse(name, $"norm_op {normOp}: only InstanceNorm3d is imported (BatchNorm and others are not)");
        }

        string nonlin = kwargs["nonlin"]?.GetValue<string>() ?? "None";
        double slope = nonlin switch
        {
            "torch.nn.LeakyReLU" or "torch.nn.modules.activation.LeakyReLU" => kwargs["nonlin_kwargs"]?["negative_slope"]?.GetValue<double>() ?? 0.01,
            "torch.nn.ReLU" or "torch.nn.modules.activation.ReLU" => 0.0,
            _ => throw Refuse(name, $"nonlin {nonlin}: only LeakyReLU and ReLU are imported"),
        };
        if (kwargs["nonlin_first"]?.GetValue<bool>() == true)
        {
            throw Refuse(name, "nonlin_first=True (conv -> nonlin -> norm) is not supported");
        }

        if (kwargs["block"] is JsonValue block && !block.GetValue<string>().EndsWith("BasicBlockD", StringComparison.Ordinal))
        {
            throw Refuse(name, $"block {block.GetValue<string>()}: only BasicBlockD residual blocks are imported");
        }

        if (kwargs["bottleneck_channels"] is JsonValue or JsonArray)
        {
            throw Refuse(name, "bottleneck_channels (BottleneckD blocks) are not supported");
        }

        int stages = kwargs["n_stages"]?.GetValue<int>() ?? throw Format($"configuration {name} has no n_stages");
        if (stages < 2)
        {
            throw Format($"configuration {name} has {stages} stage(s); a U-Net needs at least 2");
        }

        string depthKey = networkClass == NnUnetNetworkClass.PlainConvUNet ? "n_conv_per_stage" : "n_blocks_per_stage";
        return new NnUnetArchitecture
        {
            NetworkClass = networkClass,
            NetworkClassName = className,
            Features = PerStage(kwargs["features_per_stage"], stages, "features_per_stage"),
            KernelSizes = PerStage3(kwargs["kernel_sizes"], stages, "kernel_sizes"),
            Strides = PerStage3(kwargs["strides"], stages, "strides"),
            EncoderDepth = PerStage(kwargs[depthKey], stages, depthKey),
            DecoderConvs = PerStage(kwargs["n_conv_per_stage_decoder"], stages - 1, "n_conv_per_stage_decoder"),
            ConvBias = kwargs["conv_bias"]?.GetValue<bool>() ?? false,
            NormEpsilon = kwargs["norm_op_kwargs"]?["eps"]?.GetValue<double>() ?? 1e-5,
            NormAffine = kwargs["norm_op_kwargs"]?["affine"]?.GetValue<bool>() ?? false,
            NegativeSlope = slope,
            StemChannels = kwargs["stem_channels"] is JsonValue stem ? stem.GetValue<int>() : null,
        };
    }

    private int[] PerStage(JsonNode? node, int count, string key)
    {
        int[] values = node is JsonValue single ? Enumerable.Repeat(single.GetValue<int>(), count).ToArray() : IntArray(node, key);
        return values.Length == count && values.All(v => v > 0) ? values : throw Format($"arch_kwargs.{key} must hold {count} positive values");
    }

    private int[][] PerStage3(JsonNode? node, int count, string key)
    {
        if (node is JsonValue single)
        {
            int v = single.GetValue<int>();
            return Enumerable.Range(0, count).Select(_ => new[] { v, v, v }).ToArray();
        }

        JsonArray array = node as JsonArray ?? throw Format($"arch_kwargs.{key} is missing");
        if (array.Count != count)
        {
            throw Format($"arch_kwargs.{key} has {array.Count} entries for {count} stages");
        }

        return array.Select(item => item is JsonValue v ? [v.GetValue<int>(), v.GetValue<int>(), v.GetValue<int>()] : IntArray(item, key))
            .Select(v => v.Length == 3 && v.All(x => x > 0) ? v : throw Format($"arch_kwargs.{key} entries must be three positive integers"))
            .ToArray();
    }

    private int[] IntArray(JsonNode? node, string key) =>
        (node as JsonArray)?.Select(n => n!.GetValue<int>()).ToArray() ?? throw Format($"{key} is missing or not a list");

    private int[] Permutation(string key)
    {
        int[] values = IntArray(root[key], key);
        return values.Length == 3 && values.Order().SequenceEqual([0, 1, 2]) ? values : throw Format($"{key} must be a permutation of 0, 1, 2");
    }

    private static double Number(JsonObject obj, string key) => obj[key]?.GetValue<double>() ?? double.NaN;

    private NnUnetFormatException Format(string problem) => new($"{FileName}: {problem}");

    private NnUnetImportException Refuse(string configuration, string reason) => new($"{FileName}, configuration {configuration}: {reason}");
}
