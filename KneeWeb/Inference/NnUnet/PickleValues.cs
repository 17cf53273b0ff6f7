namespace KneeWeb.Inference.NnUnet;

/// <summary>A Python tuple from a pickle.</summary>
public sealed record PyTuple(IReadOnlyList<object?> Items)
{
    public int Count => Items.Count;

    public object? this[int index] => Items[index];
}

/// <summary>
/// A Python dict (also OrderedDict) from a pickle, in insertion order. Keys are strings, longs,
/// or tuples; lookups by string are what the checkpoint needs.
/// </summary>
public sealed class PyDict
{
    private readonly List<KeyValuePair<object?, object?>> items = [];
    private readonly Dictionary<string, int> byString = new(StringComparer.Ordinal);

    public IReadOnlyList<KeyValuePair<object?, object?>> Items => items;

    public int Count => items.Count;

    public void Set(object? key, object? value)
    {
        if (key is string text)
        {
            if (byString.TryGetValue(text, out int at))
            {
                items[at] = new(key, value);
                return;
            }

            byString[text] = items.Count;
        }

        items.Add(new(key, value));
    }

    public bool TryGet(string key, out object? value)
    {
        if (byString.TryGetValue(key, out int at))
        {
            value = items[at].Value;
            return true;
        }

        value = null;
        return false;
    }

    public object? Get(string key) => TryGet(key, out object? value) ? value : null;
}

/// <summary>A global the restricted unpickler allows; it stands for the callable until REDUCE applies it.</summary>
public sealed record PyGlobal(string Module, string Name)
{
    public string FullName => $"{Module}.{Name}";
}

/// <summary>A numpy.dtype made by the pickle (only its descriptor matters here).</summary>
public sealed class PyDtype(string descriptor)
{
    public string Descriptor { get; } = descriptor;

    /// <summary>'&lt;', '|', '=' (little or not applicable) or '&gt;' (big-endian), from the BUILD state.</summary>
    public char ByteOrder { get; set; } = '<';
}

/// <summary>torch.device('cuda', 0) and friends.</summary>
public sealed record TorchDevice(string Type, long? Index)
{
    public override string ToString() => Index is null ? Type : $"{Type}:{Index}";
}

/// <summary>The element types a torch storage can hold; only the float kinds become weights.</summary>
public enum TorchDType
{
    Float32,
    Float16,
    BFloat16,
    Float64,
    Int64,
    Int32,
    Int16,
    Int8,
    UInt8,
    Bool,
}

/// <summary>A storage named by the pickle's persistent id: its bytes live in the zip entry data/&lt;Key&gt;.</summary>
public sealed record TorchStorageRef(string Key, TorchDType DType, string Location, long Numel)
{
    public static int ElementSize(TorchDType dtype) => dtype switch
    {
        TorchDType.Float32 or TorchDType.Int32 => 4,
        TorchDType.Float16 or TorchDType.BFloat16 or TorchDType.Int16 => 2,
        TorchDType.Float64 or TorchDType.Int64 => 8,
        _ => 1,
    };
}

/// <summary>A tensor as the pickle describes it: a view (offset, size, stride in elements) of a storage.</summary>
public sealed record TorchTensorRef(TorchStorageRef Storage, long Offset, long[] Size, long[] Stride)
{
    public long Numel
    {
        get
        {
            long n = 1;
            foreach (long s in Size)
            {
                n *= s;
            }

            return n;
        }
    }

    public string ShapeText => "[" + string.Join(", ", Size) + "]";
}
