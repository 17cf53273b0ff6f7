using Google.Protobuf;

namespace KneeWeb.Inference.ModelBuilding;

/// <summary>An ONNX node attribute (AttributeProto) of one of the kinds KneeWeb's builders use.</summary>
public sealed class OnnxAttr
{
    private OnnxAttr(string name, int type)
    {
        Name = name;
        Type = type;
    }

    public string Name { get; }

    // AttributeProto.AttributeType: FLOAT = 1, INT = 2, STRING = 3, FLOATS = 6, INTS = 7.
    internal int Type { get; }

    internal float FloatValue { get; private init; }

    internal long IntValue { get; private init; }

    internal string? StringValue { get; private init; }

    internal float[]? FloatsValue { get; private init; }

    internal long[]? IntsValue { get; private init; }

    public static OnnxAttr Float(string name, float value) => new(name, 1) { FloatValue = value };

    public static OnnxAttr Int(string name, long value) => new(name, 2) { IntValue = value };

    public static OnnxAttr String(string name, string value) => new(name, 3) { StringValue = value };

    public static OnnxAttr Floats(string name, params float[] values) => new(name, 6) { FloatsValue = values };

    public static OnnxAttr Ints(string name, params long[] values) => new(name, 7) { IntsValue = values };
}

/// <summary>
/// Writes an ONNX model (ModelProto) in protobuf wire format, field by field, with Google.Protobuf's
/// CodedOutputStream: no generated classes are needed for the small part of onnx.proto a model
/// file uses. Dimensions are numbers, or null for a dynamic one (written as a named dim_param).
/// </summary>
public sealed class OnnxGraphBuilder
{
    /// <summary>TensorProto.DataType FLOAT.</summary>
    public const int FloatType = 1;

    private readonly List<(string Name, int ElementType, object?[] Dims)> inputs = [];
    private readonly List<(string Name, int ElementType, object?[] Dims)> outputs = [];
    private readonly List<(string Name, long[] Dims, float[] Data)> initializers = [];
    private readonly List<(string Name, long[] Dims, long[] Data)> int64Initializers = [];
    private readonly List<(string OpType, string[] Inputs, string[] Outputs, string Name, OnnxAttr[] Attributes)> nodes = [];
    private readonly List<KeyValuePair<string, string>> metadata = [];
    private int nameCounter;

    public OnnxGraphBuilder(string graphName, long opsetVersion = 17, long irVersion = 8)
    {
        GraphName = graphName;
        OpsetVersion = opsetVersion;
        IrVersion = irVersion;
    }

    public string GraphName { get; }

    public long OpsetVersion { get; }

    public long IrVersion { get; }

    public string ProducerName { get; set; } = "KneeWeb";

    public string ProducerVersion { get; set; } = "1";

    public string DocString { get; set; } = string.Empty;

    public long ParameterCount { get; private set; }

    /// <summary>A fresh unique tensor name with the given prefix.</summary>
    public string NewName(string prefix) => $"{prefix}_{nameCounter++}";

    /// <summary>Declares a graph input; a dimension is a long, a string (symbolic) or null (dynamic).</summary>
    public void AddInput(string name, params object?[] dims) => inputs.Add((name, FloatType, dims));

    public void AddOutput(string name, params object?[] dims) => outputs.Add((name, FloatType, dims));

    public void AddMetadata(string key, string value) => metadata.Add(new(key, value));

    public string AddInitializer(string name, float[] data, params long[] dims)
    {
        ArgumentNullException.ThrowIfNull(data);
        CheckElementCount(name, data.Length, dims, nameof(data));

        initializers.Add((name, dims, data));
        ParameterCount += data.Length;
        return name;
    }

    private static void CheckElementCount(string name, int length, long[] dims, string paramName)
    {
        long count = 1;
        foreach (long d in dims)
        {
            count *= d;
        }

        if (count != length)
        {
            throw new ArgumentException($"Initializer {name} has {length} values for dims [{string.Join(',', dims)}].", paramName);
        }
    }

    /// <summary>An int64 constant (shapes, axes: Unsqueeze, Reshape, ReduceSum since opset 13 take them as inputs).</summary>
    public string AddInt64Initializer(string name, long[] data, params long[] dims)
    {
        ArgumentNullException.ThrowIfNull(data);
        CheckElementCount(name, data.Length, dims, nameof(data));

        int64Initializers.Add((name, dims, data));
        return name;
    }

    /// <summary>Matrix product (numpy matmul semantics); returns the output name.</summary>
    public string MatMul(string a, string b) => Add("MatMul", [a, b]);

    /// <summary>Elementwise ops with numpy broadcasting; each returns the output name.</summary>
    public string Mul(string a, string b) => Add("Mul", [a, b]);

    public string AddTensors(string a, string b) => Add("Add", [a, b]);

    public string Sub(string a, string b) => Add("Sub", [a, b]);

    /// <summary>Transpose with the default permutation (reversed axes).</summary>
    public string Transpose(string a) => Add("Transpose", [a]);

    /// <summary>Sign (-1, 0, 1): the derivative of |x|, and of ReLU when applied to ReLU's output.</summary>
    public string Sign(string a) => Add("Sign", [a]);

    public string Relu(string a) => Add("Relu", [a]);

    public string Abs(string a) => Add("Abs", [a]);

    /// <summary>ReduceMean over the given axes (all when none), as an attribute (opset up to 17).</summary>
    public string ReduceMean(string a, bool keepDims, params long[] axes) => axes.Length == 0
        ? Add("ReduceMean", [a], OnnxAttr.Int("keepdims", keepDims ? 1 : 0))
        : Add("ReduceMean", [a], OnnxAttr.Ints("axes", axes), OnnxAttr.Int("keepdims", keepDims ? 1 : 0));

    /// <summary>Adds a node; returns its (first) output name.</summary>
    public string AddNode(string opType, string[] nodeInputs, string[] nodeOutputs, params OnnxAttr[] attributes)
    {
        ArgumentNullException.ThrowIfNull(nodeOutputs);
        nodes.Add((opType, nodeInputs, nodeOutputs, NewName(opType), attributes));
        return nodeOutputs[0];
    }

    /// <summary>Adds a one-output node with a generated output name.</summary>
    public string Add(string opType, string[] nodeInputs, params OnnxAttr[] attributes) =>
        AddNode(opType, nodeInputs, [NewName(opType.ToLowerInvariant())], attributes);

    public byte[] ToBytes()
    {
        using var stream = new MemoryStream();
        WriteTo(stream);
        return stream.ToArray();
    }

    public void Save(string path)
    {
        string? directory = Path.GetDirectoryName(Path.GetFullPath(path));
        if (directory is not null)
        {
            Directory.CreateDirectory(directory);
        }

        // Written beside and renamed, so a reader never sees half a model.
        string temporary = path + ".tmp";
        using (FileStream file = File.Create(temporary))
        {
            WriteTo(file);
        }

        File.Move(temporary, path, overwrite: true);
    }

    public void WriteTo(Stream stream)
    {
        var output = new CodedOutputStream(stream, leaveOpen: true);
        // ModelProto: ir_version = 1, producer_name = 2, producer_version = 3, doc_string = 6,
        // graph = 7, opset_import = 8, metadata_props = 14.
        output.WriteTag(1, WireFormat.WireType.Varint);
        output.WriteInt64(IrVersion);
        WriteString(output, 2, ProducerName);
        WriteString(output, 3, ProducerVersion);
        if (DocString.Length > 0)
        {
            WriteString(output, 6, DocString);
        }

        WriteMessage(output, 8, o =>
        {
            WriteString(o, 1, string.Empty); // OperatorSetIdProto.domain "" = ai.onnx
            o.WriteTag(2, WireFormat.WireType.Varint);
            o.WriteInt64(OpsetVersion);
        });
        foreach (KeyValuePair<string, string> entry in metadata)
        {
            WriteMessage(output, 14, o =>
            {
                WriteString(o, 1, entry.Key);
                WriteString(o, 2, entry.Value);
            });
        }

        output.Flush();
        // The graph carries the weights: write it straight to the stream rather than through a buffer copy.
        WriteGraph(output);
        output.Flush();
    }

    private void WriteGraph(CodedOutputStream output)
    {
        byte[] graph = Serialize(o =>
        {
            // GraphProto: node = 1, name = 2, initializer = 5, input = 11, output = 12.
            foreach (var node in nodes)
            {
                WriteMessage(o, 1, n => WriteNode(n, node.OpType, node.Inputs, node.Outputs, node.Name, node.Attributes));
            }

            WriteString(o, 2, GraphName);
            foreach (var initializer in initializers)
            {
                WriteMessage(o, 5, t => WriteTensor(t, initializer.Name, initializer.Dims, initializer.Data));
            }

            foreach (var initializer in int64Initializers)
            {
                WriteMessage(o, 5, t => WriteInt64Tensor(t, initializer.Name, initializer.Dims, initializer.Data));
            }

            foreach (var input in inputs)
            {
                WriteMessage(o, 11, v => WriteValueInfo(v, input.Name, input.ElementType, input.Dims));
            }

            foreach (var graphOutput in outputs)
            {
                WriteMessage(o, 12, v => WriteValueInfo(v, graphOutput.Name, graphOutput.ElementType, graphOutput.Dims));
            }
        });
        output.WriteTag(7, WireFormat.WireType.LengthDelimited);
        output.WriteBytes(UnsafeByteOperations.UnsafeWrap(graph));
    }

    private static void WriteNode(CodedOutputStream o, string opType, string[] nodeInputs, string[] nodeOutputs, string name, OnnxAttr[] attributes)
    {
        // NodeProto: input = 1, output = 2, name = 3, op_type = 4, attribute = 5.
        foreach (string input in nodeInputs)
        {
            WriteString(o, 1, input);
        }

        foreach (string output in nodeOutputs)
        {
            WriteString(o, 2, output);
        }

        WriteString(o, 3, name);
        WriteString(o, 4, opType);
        foreach (OnnxAttr attribute in attributes)
        {
            WriteMessage(o, 5, a => WriteAttribute(a, attribute));
        }
    }

    private static void WriteAttribute(CodedOutputStream o, OnnxAttr attribute)
    {
        // AttributeProto: name = 1, f = 2, i = 3, s = 4, floats = 7, ints = 8, type = 20.
        WriteString(o, 1, attribute.Name);
        switch (attribute.Type)
        {
            case 1:
                o.WriteTag(2, WireFormat.WireType.Fixed32);
                o.WriteFloat(attribute.FloatValue);
                break;
            case 2:
                o.WriteTag(3, WireFormat.WireType.Varint);
                o.WriteInt64(attribute.IntValue);
                break;
            case 3:
                o.WriteTag(4, WireFormat.WireType.LengthDelimited);
                o.WriteBytes(ByteString.CopyFromUtf8(attribute.StringValue!));
                break;
            case 6:
                foreach (float f in attribute.FloatsValue!)
                {
                    o.WriteTag(7, WireFormat.WireType.Fixed32);
                    o.WriteFloat(f);
                }

                break;
            case 7:
                foreach (long i in attribute.IntsValue!)
                {
                    o.WriteTag(8, WireFormat.WireType.Varint);
                    o.WriteInt64(i);
                }

                break;
            default:
                throw new InvalidOperationException($"Attribute type {attribute.Type} is not written by this builder.");
        }

        o.WriteTag(20, WireFormat.WireType.Varint);
        o.WriteInt32(attribute.Type);
    }

    private static void WriteTensor(CodedOutputStream o, string name, long[] dims, float[] data)
    {
        // TensorProto: dims = 1, data_type = 2, name = 8, raw_data = 9 (little-endian values).
        foreach (long d in dims)
        {
            o.WriteTag(1, WireFormat.WireType.Varint);
            o.WriteInt64(d);
        }

        o.WriteTag(2, WireFormat.WireType.Varint);
        o.WriteInt32(FloatType);
        WriteString(o, 8, name);
        if (!BitConverter.IsLittleEndian)
        {
            throw new PlatformNotSupportedException("ONNX raw_data is little-endian; this builder writes it on little-endian machines only.");
        }

        byte[] bytes = System.Runtime.InteropServices.MemoryMarshal.AsBytes(data.AsSpan()).ToArray();
        o.WriteTag(9, WireFormat.WireType.LengthDelimited);
        o.WriteBytes(UnsafeByteOperations.UnsafeWrap(bytes));
    }

    private static void WriteInt64Tensor(CodedOutputStream o, string name, long[] dims, long[] data)
    {
        // TensorProto: dims = 1, data_type = 2 (7 = INT64), int64_data = 7 (packed), name = 8.
        foreach (long d in dims)
        {
            o.WriteTag(1, WireFormat.WireType.Varint);
            o.WriteInt64(d);
        }

        o.WriteTag(2, WireFormat.WireType.Varint);
        o.WriteInt32(7);
        foreach (long value in data)
        {
            o.WriteTag(7, WireFormat.WireType.Varint);
            o.WriteInt64(value);
        }

        WriteString(o, 8, name);
    }

    private static void WriteValueInfo(CodedOutputStream o, string name, int elementType, object?[] dims)
    {
        // ValueInfoProto: name = 1, type = 2; TypeProto.tensor_type = 1; Tensor: elem_type = 1, shape = 2;
        // TensorShapeProto.dim = 1; Dimension: dim_value = 1, dim_param = 2.
        WriteString(o, 1, name);
        WriteMessage(o, 2, type => WriteMessage(type, 1, tensor =>
        {
            tensor.WriteTag(1, WireFormat.WireType.Varint);
            tensor.WriteInt32(elementType);
            WriteMessage(tensor, 2, shape =>
            {
                int dynamicIndex = 0;
                foreach (object? dim in dims)
                {
                    WriteMessage(shape, 1, d =>
                    {
                        switch (dim)
                        {
                            case long value:
                                d.WriteTag(1, WireFormat.WireType.Varint);
                                d.WriteInt64(value);
                                break;
                            case int value:
                                d.WriteTag(1, WireFormat.WireType.Varint);
                                d.WriteInt64(value);
                                break;
                            case string symbol:
                                WriteString(d, 2, symbol);
                                break;
                            default:
                                WriteString(d, 2, $"{name}_dim{dynamicIndex++}");
                                break;
                        }
                    });
                }
            });
        }));
    }

    private static void WriteString(CodedOutputStream o, int field, string value)
    {
        o.WriteTag(field, WireFormat.WireType.LengthDelimited);
        o.WriteString(value);
    }

    private static void WriteMessage(CodedOutputStream o, int field, Action<CodedOutputStream> write)
    {
        byte[] body = Serialize(write);
        o.WriteTag(field, WireFormat.WireType.LengthDelimited);
        o.WriteBytes(UnsafeByteOperations.UnsafeWrap(body));
    }

    private static byte[] Serialize(Action<CodedOutputStream> write)
    {
        using var stream = new MemoryStream();
        var o = new CodedOutputStream(stream, leaveOpen: true);
        write(o);
        o.Flush();
        return stream.ToArray();
    }
}
