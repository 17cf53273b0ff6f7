using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using KneeWeb.Inference.Native;

namespace KneeWeb.Inference;

/// <summary>Which execution provider a session should use.</summary>
public enum ExecutionProviderPreference
{
    /// <summary>CUDA where its provider library is installed, otherwise the CPU.</summary>
    Auto,
    Cpu,
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
/// One loaded ONNX model (an OrtSession) on one execution provider. Runs are thread-safe, as the
/// C API's are. Inputs and outputs are float tensors over pinned managed arrays, so data crosses
/// into the runtime without a copy.
/// </summary>
public sealed unsafe class OrtSession : IDisposable
{
    private readonly OrtSessionHandle session;
    private readonly byte[] namesUtf8; // pinned: NUL-terminated input names, then output names
    private readonly nint[] inputNamePointers;
    private readonly nint[] outputNamePointers;

    private OrtSession(OrtRuntime runtime, OrtSessionHandle session, string provider, string? providerNote, string modelPath)
    {
        Runtime = runtime;
        this.session = session;
        ExecutionProvider = provider;
        ProviderNote = providerNote;
        ModelPath = modelPath;
        Inputs = ReadInfos(isInput: true);
        Outputs = ReadInfos(isInput: false);

        int total = 0;
        foreach (OrtTensorInfo info in Inputs)
        {
            total += System.Text.Encoding.UTF8.GetByteCount(info.Name) + 1;
        }

        foreach (OrtTensorInfo info in Outputs)
        {
            total += System.Text.Encoding.UTF8.GetByteCount(info.Name) + 1;
        }

        namesUtf8 = GC.AllocateArray<byte>(total, pinned: true);
        inputNamePointers = new nint[Inputs.Count];
        outputNamePointers = new nint[Outputs.Count];
        int offset = 0;
        nint basePointer = (nint)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(namesUtf8));
        for (int i = 0; i < Inputs.Count; i++)
        {
            inputNamePointers[i] = basePointer + offset;
            offset += System.Text.Encoding.UTF8.GetBytes(Inputs[i].Name, namesUtf8.AsSpan(offset)) + 1;
        }

        for (int i = 0; i < Outputs.Count; i++)
        {
            outputNamePointers[i] = basePointer + offset;
            offset += System.Text.Encoding.UTF8.GetBytes(Outputs[i].Name, namesUtf8.AsSpan(offset)) + 1;
        }
    }

    public OrtRuntime Runtime { get; }

    public string ModelPath { get; }

    /// <summary>"cuda" or "cpu": the provider this session runs on.</summary>
    public string ExecutionProvider { get; }

    /// <summary>Why the session is not on the provider that was asked for (e.g. CUDA library missing), or null.</summary>
    public string? ProviderNote { get; }

    public IReadOnlyList<OrtTensorInfo> Inputs { get; }

    public IReadOnlyList<OrtTensorInfo> Outputs { get; }

    /// <summary>Loads a model file on the provider the settings ask for.</summary>
    /// <exception cref="OrtException">The runtime rejected the model.</exception>
    /// <exception cref="ModelConfigurationException">CUDA was asked for explicitly and cannot be used.</exception>
    public static OrtSession Create(OrtRuntime runtime, string modelPath, OrtSessionSettings? settings = null)
    {
        ArgumentNullException.ThrowIfNull(runtime);
        ArgumentNullException.ThrowIfNull(modelPath);
        settings ??= new OrtSessionSettings();
        if (!File.Exists(modelPath))
        {
            throw new FileNotFoundException($"Model file not found: {modelPath}", modelPath);
        }

        using var options = new OrtSessionOptionsHandle();
        nint optionsPointer;
        OrtNative.Check(OrtNative.Api->CreateSessionOptions(&optionsPointer));
        options.Attach(optionsPointer);
        OrtNative.Check(OrtNative.Api->SetSessionGraphOptimizationLevel(optionsPointer, (int)settings.Optimization));
        OrtNative.Check(OrtNative.Api->SetIntraOpNumThreads(optionsPointer, settings.IntraOpThreads));
        OrtNative.Check(OrtNative.Api->SetInterOpNumThreads(optionsPointer, settings.InterOpThreads));
        OrtNative.Check(OrtNative.Api->SetSessionLogSeverityLevel(optionsPointer, (int)OrtLoggingLevel.Error));

        string provider = "cpu";
        string? note = null;
        bool wantCuda = settings.Provider == ExecutionProviderPreference.Cuda
            || (settings.Provider == ExecutionProviderPreference.Auto && runtime.IsCudaProviderPresent);
        if (settings.Provider == ExecutionProviderPreference.Cuda && !runtime.IsCudaProviderPresent)
        {
            throw new ModelConfigurationException($"CUDA was asked for but {OrtRuntime.CudaProviderLibraryName} is not beside {runtime.LibraryPath}; install the GPU build of ONNX Runtime or choose auto/cpu.");
        }

        if (wantCuda)
        {
            try
            {
                OrtCudaProviderOptions cuda = OrtCudaProviderOptions.Defaults(settings.CudaDeviceId);
                OrtNative.Check(OrtNative.Api->SessionOptionsAppendExecutionProvider_CUDA(optionsPointer, &cuda));
                provider = "cuda";
            }
            catch (OrtException e) when (settings.Provider == ExecutionProviderPreference.Auto)
            {
                // Auto falls back to the CPU and says why; an explicit CUDA request fails below instead.
                note = $"CUDA provider could not be added, running on CPU: {e.NativeMessage}";
            }
            catch (OrtException e)
            {
                throw new ModelConfigurationException($"CUDA provider could not be added: {e.NativeMessage}", e);
            }
        }
        else if (settings.Provider == ExecutionProviderPreference.Auto)
        {
            note = $"{OrtRuntime.CudaProviderLibraryName} not installed beside the runtime: running on CPU.";
        }

        var handle = new OrtSessionHandle();
        nint sessionPointer;
        fixed (byte* path = OrtNative.Utf8(Path.GetFullPath(modelPath)))
        {
            OrtNative.Check(OrtNative.Api->CreateSession(runtime.Env.Pointer, path, optionsPointer, &sessionPointer));
        }

        handle.Attach(sessionPointer);
        try
        {
            return new OrtSession(runtime, handle, provider, note, modelPath);
        }
        catch
        {
            handle.Dispose();
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

        nint* inputValues = stackalloc nint[inputs.Count];
        nint* outputValues = stackalloc nint[outputs.Count];
        for (int i = 0; i < inputs.Count; i++)
        {
            inputValues[i] = inputs[i].Value.Pointer;
        }

        for (int i = 0; i < outputs.Count; i++)
        {
            outputValues[i] = outputs[i].Value.Pointer;
        }

        RunCore(inputValues, inputs.Count, outputValues, outputs.Count, cancellationToken);
    }

    /// <summary>Runs a one-input model and returns its first output in a new array (for outputs of unknown shape).</summary>
    public float[] Run(OrtFloatTensor input, out long[] outputShape, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(input);
        if (Inputs.Count != 1)
        {
            throw new ArgumentException($"The model takes {Inputs.Count} inputs.", nameof(input));
        }

        nint inputValue = input.Value.Pointer;
        nint outputValue = 0;
        RunCore(&inputValue, 1, &outputValue, 1, cancellationToken);
        using var output = new OrtValueHandle();
        output.Attach(outputValue);
        return CopyFloatTensor(outputValue, out outputShape);
    }

    public void Dispose() => session.Dispose();

    private void RunCore(nint* inputValues, int inputCount, nint* outputValues, int outputCount, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        using var runOptions = new OrtRunOptionsHandle();
        nint runOptionsPointer;
        OrtNative.Check(OrtNative.Api->CreateRunOptions(&runOptionsPointer));
        runOptions.Attach(runOptionsPointer);

        // Dispose of the registration waits for a callback in flight, so the options outlive it.
        using CancellationTokenRegistration registration = cancellationToken.CanBeCanceled
            ? cancellationToken.Register(static state => Terminate((OrtRunOptionsHandle)state!), runOptions)
            : default;
        fixed (nint* inputNames = inputNamePointers)
        fixed (nint* outputNames = outputNamePointers)
        {
            nint status = OrtNative.Api->Run(session.Pointer, runOptionsPointer, inputNames, inputValues, (nuint)inputCount, outputNames, (nuint)outputCount, outputValues);
            if (status != 0 && cancellationToken.IsCancellationRequested)
            {
                OrtNative.Api->ReleaseStatus(status);
                throw new OperationCanceledException("The model run was terminated.", cancellationToken);
            }

            OrtNative.Check(status);
        }

        // A cancel that arrived after the runtime's last terminate check still cancels: the caller
        // asked to stop, so the result is not handed out as if nothing happened.
        cancellationToken.ThrowIfCancellationRequested();
    }

    private static void Terminate(OrtRunOptionsHandle runOptions)
    {
        bool added = false;
        try
        {
            runOptions.DangerousAddRef(ref added);
            OrtNative.Check(OrtNative.Api->RunOptionsSetTerminate(runOptions.DangerousGetHandle()));
        }
        finally
        {
            if (added)
            {
                runOptions.DangerousRelease();
            }
        }
    }

    private static float[] CopyFloatTensor(nint value, out long[] shape)
    {
        using var info = new OrtTensorTypeAndShapeInfoHandle();
        nint infoPointer;
        OrtNative.Check(OrtNative.Api->GetTensorTypeAndShape(value, &infoPointer));
        info.Attach(infoPointer);
        OnnxElementType type;
        OrtNative.Check(OrtNative.Api->GetTensorElementType(infoPointer, &type));
        if (type != OnnxElementType.Float)
        {
            throw new OrtException(OrtErrorCode.InvalidArgument, $"Output is {type}, KneeWeb reads float outputs only.");
        }

        shape = ReadDimensions(infoPointer);
        nuint count;
        OrtNative.Check(OrtNative.Api->GetTensorShapeElementCount(infoPointer, &count));
        void* data;
        OrtNative.Check(OrtNative.Api->GetTensorMutableData(value, &data));
        var result = GC.AllocateUninitializedArray<float>(checked((int)count));
        new ReadOnlySpan<float>(data, result.Length).CopyTo(result);
        return result;
    }

    private static long[] ReadDimensions(nint tensorInfo)
    {
        nuint rank;
        OrtNative.Check(OrtNative.Api->GetDimensionsCount(tensorInfo, &rank));
        var dims = new long[(int)rank];
        fixed (long* d = dims)
        {
            OrtNative.Check(OrtNative.Api->GetDimensions(tensorInfo, d, rank));
        }

        return dims;
    }

    private List<OrtTensorInfo> ReadInfos(bool isInput)
    {
        nint sessionPointer = session.Pointer;
        nuint count;
        OrtNative.Check(isInput
            ? OrtNative.Api->SessionGetInputCount(sessionPointer, &count)
            : OrtNative.Api->SessionGetOutputCount(sessionPointer, &count));
        nint allocator;
        OrtNative.Check(OrtNative.Api->GetAllocatorWithDefaultOptions(&allocator));
        var infos = new List<OrtTensorInfo>((int)count);
        for (nuint i = 0; i < count; i++)
        {
            byte* namePointer;
            OrtNative.Check(isInput
                ? OrtNative.Api->SessionGetInputName(sessionPointer, i, allocator, &namePointer)
                : OrtNative.Api->SessionGetOutputName(sessionPointer, i, allocator, &namePointer));
            string name = Marshal.PtrToStringUTF8((nint)namePointer) ?? string.Empty;
            OrtNative.Check(OrtNative.Api->AllocatorFree(allocator, namePointer));

            using var typeInfo = new OrtTypeInfoHandle();
            nint typeInfoPointer;
            OrtNative.Check(isInput
                ? OrtNative.Api->SessionGetInputTypeInfo(sessionPointer, i, &typeInfoPointer)
                : OrtNative.Api->SessionGetOutputTypeInfo(sessionPointer, i, &typeInfoPointer));
            typeInfo.Attach(typeInfoPointer);
            OnnxValueType valueType;
            OrtNative.Check(OrtNative.Api->GetOnnxTypeFromTypeInfo(typeInfoPointer, &valueType));
            if (valueType != OnnxValueType.Tensor)
            {
                infos.Add(new OrtTensorInfo(name, valueType, OnnxElementType.Undefined, [], []));
                continue;
            }

            nint tensorInfo; // owned by typeInfo
            OrtNative.Check(OrtNative.Api->CastTypeInfoToTensorInfo(typeInfoPointer, &tensorInfo));
            OnnxElementType elementType;
            OrtNative.Check(OrtNative.Api->GetTensorElementType(tensorInfo, &elementType));
            long[] shape = ReadDimensions(tensorInfo);
            var symbolic = new string[shape.Length];
            var symbols = new nint[Math.Max(1, shape.Length)];
            fixed (nint* symbolPointers = symbols)
            {
                OrtNative.Check(OrtNative.Api->GetSymbolicDimensions(tensorInfo, (byte**)symbolPointers, (nuint)shape.Length));
            }

            for (int d = 0; d < shape.Length; d++)
            {
                symbolic[d] = Marshal.PtrToStringUTF8(symbols[d]) ?? string.Empty;
            }

            infos.Add(new OrtTensorInfo(name, valueType, elementType, shape, symbolic));
        }

        return infos;
    }
}

/// <summary>
/// A float32 tensor whose data is a pinned managed array (on the pinned object heap), wrapped
/// by an OrtValue that points straight at it: fill <see cref="Data"/>, run, read it back.
/// </summary>
public sealed unsafe class OrtFloatTensor : IDisposable
{
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
        Value = new OrtValueHandle();
        nint valuePointer;
        void* data = Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(Data));
        fixed (long* dims = Shape)
        {
            OrtNative.Check(OrtNative.Api->CreateTensorWithDataAsOrtValue(
                runtime.CpuMemory.Pointer, data, (nuint)((long)Data.Length * sizeof(float)), dims, (nuint)Shape.Length, OnnxElementType.Float, &valuePointer));
        }

        Value.Attach(valuePointer);
    }

    public long[] Shape { get; }

    /// <summary>The tensor's elements in C order (last dimension fastest).</summary>
    public float[] Data { get; }

    internal OrtValueHandle Value { get; }

    public void Dispose() => Value.Dispose();
}
