using Microsoft.ML.OnnxRuntime;
using Ort = Microsoft.ML.OnnxRuntime;

namespace KneeWeb.Inference;

/// <summary>Which execution provider a session should use.</summary>
public enum ExecutionProviderPreference
{
    /// <summary>CUDA where the GPU build is installed and CUDA loads, otherwise the CPU (with the reason noted).</summary>
    Auto,
    Cpu,

    /// <summary>CUDA; where it cannot be used (CPU build, CUDA 13 or cuDNN 9 missing) the CPU, with the reason noted.</summary>
    Cuda,
}

/// <summary>How a session is created (kept apart from the run loop).</summary>
public sealed record OrtSessionSettings
{
    public ExecutionProviderPreference Provider { get; init; } = ExecutionProviderPreference.Auto;

    /// <summary>Threads inside one operator; 0 lets the runtime choose (one per core).</summary>
    public int IntraOpThreads { get; init; }

    /// <summary>Threads across operators; 0 lets the runtime choose.</summary>
    public int InterOpThreads { get; init; }

    public GraphOptimization Optimization { get; init; } = GraphOptimization.All;

    public int CudaDeviceId { get; init; }
}

/// <summary>Name, element type and shape of a model input or output (-1 for a dynamic dimension).</summary>
public sealed record OrtTensorInfo(string Name, OnnxValueType ValueType, OnnxElementType ElementType, long[] Shape, string[] SymbolicDimensions)
{
    public override string ToString() => $"{Name}: {ElementType}[{string.Join(',', Shape)}]";
}

/// <summary>
/// One loaded ONNX model (an InferenceSession of the official package) on one execution provider.
/// Runs are thread-safe, as the runtime's are. Inputs and outputs are float tensors over pinned
/// managed arrays, so data crosses into the runtime without a copy. Every failure of the runtime
/// leaves here as an <see cref="OrtException"/>, and a cancelled token terminates a run in flight.
/// </summary>
public sealed class OrtSession : IDisposable
{
    private readonly InferenceSession session;
    private readonly string[] inputNames;
    private readonly string[][] outputNamePrefixes; // [n] = the first n output names, for runs that want fewer outputs

    private OrtSession(OrtRuntime runtime, InferenceSession session, InferenceProvider provider, string? providerNote, string modelPath)
    {
        Runtime = runtime;
        this.session = session;
        ExecutionProvider = provider;
        ProviderNote = providerNote;
        ModelPath = modelPath;
        Inputs = ReadInfos(session.InputNames, session.InputMetadata);
        Outputs = ReadInfos(session.OutputNames, session.OutputMetadata);
        inputNames = [.. session.InputNames];
        outputNamePrefixes = new string[Outputs.Count + 1][];
        for (int n = 0; n <= Outputs.Count; n++)
        {
            outputNamePrefixes[n] = [.. session.OutputNames.Take(n)];
        }
    }

    public OrtRuntime Runtime { get; }

    public string ModelPath { get; }

    /// <summary>The provider this session runs on.</summary>
    public InferenceProvider ExecutionProvider { get; }

    /// <summary>Why the session is not on the provider that was asked for (e.g. CUDA library missing), or null.</summary>
    public string? ProviderNote { get; }

    public IReadOnlyList<OrtTensorInfo> Inputs { get; }

    public IReadOnlyList<OrtTensorInfo> Outputs { get; }

    /// <summary>Loads a model file on the provider the settings ask for.</summary>
    /// <exception cref="OrtException">The runtime rejected the model.</exception>
    public static OrtSession Create(OrtRuntime runtime, string modelPath, OrtSessionSettings? settings = null)
    {
        ArgumentNullException.ThrowIfNull(runtime);
        ArgumentNullException.ThrowIfNull(modelPath);
        settings ??= new OrtSessionSettings();
        if (!File.Exists(modelPath))
        {
            throw new FileNotFoundException($"Model file not found: {modelPath}", modelPath);
        }

        using var options = new Ort.SessionOptions
        {
            GraphOptimizationLevel = (GraphOptimizationLevel)(int)settings.Optimization,
            IntraOpNumThreads = settings.IntraOpThreads,
            InterOpNumThreads = settings.InterOpThreads,
            LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR,
        };
        (InferenceProvider provider, string? note) = ChooseProvider(runtime, options, settings);
        InferenceSession inferenceSession;
        try
        {
            inferenceSession = new InferenceSession(Path.GetFullPath(modelPath), options);
        }
        catch (OnnxRuntimeException e)
        {
            throw OrtErrors.Translate(e);
        }

        try
        {
            return new OrtSession(runtime, inferenceSession, provider, note, modelPath);
        }
        catch
        {
            inferenceSession.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Runs the model: every input bound in order, outputs written into preallocated tensors whose
    /// shapes match what the model produces. A cancelled token terminates the native run.
    /// </summary>
    /// <exception cref="OperationCanceledException">The token was cancelled before or during the run.</exception>
    /// <exception cref="OrtException">The run failed.</exception>
    public void Run(IReadOnlyList<OrtFloatTensor> inputs, IReadOnlyList<OrtFloatTensor> outputs, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        ArgumentNullException.ThrowIfNull(outputs);
        if (inputs.Count != Inputs.Count || outputs.Count == 0 || outputs.Count > Outputs.Count)
        {
            throw new ArgumentException($"The model takes {Inputs.Count} input(s) and gives {Outputs.Count} output(s); got {inputs.Count} and {outputs.Count}.");
        }

        var inputValues = new OrtValue[inputs.Count];
        for (int i = 0; i < inputs.Count; i++)
        {
            inputValues[i] = inputs[i].Value;
        }

        var outputValues = new OrtValue[outputs.Count];
        for (int i = 0; i < outputs.Count; i++)
        {
            outputValues[i] = outputs[i].Value;
        }

        string[] outputNames = outputNamePrefixes[outputs.Count];
        RunGuarded(runOptions => session.Run(runOptions, inputNames, inputValues, outputNames, outputValues), cancellationToken);
    }

    /// <summary>Runs a one-input model and returns its first output in a new array (for outputs of unknown shape).</summary>
    /// <exception cref="OperationCanceledException">The token was cancelled before or during the run.</exception>
    /// <exception cref="OrtException">The run failed, or the output is not a float tensor.</exception>
    public float[] Run(OrtFloatTensor input, out long[] outputShape, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(input);
        if (Inputs.Count != 1)
        {
            throw new ArgumentException($"The model takes {Inputs.Count} inputs.", nameof(input));
        }

        OrtValue[] inputValues = [input.Value];
        string[] outputNames = outputNamePrefixes[1];
        long[] shape = [];
        float[] result = [];
        RunGuarded(
            runOptions =>
            {
                using IDisposableReadOnlyCollection<OrtValue> results = session.Run(runOptions, inputNames, inputValues, outputNames);
                result = CopyFloatTensor(results[0], out shape);
            },
            cancellationToken);
        outputShape = shape;
        return result;
    }

    public void Dispose() => session.Dispose();

    /// <summary>
    /// One run with its own RunOptions, whose Terminate flag the token sets: the runtime checks it
    /// between operators and stops with an error, which becomes the cancellation the caller asked for.
    /// </summary>
    private static void RunGuarded(Action<RunOptions> run, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        using var runOptions = new RunOptions();

        // Disposing the registration waits for a callback in flight, so the options outlive it.
        using CancellationTokenRegistration registration = cancellationToken.CanBeCanceled
            ? cancellationToken.Register(static state => Terminate((RunOptions)state!), runOptions)
            : default;
        try
        {
            run(runOptions);
        }
        catch (OnnxRuntimeException e) when (cancellationToken.IsCancellationRequested)
        {
            throw new OperationCanceledException("The model run was terminated.", e, cancellationToken);
        }
        catch (OnnxRuntimeException e)
        {
            throw OrtErrors.Translate(e);
        }

        // A cancel that arrived after the runtime's last terminate check still cancels: the caller
        // asked to stop, so the result is not handed out as if nothing happened.
        cancellationToken.ThrowIfCancellationRequested();
    }

    private static void Terminate(RunOptions runOptions) => runOptions.Terminate = true;

    /// <summary>
    /// Adds CUDA unless the CPU is asked for. Where CUDA cannot be used the session runs on the CPU
    /// and <see cref="ProviderNote"/> says why, which the predictor records among its fallbacks
    /// (stats.json): the CPU build has no CUDA provider; the GPU build on a machine without CUDA 13
    /// or cuDNN 9 fails to add it with a catchable error naming the missing library.
    /// </summary>
    private static (InferenceProvider Provider, string? Note) ChooseProvider(OrtRuntime runtime, Ort.SessionOptions options, OrtSessionSettings settings)
    {
        if (settings.Provider == ExecutionProviderPreference.Cpu)
        {
            return (InferenceProvider.Cpu, null);
        }

        if (!runtime.IsCudaProviderPresent)
        {
            return (InferenceProvider.Cpu, $"{OrtRuntime.CudaProviderLibraryName} not installed beside the runtime (this is the CPU build of ONNX Runtime; a GPU server builds KneeWeb with -p:KneeWebOnnxRuntime=gpu): running on CPU.");
        }

        try
        {
            AddCuda(options, settings.CudaDeviceId);
            return (InferenceProvider.Cuda, null);
        }
        catch (OnnxRuntimeException e)
        {
            return (InferenceProvider.Cpu, $"CUDA provider could not be added (it needs CUDA 13 and cuDNN 9), running on CPU: {OrtErrors.Parse(e.Message).Message.Trim()}");
        }
    }

    /// <summary>
    /// Appends the CUDA provider through the versioned options API, which every build serves and
    /// answers with a status (the older exported entry point is absent from the CPU library).
    /// </summary>
    /// <exception cref="OnnxRuntimeException">CUDA cannot be used here; the message names why.</exception>
    internal static void AddCuda(Ort.SessionOptions options, int deviceId)
    {
        using var cuda = new OrtCUDAProviderOptions();
        cuda.UpdateOptions(new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["device_id"] = deviceId.ToString(System.Globalization.CultureInfo.InvariantCulture),
        });
        options.AppendExecutionProvider_CUDA(cuda);
    }

    private static float[] CopyFloatTensor(OrtValue value, out long[] shape)
    {
        OrtTensorTypeAndShapeInfo info = value.GetTensorTypeAndShape();
        if (info.ElementDataType != Ort.Tensors.TensorElementType.Float)
        {
            throw new OrtException(OrtErrorCode.InvalidArgument, $"Output is {info.ElementDataType}, KneeWeb reads float outputs only.");
        }

        shape = info.Shape;
        return value.GetTensorDataAsSpan<float>().ToArray();
    }

    private static List<OrtTensorInfo> ReadInfos(IReadOnlyList<string> names, IReadOnlyDictionary<string, NodeMetadata> metadata)
    {
        var infos = new List<OrtTensorInfo>(names.Count);
        foreach (string name in names)
        {
            NodeMetadata node = metadata[name];
            var valueType = (OnnxValueType)(int)node.OnnxValueType;
            if (!node.IsTensor)
            {
                infos.Add(new OrtTensorInfo(name, valueType, OnnxElementType.Undefined, [], []));
                continue;
            }

            long[] shape = Array.ConvertAll(node.Dimensions, d => (long)d);
            string[] symbolic = node.SymbolicDimensions.Length == shape.Length ? [.. node.SymbolicDimensions] : new string[shape.Length];
            for (int d = 0; d < symbolic.Length; d++)
            {
                symbolic[d] ??= string.Empty;
            }

            infos.Add(new OrtTensorInfo(name, valueType, (OnnxElementType)(int)node.ElementDataType, shape, symbolic));
        }

        return infos;
    }
}

/// <summary>
/// A float32 tensor whose data is a pinned managed array (on the pinned object heap), wrapped
/// by an OrtValue that points straight at it: fill <see cref="Data"/>, run, read it back.
/// </summary>
public sealed class OrtFloatTensor : IDisposable
{
    /// <param name="runtime">The loaded runtime (a tensor cannot exist before it).</param>
    /// <param name="shape">Dimensions in C order.</param>
    public OrtFloatTensor(OrtRuntime runtime, params long[] shape)
    {
        ArgumentNullException.ThrowIfNull(runtime);
        ArgumentNullException.ThrowIfNull(shape);
        long count = 1;
        foreach (long d in shape)
        {
            ArgumentOutOfRangeException.ThrowIfNegative(d, nameof(shape));
            count = checked(count * d);
        }

        Shape = (long[])shape.Clone();
        Data = GC.AllocateArray<float>(checked((int)count), pinned: true);
        try
        {
            Value = OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, new Memory<float>(Data), Shape);
        }
        catch (OnnxRuntimeException e)
        {
            throw OrtErrors.Translate(e);
        }
    }

    public long[] Shape { get; }

    /// <summary>The tensor's elements in C order (last dimension fastest).</summary>
    public float[] Data { get; }

    internal OrtValue Value { get; }

    public void Dispose() => Value.Dispose();
}
