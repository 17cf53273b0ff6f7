using System.Text.RegularExpressions;

namespace KneeWeb.Inference.NnUnet;

/// <summary>
/// One nnU-Net fold checkpoint (fold_N/checkpoint_*.pth): the network weights by state_dict name
/// with module./_orig_mod. prefixes stripped, and what the predictor reads besides (trainer,
/// configuration, mirroring axes). Tensors are read from the zip only when asked for.
/// </summary>
public sealed partial class NnUnetCheckpoint : INnUnetWeights, IDisposable
{
    private readonly TorchCheckpoint file;
    private readonly Dictionary<string, TorchTensorRef> tensors;
    private readonly HashSet<string> read = new(StringComparer.Ordinal);

    private NnUnetCheckpoint(TorchCheckpoint file, Dictionary<string, TorchTensorRef> tensors)
    {
        this.file = file;
        this.tensors = tensors;
    }

    public string FileName => Path.GetFileName(file.FilePath);

    public string? TrainerName { get; private init; }

    public string? Configuration { get; private init; }

    /// <summary>inference_allowed_mirroring_axes (network spatial axes); empty when None.</summary>
    public int[] MirrorAxes { get; private init; } = [];

    public long? Epoch { get; private init; }

    public IReadOnlyCollection<string> Names => tensors.Keys;

    public static NnUnetCheckpoint Open(string path, CheckpointLimits? limits = null)
    {
        TorchCheckpoint file = TorchCheckpoint.Open(path, limits);
        try
        {
            string name = Path.GetFileName(path);
            if (file.Root is not PyDict root || root.Get("network_weights") is not PyDict weights)
            {
                throw new NnUnetFormatException($"{name} has no network_weights dict: not an nnU-Net v2 checkpoint");
            }

            var tensors = new Dictionary<string, TorchTensorRef>(StringComparer.Ordinal);
            foreach (KeyValuePair<object?, object?> entry in weights.Items)
            {
                if (entry.Key is not string key || entry.Value is not TorchTensorRef tensor)
                {
                    throw new NnUnetFormatException($"{name}: network_weights holds {entry.Key} = {entry.Value?.GetType().Name ?? "None"}, not a tensor");
                }

                string stripped = StripPrefixes(key);
                if (!tensors.TryAdd(stripped, tensor))
                {
                    throw new NnUnetFormatException($"{name}: network_weights names {stripped} twice once prefixes are stripped");
                }
            }

            int[] mirror = root.Get("inference_allowed_mirroring_axes") switch
            {
                null => [],
                PyTuple tuple => [.. tuple.Items.Select(a => a is long v && v is >= 0 and <= 2 ? (int)v : throw new NnUnetFormatException($"{name}: inference_allowed_mirroring_axes holds {a}"))],
                List<object?> list => [.. list.Select(a => a is long v && v is >= 0 and <= 2 ? (int)v : throw new NnUnetFormatException($"{name}: inference_allowed_mirroring_axes holds {a}"))],
                object other => throw new NnUnetFormatException($"{name}: inference_allowed_mirroring_axes is a {other.GetType().Name}"),
            };
            return new NnUnetCheckpoint(file, tensors)
            {
                TrainerName = root.Get("trainer_name") as string,
                Configuration = (root.Get("init_args") as PyDict)?.Get("configuration") as string,
                MirrorAxes = mirror,
                Epoch = root.Get("current_epoch") as long?,
            };
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    /// <summary>Strips the module. (DataParallel) and _orig_mod. (torch.compile) prefixes, in any nesting.</summary>
    public static string StripPrefixes(string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        while (true)
        {
            if (key.StartsWith("module.", StringComparison.Ordinal))
            {
                key = key["module.".Length..];
            }
            else if (key.StartsWith("_orig_mod.", StringComparison.Ordinal))
            {
                key = key["_orig_mod.".Length..];
            }
            else
            {
                return key;
            }
        }
    }

    public bool Has(string name) => tensors.ContainsKey(name);

    public TorchTensorRef Reference(string name) => tensors.TryGetValue(name, out TorchTensorRef? tensor)
        ? tensor
        : throw new NnUnetFormatException($"{FileName} has no tensor {name}: the checkpoint does not match plans.json");

    public FloatTensor Get(string name)
    {
        TorchTensorRef tensor = Reference(name);
        read.Add(name);
        return file.ReadFloat(tensor, name);
    }

    /// <summary>
    /// Refuses tensors the graph did not use, other than the known aliases (all_modules.N,
    /// decoder.encoder.*, the deep-supervision heads): BatchNorm statistics, extra layers...
    /// </summary>
    public void CheckAllUsed(int lastSegLayer)
    {
        var unused = new List<string>();
        foreach (string name in tensors.Keys)
        {
            if (read.Contains(name))
            {
                continue;
            }

            string canonical = Canonical(name);
            if (!string.Equals(canonical, name, StringComparison.Ordinal))
            {
                CheckAlias(name, canonical);
                continue;
            }

            Match seg = SegLayer().Match(name);
            if (seg.Success && int.Parse(seg.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture) < lastSegLayer)
            {
                continue;
            }

            unused.Add(name);
        }

        if (unused.Count > 0)
        {
            string hint = unused.Any(u => u.EndsWith("running_mean", StringComparison.Ordinal) || u.EndsWith("num_batches_tracked", StringComparison.Ordinal))
                ? " (BatchNorm statistics: only InstanceNorm networks are imported)"
                : string.Empty;
            throw new NnUnetImportException($"{FileName} holds tensors the plans' network does not have: {string.Join(", ", unused.Take(8))}{(unused.Count > 8 ? $" and {unused.Count - 8} more" : string.Empty)}{hint}");
        }
    }

    /// <summary>
    /// The name an alias repeats: decoder.encoder.X is encoder.X; all_modules.0 is the conv and the
    /// other parametrised entry of all_modules is the norm (ConvDropoutNormReLU's order).
    /// </summary>
    private static string Canonical(string name)
    {
        if (name.StartsWith("decoder.encoder.", StringComparison.Ordinal))
        {
            name = name["decoder.".Length..];
        }

        return AllModules().Replace(name, m => m.Groups[1].Value == "0" ? ".conv." : ".norm.");
    }

    /// <summary>
    /// torch's load_state_dict loads an alias after its original, so the alias is what a network
    /// would run with: it must name the same view (or, in a re-save that copied tensors, hold equal values).
    /// </summary>
    private void CheckAlias(string alias, string canonical)
    {
        if (!tensors.TryGetValue(canonical, out TorchTensorRef? original))
        {
            throw new NnUnetImportException($"{FileName} holds {alias} without {canonical}: the checkpoint does not match the plans' network");
        }

        TorchTensorRef copy = tensors[alias];
        bool sameView = copy.Storage.Key == original.Storage.Key && copy.Offset == original.Offset
            && copy.Size.SequenceEqual(original.Size) && copy.Stride.SequenceEqual(original.Stride);
        if (!sameView && !(read.Contains(canonical) && file.ReadFloat(copy, alias).Data.AsSpan().SequenceEqual(file.ReadFloat(original, canonical).Data)))
        {
            throw new NnUnetFormatException($"{FileName}: {alias} differs from {canonical}, which it should repeat");
        }
    }

    public void Dispose() => file.Dispose();

    [GeneratedRegex(@"\.all_modules\.(\d+)\.")]
    private static partial Regex AllModules();

    [GeneratedRegex(@"^decoder\.seg_layers\.(\d+)\.")]
    private static partial Regex SegLayer();
}
