using System.Buffers.Binary;
using System.Globalization;
using System.Text;

namespace KneeWeb.Inference.NnUnet;

/// <summary>Caps that keep a hostile pickle from exhausting memory or time.</summary>
public sealed record PickleLimits
{
    /// <summary>Values on the stack at once (a state_dict's SETITEMS holds two per tensor).</summary>
    public int MaxStackItems { get; init; } = 200_000;

    /// <summary>Open MARKs at once (nesting depth of tuples, lists and dicts being built).</summary>
    public int MaxMarkDepth { get; init; } = 1_000;

    public int MaxMemoEntries { get; init; } = 2_000_000;

    /// <summary>Dimensions of one tensor.</summary>
    public int MaxTensorDims { get; init; } = 8;
}

/// <summary>
/// A pickle reader for PyTorch checkpoints that executes nothing: it knows the opcodes of
/// protocols 2 to 4 and builds plain values, and it admits only the handful of globals a
/// torch.save of an nnU-Net checkpoint uses (shared/NNUNET.md). Any other global is refused,
/// by name, at the GLOBAL opcode itself, before anything could call it.
/// </summary>
public sealed class RestrictedUnpickler
{
    /// <summary>Storage classes torch pickles inside persistent ids, with their element types.</summary>
    public static readonly IReadOnlyDictionary<string, TorchDType> StorageTypes = new Dictionary<string, TorchDType>(StringComparer.Ordinal)
    {
        ["FloatStorage"] = TorchDType.Float32,
        ["HalfStorage"] = TorchDType.Float16,
        ["BFloat16Storage"] = TorchDType.BFloat16,
        ["DoubleStorage"] = TorchDType.Float64,
        ["LongStorage"] = TorchDType.Int64,
        ["IntStorage"] = TorchDType.Int32,
        ["ShortStorage"] = TorchDType.Int16,
        ["CharStorage"] = TorchDType.Int8,
        ["ByteStorage"] = TorchDType.UInt8,
        ["BoolStorage"] = TorchDType.Bool,
    };

    private static readonly HashSet<string> AllowedGlobals = new(StringComparer.Ordinal)
    {
        "collections.OrderedDict",
        "torch._utils._rebuild_tensor_v2",
        "torch.device",
        "numpy.core.multiarray.scalar",
        "numpy._core.multiarray.scalar",
        "numpy.dtype",
        "_codecs.encode",
    };

    private static readonly object Mark = new();

    private readonly byte[] data;
    private readonly PickleLimits limits;
    private readonly Func<PyTuple, object> persistentLoad;
    private readonly List<object?> stack = [];
    private readonly Stack<int> marks = new();
    private readonly Dictionary<long, object?> memo = [];
    private int position;

    /// <summary>A reader over the whole pickle (its size capped by the caller); persistentLoad resolves a persistent id (torch: a storage).</summary>
    public RestrictedUnpickler(byte[] pickle, Func<PyTuple, object> persistentLoad, PickleLimits? limits = null)
    {
        data = pickle ?? throw new ArgumentNullException(nameof(pickle));
        this.persistentLoad = persistentLoad ?? throw new ArgumentNullException(nameof(persistentLoad));
        this.limits = limits ?? new PickleLimits();
    }

    /// <summary>Reads the pickle to its STOP and returns the value; throws <see cref="NnUnetFormatException"/> on anything refused.</summary>
    public object? Load()
    {
        while (true)
        {
            if (position >= data.Length)
            {
                throw Fail("the pickle ends before its STOP opcode (truncated)");
            }

            byte op = data[position++];
            if (op == (byte)'.')
            {
                return stack.Count == 1 && marks.Count == 0 ? stack[0] : throw Fail("STOP with an unbalanced stack");
            }

            Step(op);
            if (stack.Count > limits.MaxStackItems)
            {
                throw Fail($"more than {limits.MaxStackItems} values on the pickle stack");
            }
        }
    }

    private void Step(byte op)
    {
        switch (op)
        {
            case 0x80: // PROTO
                int protocol = ReadByte();
                if (protocol > 5)
                {
                    throw Fail($"pickle protocol {protocol} is not known");
                }

                break;
            case 0x95: // FRAME (protocol 4): a length prefix only
                Skip(8);
                break;
            case (byte)'(':
                if (marks.Count >= limits.MaxMarkDepth)
                {
                    throw Fail($"nesting deeper than {limits.MaxMarkDepth}");
                }

                marks.Push(stack.Count);
                break;
            case (byte)'0':
                Pop();
                break;
            case (byte)'1':
                PopMark();
                break;
            case (byte)'2':
                Push(Peek());
                break;
            case (byte)'N':
                Push(null);
                break;
            case 0x88:
                Push(true);
                break;
            case 0x89:
                Push(false);
                break;
            case (byte)'I':
                Push(ParseIntLine(ReadLine()));
                break;
            case (byte)'L':
                Push(ParseLong(ReadLine().TrimEnd('L')));
                break;
            case (byte)'J':
                Push((long)BinaryPrimitives.ReadInt32LittleEndian(Take(4)));
                break;
            case (byte)'K':
                Push((long)ReadByte());
                break;
            case (byte)'M':
                Push((long)BinaryPrimitives.ReadUInt16LittleEndian(Take(2)));
                break;
            case 0x8a: // LONG1
                Push(ReadLittleEndianLong(ReadByte()));
                break;
            case 0x8b: // LONG4
                Push(ReadLittleEndianLong(ReadLength(4)));
                break;
            case (byte)'G':
                Push(BinaryPrimitives.ReadDoubleBigEndian(Take(8)));
                break;
            case (byte)'F':
                Push(double.Parse(ReadLine(), NumberStyles.Float, CultureInfo.InvariantCulture));
                break;
            case (byte)'X':
                Push(Encoding.UTF8.GetString(Take(ReadLength(4))));
                break;
            case 0x8c: // SHORT_BINUNICODE
                Push(Encoding.UTF8.GetString(Take(ReadByte())));
                break;
            case 0x8d: // BINUNICODE8
                Push(Encoding.UTF8.GetString(Take(ReadLength(8))));
                break;
            case (byte)'T': // BINSTRING (Python 2 str): latin-1 text
                Push(Encoding.Latin1.GetString(Take(ReadLength(4))));
                break;
            case (byte)'U':
                Push(Encoding.Latin1.GetString(Take(ReadByte())));
                break;
            case (byte)'B':
                Push(Take(ReadLength(4)).ToArray());
                break;
            case (byte)'C':
                Push(Take(ReadByte()).ToArray());
                break;
            case 0x8e: // BINBYTES8
                Push(Take(ReadLength(8)).ToArray());
                break;
            case (byte)')':
                Push(new PyTuple([]));
                break;
            case (byte)'t':
                Push(new PyTuple(PopMark()));
                break;
            case 0x85:
                Push(new PyTuple([Pop()]));
                break;
            case 0x86:
            {
                object? b = Pop(), a = Pop();
                Push(new PyTuple([a, b]));
                break;
            }

            case 0x87:
            {
                object? c = Pop(), b = Pop(), a = Pop();
                Push(new PyTuple([a, b, c]));
                break;
            }

            case (byte)']':
                Push(new List<object?>());
                break;
            case (byte)'l':
                Push(PopMark());
                break;
            case (byte)'a':
            {
                object? item = Pop();
                AsList(Peek()).Add(item);
                break;
            }

            case (byte)'e':
            {
                List<object?> items = PopMark();
                AsList(Peek()).AddRange(items);
                break;
            }

            case (byte)'}':
                Push(new PyDict());
                break;
            case (byte)'d':
                Push(ToDict(PopMark(), new PyDict()));
                break;
            case (byte)'s':
            {
                object? value = Pop(), key = Pop();
                AsDict(Peek()).Set(Hashable(key), value);
                break;
            }

            case (byte)'u':
            {
                List<object?> items = PopMark();
                ToDict(items, AsDict(Peek()));
                break;
            }

            case (byte)'c':
            {
                string module = ReadLine();
                string name = ReadLine();
                Push(Global(module, name));
                break;
            }

            case 0x93: // STACK_GLOBAL
            {
                object? name = Pop(), module = Pop();
                if (module is not string m || name is not string n)
                {
                    throw Fail("STACK_GLOBAL needs two strings");
                }

                Push(Global(m, n));
                break;
            }

            case (byte)'R':
            {
                object? args = Pop();
                object? callable = Pop();
                Push(Reduce(callable, args as PyTuple ?? throw Fail("REDUCE arguments are not a tuple")));
                break;
            }

            case (byte)'b':
            {
                object? state = Pop();
                Build(Peek(), state);
                break;
            }

            case 0x81: // NEWOBJ
            case 0x92: // NEWOBJ_EX
                throw Fail($"NEWOBJ of {Describe(op == 0x92 ? stack.ElementAtOrDefault(stack.Count - 3) : stack.ElementAtOrDefault(stack.Count - 2))} is refused (not something torch.save writes for a checkpoint)");
            case (byte)'i': // INST: names a class inline
            {
                string module = ReadLine();
                string name = ReadLine();
                throw Fail($"the pickle instantiates {module}.{name}: refused, only the globals a PyTorch checkpoint needs are allowed");
            }

            case (byte)'o':
                throw Fail("the OBJ opcode is refused");
            case (byte)'Q':
            {
                object? pid = Pop();
                Push(persistentLoad(pid as PyTuple ?? throw Fail("a persistent id that is not a tuple")));
                break;
            }

            case (byte)'P':
                throw Fail("a text persistent id (protocol 0) is not what torch.save writes");
            case (byte)'q':
                Memoize(ReadByte());
                break;
            case (byte)'r':
                Memoize(BinaryPrimitives.ReadUInt32LittleEndian(Take(4)));
                break;
            case (byte)'p':
                Memoize(ParseLong(ReadLine()));
                break;
            case 0x94: // MEMOIZE
                Memoize(memo.Count);
                break;
            case (byte)'h':
                Push(Recall(ReadByte()));
                break;
            case (byte)'j':
                Push(Recall(BinaryPrimitives.ReadUInt32LittleEndian(Take(4))));
                break;
            case (byte)'g':
                Push(Recall(ParseLong(ReadLine())));
                break;
            case 0x8f: // EMPTY_SET
            case 0x90: // ADDITEMS
            case 0x91: // FROZENSET
                throw Fail("sets are not part of a PyTorch checkpoint");
            default:
                throw Fail($"unknown or unsupported pickle opcode 0x{op:x2}");
        }
    }

    private static PyGlobal Global(string module, string name)
    {
        string full = $"{module}.{name}";
        if (module == "torch" && StorageTypes.ContainsKey(name))
        {
            return new PyGlobal(module, name);
        }

        if (!AllowedGlobals.Contains(full))
        {
            throw new NnUnetFormatException($"the checkpoint's pickle calls {full}: refused and not executed (a checkpoint may only use the few globals torch.save writes for tensors, numpy scalars and devices)");
        }

        return new PyGlobal(module, name);
    }

    private object? Reduce(object? callable, PyTuple args)
    {
        if (callable is not PyGlobal global)
        {
            throw Fail($"REDUCE on {Describe(callable)}, not an allowed global");
        }

        switch (global.FullName)
        {
            case "collections.OrderedDict":
                if (args.Count != 0)
                {
                    throw Fail("OrderedDict with arguments");
                }

                return new PyDict();
            case "torch._utils._rebuild_tensor_v2":
                return RebuildTensor(args);
            case "torch.device":
                return args.Count switch
                {
                    1 when args[0] is string device => ParseDevice(device),
                    2 when args[0] is string type && args[1] is long index => new TorchDevice(type, index),
                    _ => throw Fail("torch.device with unexpected arguments"),
                };
            case "numpy.dtype":
                return args.Count >= 1 && args[0] is string descriptor
                    ? new PyDtype(descriptor)
                    : throw Fail("numpy.dtype with unexpected arguments");
            case "numpy.core.multiarray.scalar":
            case "numpy._core.multiarray.scalar":
                return NumpyScalar(args);
            case "_codecs.encode":
                if (args.Count != 2 || args[0] is not string text || args[1] is not string encoding || encoding is not ("latin1" or "latin-1" or "iso-8859-1"))
                {
                    throw Fail("_codecs.encode is allowed only for latin1 text (how protocol 2 carries bytes)");
                }

                foreach (char ch in text)
                {
                    if (ch > 0xFF)
                    {
                        throw Fail("_codecs.encode text is not latin1");
                    }
                }

                return Encoding.Latin1.GetBytes(text);
            default:
                throw Fail($"{global.FullName} cannot be called (it only names a storage type)");
        }
    }

    private static TorchDevice ParseDevice(string text)
    {
        int colon = text.IndexOf(':', StringComparison.Ordinal);
        return colon < 0
            ? new TorchDevice(text, null)
            : new TorchDevice(text[..colon], long.Parse(text[(colon + 1)..], NumberStyles.None, CultureInfo.InvariantCulture));
    }

    private TorchTensorRef RebuildTensor(PyTuple args)
    {
        if (args.Count is < 6 or > 7 || args[0] is not TorchStorageRef storage || args[1] is not long offset || args[2] is not PyTuple size || args[3] is not PyTuple stride)
        {
            throw Fail("_rebuild_tensor_v2 with unexpected arguments");
        }

        if (size.Count != stride.Count || size.Count > limits.MaxTensorDims)
        {
            throw Fail($"a tensor with {size.Count} sizes and {stride.Count} strides");
        }

        long[] sizes = new long[size.Count], strides = new long[size.Count];
        for (int i = 0; i < sizes.Length; i++)
        {
            sizes[i] = size[i] is long s && s >= 0 ? s : throw Fail("a tensor size that is not a non-negative integer");
            strides[i] = stride[i] is long t && t >= 0 ? t : throw Fail("a tensor stride that is not a non-negative integer");
        }

        var tensor = new TorchTensorRef(storage, offset, sizes, strides);
        CheckBounds(tensor);
        return tensor;
    }

    /// <summary>Refuses a view whose offset and strides reach past its storage (checked arithmetic throughout).</summary>
    private static void CheckBounds(TorchTensorRef tensor)
    {
        if (tensor.Offset < 0)
        {
            throw new NnUnetFormatException($"a tensor {tensor.ShapeText} starts at a negative offset in storage {tensor.Storage.Key}");
        }

        try
        {
            long last = tensor.Offset;
            long count = 1;
            for (int i = 0; i < tensor.Size.Length; i++)
            {
                count = checked(count * tensor.Size[i]);
                if (tensor.Size[i] > 0)
                {
                    last = checked(last + checked((tensor.Size[i] - 1) * tensor.Stride[i]));
                }
            }

            if (count > 0 && last >= tensor.Storage.Numel)
            {
                throw new NnUnetFormatException($"a tensor {tensor.ShapeText} at offset {tensor.Offset} with strides [{string.Join(", ", tensor.Stride)}] runs past its storage {tensor.Storage.Key} of {tensor.Storage.Numel} elements");
            }
        }
        catch (OverflowException)
        {
            throw new NnUnetFormatException($"a tensor {tensor.ShapeText} whose sizes and strides overflow");
        }
    }

    private object NumpyScalar(PyTuple args)
    {
        if (args.Count != 2 || args[0] is not PyDtype dtype || args[1] is not byte[] bytes)
        {
            throw Fail("numpy scalar with unexpected arguments");
        }

        if (dtype.ByteOrder == '>')
        {
            throw Fail("big-endian numpy scalars are not supported");
        }

        ReadOnlySpan<byte> b = bytes;
        object? value = dtype.Descriptor switch
        {
            "f8" when b.Length == 8 => BinaryPrimitives.ReadDoubleLittleEndian(b),
            "f4" when b.Length == 4 => (double)BinaryPrimitives.ReadSingleLittleEndian(b),
            "f2" when b.Length == 2 => (double)BinaryPrimitives.ReadHalfLittleEndian(b),
            "i8" when b.Length == 8 => BinaryPrimitives.ReadInt64LittleEndian(b),
            "i4" when b.Length == 4 => (long)BinaryPrimitives.ReadInt32LittleEndian(b),
            "i2" when b.Length == 2 => (long)BinaryPrimitives.ReadInt16LittleEndian(b),
            "i1" when b.Length == 1 => (long)(sbyte)b[0],
            "u1" when b.Length == 1 => (long)b[0],
            "u2" when b.Length == 2 => (long)BinaryPrimitives.ReadUInt16LittleEndian(b),
            "u4" when b.Length == 4 => (long)BinaryPrimitives.ReadUInt32LittleEndian(b),
            "b1" when b.Length == 1 => b[0] != 0,
            _ => null,
        };
        return value ?? throw Fail($"a numpy scalar of dtype '{dtype.Descriptor}' with {b.Length} bytes is not supported");
    }

    private void Build(object? target, object? state)
    {
        switch (target)
        {
            case PyDtype dtype:
                // numpy.dtype.__setstate__: (version, byteorder, subarray, names, fields, elsize, alignment, flags).
                if (state is PyTuple { Count: >= 2 } tuple && tuple[1] is string order && order.Length == 1)
                {
                    dtype.ByteOrder = order[0];
                }

                break;
            case PyDict:
                // An OrderedDict's instance attributes (a state_dict's _metadata): not items, and
                // never a reason to drop the items already set.
                break;
            default:
                throw Fail($"BUILD on {Describe(target)} is refused");
        }
    }

    private static object? Hashable(object? key) => key switch
    {
        null or string or long or bool or double or PyTuple => key,
        _ => throw new NnUnetFormatException($"a dict key of type {Describe(key)}"),
    };

    private static PyDict ToDict(List<object?> items, PyDict dict)
    {
        if (items.Count % 2 != 0)
        {
            throw new NnUnetFormatException("a dict built from an odd number of values");
        }

        for (int i = 0; i < items.Count; i += 2)
        {
            dict.Set(Hashable(items[i]), items[i + 1]);
        }

        return dict;
    }

    private List<object?> AsList(object? value) => value as List<object?> ?? throw Fail($"APPEND to {Describe(value)}, not a list");

    private PyDict AsDict(object? value) => value as PyDict ?? throw Fail($"SETITEM on {Describe(value)}, not a dict");

    private static string Describe(object? value) => value switch
    {
        null => "None",
        PyGlobal g => g.FullName,
        _ => value.GetType().Name,
    };

    private void Memoize(long index)
    {
        if (index < 0 || (memo.Count >= limits.MaxMemoEntries && !memo.ContainsKey(index)))
        {
            throw Fail($"more than {limits.MaxMemoEntries} memo entries");
        }

        memo[index] = Peek();
    }

    private object? Recall(long index) => memo.TryGetValue(index, out object? value) ? value : throw Fail($"memo entry {index} is read before it is written");

    private void Push(object? value) => stack.Add(value);

    private object? Pop()
    {
        if (stack.Count == 0 || (marks.Count > 0 && marks.Peek() == stack.Count))
        {
            throw Fail("the pickle pops an empty stack");
        }

        object? value = stack[^1];
        stack.RemoveAt(stack.Count - 1);
        return value;
    }

    private object? Peek() => stack.Count > 0 ? stack[^1] : throw Fail("the pickle reads an empty stack");

    private List<object?> PopMark()
    {
        if (marks.Count == 0)
        {
            throw Fail("the pickle closes a MARK it never opened");
        }

        int at = marks.Pop();
        List<object?> items = stack.GetRange(at, stack.Count - at);
        stack.RemoveRange(at, stack.Count - at);
        return items;
    }

    private int ReadByte() => position < data.Length ? data[position++] : throw Fail("the pickle is truncated");

    private ReadOnlySpan<byte> Take(long count)
    {
        if (count < 0 || count > data.Length - position)
        {
            throw Fail($"the pickle asks for {count} bytes past its end (truncated or lying length)");
        }

        ReadOnlySpan<byte> span = data.AsSpan(position, (int)count);
        position += (int)count;
        return span;
    }

    private void Skip(int count) => _ = Take(count);

    private long ReadLength(int width)
    {
        ReadOnlySpan<byte> bytes = Take(width);
        long length = width == 4 ? BinaryPrimitives.ReadUInt32LittleEndian(bytes) : BinaryPrimitives.ReadInt64LittleEndian(bytes);
        return length >= 0 && length <= data.Length - position ? length : throw Fail($"a length of {length} bytes runs past the pickle's end");
    }

    private long ReadLittleEndianLong(long byteCount)
    {
        if (byteCount > 8)
        {
            throw Fail($"an integer of {byteCount} bytes is larger than a checkpoint needs");
        }

        ReadOnlySpan<byte> bytes = Take(byteCount);
        if (bytes.Length == 0)
        {
            return 0;
        }

        Span<byte> buffer = stackalloc byte[8];
        buffer.Fill((bytes[^1] & 0x80) != 0 ? (byte)0xFF : (byte)0);
        bytes.CopyTo(buffer);
        return BinaryPrimitives.ReadInt64LittleEndian(buffer);
    }

    private string ReadLine()
    {
        int end = Array.IndexOf(data, (byte)'\n', position);
        if (end < 0 || end - position > 4096)
        {
            throw Fail("a text line in the pickle has no end");
        }

        string line = Encoding.ASCII.GetString(data, position, end - position);
        position = end + 1;
        return line;
    }

    private object ParseIntLine(string text) => text switch
    {
        "01" => true,
        "00" => false,
        _ => ParseLong(text),
    };

    private long ParseLong(string text) => long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long value)
        ? value
        : throw Fail($"'{(text.Length > 30 ? text[..30] : text)}' is not an integer the reader supports");

    private NnUnetFormatException Fail(string problem) => new($"{problem} (pickle offset {position})");
}
