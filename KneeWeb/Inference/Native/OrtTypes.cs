using System.Runtime.InteropServices;

namespace KneeWeb.Inference.Native;

/// <summary>OrtErrorCode from onnxruntime_c_api.h.</summary>
public enum OrtErrorCode
{
    Ok = 0,
    Fail = 1,
    InvalidArgument = 2,
    NoSuchFile = 3,
    NoModel = 4,
    EngineError = 5,
    RuntimeException = 6,
    InvalidProtobuf = 7,
    ModelLoaded = 8,
    NotImplemented = 9,
    InvalidGraph = 10,
    EpFail = 11,
}

/// <summary>ONNXTensorElementDataType (same numbers as TensorProto.DataType).</summary>
public enum OnnxElementType
{
    Undefined = 0,
    Float = 1,
    UInt8 = 2,
    Int8 = 3,
    UInt16 = 4,
    Int16 = 5,
    Int32 = 6,
    Int64 = 7,
    String = 8,
    Bool = 9,
    Float16 = 10,
    Double = 11,
    UInt32 = 12,
    UInt64 = 13,
    Complex64 = 14,
    Complex128 = 15,
    BFloat16 = 16,
}

/// <summary>ONNXType: what kind of value an input or output is.</summary>
public enum OnnxValueType
{
    Unknown = 0,
    Tensor = 1,
    Sequence = 2,
    Map = 3,
    Opaque = 4,
    SparseTensor = 5,
    Optional = 6,
}

internal enum OrtLoggingLevel
{
    Verbose = 0,
    Info = 1,
    Warning = 2,
    Error = 3,
    Fatal = 4,
}

/// <summary>GraphOptimizationLevel from the C API.</summary>
public enum GraphOptimization
{
    None = 0,
    Basic = 1,
    Extended = 2,
    All = 99,
}

/// <summary>
/// OrtCUDAProviderOptions (the V1 struct). Field order and types follow the header; the
/// defaults are those of its C++ constructor.
/// </summary>
[StructLayout(LayoutKind.Sequential)]
internal struct OrtCudaProviderOptions
{
    public int DeviceId;
    public int CudnnConvAlgoSearch; // 0 = exhaustive, 1 = heuristic, 2 = default
    public nuint GpuMemLimit;
    public int ArenaExtendStrategy;
    public int DoCopyInDefaultStream;
    public int HasUserComputeStream;
    public nint UserComputeStream;
    public nint DefaultMemoryArenaCfg;

    public static OrtCudaProviderOptions Defaults(int deviceId) => new()
    {
        DeviceId = deviceId,
        CudnnConvAlgoSearch = 0,
        GpuMemLimit = nuint.MaxValue,
        ArenaExtendStrategy = 0,
        DoCopyInDefaultStream = 1,
    };
}
