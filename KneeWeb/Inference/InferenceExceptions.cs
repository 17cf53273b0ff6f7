namespace KneeWeb.Inference;

/// <summary>
/// A failed ONNX Runtime call: the library's status code and message, verbatim. Made only by
/// <see cref="OrtErrors.Translate"/> (and by the predictor's simulated out-of-memory); the
/// predictor maps it to a catalog error at its boundary.
/// </summary>
public class OrtException : Exception
{
    public OrtException()
    {
    }

    public OrtException(string message)
        : base(message)
    {
    }

    public OrtException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    public OrtException(OrtErrorCode code, string message)
        : base($"ONNX Runtime {code}: {message}")
    {
        Code = code;
        NativeMessage = message;
    }

    public OrtException(OrtErrorCode code, string message, Exception innerException)
        : base($"ONNX Runtime {code}: {message}", innerException)
    {
        Code = code;
        NativeMessage = message;
    }

    public OrtErrorCode Code { get; }

    public string NativeMessage { get; } = string.Empty;

    /// <summary>
    /// Whether the runtime ran out of device memory. The C API has no code for it (CUDA and
    /// the BFC arena report it as a failed allocation with ORT_FAIL or ORT_RUNTIME_EXCEPTION),
    /// so this one property reads the message, and nothing else in KneeWeb does.
    /// </summary>
    public bool IsOutOfMemory =>
        NativeMessage.Contains("out of memory", StringComparison.OrdinalIgnoreCase)
        || NativeMessage.Contains("Failed to allocate memory", StringComparison.OrdinalIgnoreCase)
        || NativeMessage.Contains("CUDNN_STATUS_ALLOC_FAILED", StringComparison.Ordinal)
        || NativeMessage.Contains("CUBLAS_STATUS_ALLOC_FAILED", StringComparison.Ordinal)
        || NativeMessage.Contains("cudaErrorMemoryAllocation", StringComparison.Ordinal);
}

/// <summary>The GPU ran out of memory even at batch size 1 and the CPU fallback was not allowed or failed too (GPU_OOM).</summary>
public class GpuOutOfMemoryException : Exception
{
    public GpuOutOfMemoryException()
    {
    }

    public GpuOutOfMemoryException(string message)
        : base(message)
    {
    }

    public GpuOutOfMemoryException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    public const string ErrorCode = "GPU_OOM";
}

/// <summary>A model, its sidecar or an inference setting is wrong (CONFIG_ERROR).</summary>
public class ModelConfigurationException : Exception
{
    public ModelConfigurationException()
    {
    }

    public ModelConfigurationException(string message)
        : base(message)
    {
    }

    public ModelConfigurationException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    public const string ErrorCode = "CONFIG_ERROR";
}

/// <summary>Segmentation itself failed: the runtime rejected the input or a run failed (SEGMENTATION_FAILED).</summary>
public class InferenceFailedException : Exception
{
    public InferenceFailedException()
    {
    }

    public InferenceFailedException(string message)
        : base(message)
    {
    }

    public InferenceFailedException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    public const string ErrorCode = "SEGMENTATION_FAILED";
}
