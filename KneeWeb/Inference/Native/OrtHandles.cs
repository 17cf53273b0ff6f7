using System.Runtime.InteropServices;

namespace KneeWeb.Inference.Native;

/// <summary>
/// Base of every ONNX Runtime object KneeWeb owns: the SafeHandle guarantees the matching
/// Release* runs exactly once, even when a finaliser has to do it.
/// </summary>
internal abstract class OrtHandle : SafeHandle
{
    protected OrtHandle()
        : base(0, ownsHandle: true)
    {
    }

    public override bool IsInvalid => handle == 0;

    /// <summary>The raw pointer, for passing to the C API while this handle is alive.</summary>
    public nint Pointer
    {
        get
        {
            ObjectDisposedException.ThrowIf(IsClosed, this);
            return handle;
        }
    }

    internal void Attach(nint pointer) => SetHandle(pointer);
}

internal sealed unsafe class OrtEnvHandle : OrtHandle
{
    protected override bool ReleaseHandle()
    {
        OrtNative.Api->ReleaseEnv(handle);
        return true;
    }
}

internal sealed unsafe class OrtSessionOptionsHandle : OrtHandle
{
    protected override bool ReleaseHandle()
    {
        OrtNative.Api->ReleaseSessionOptions(handle);
        return true;
    }
}

internal sealed unsafe class OrtSessionHandle : OrtHandle
{
    protected override bool ReleaseHandle()
    {
        OrtNative.Api->ReleaseSession(handle);
        return true;
    }
}

internal sealed unsafe class OrtValueHandle : OrtHandle
{
    protected override bool ReleaseHandle()
    {
        OrtNative.Api->ReleaseValue(handle);
        return true;
    }
}

internal sealed unsafe class OrtRunOptionsHandle : OrtHandle
{
    protected override bool ReleaseHandle()
    {
        OrtNative.Api->ReleaseRunOptions(handle);
        return true;
    }
}

internal sealed unsafe class OrtMemoryInfoHandle : OrtHandle
{
    protected override bool ReleaseHandle()
    {
        OrtNative.Api->ReleaseMemoryInfo(handle);
        return true;
    }
}

internal sealed unsafe class OrtTypeInfoHandle : OrtHandle
{
    protected override bool ReleaseHandle()
    {
        OrtNative.Api->ReleaseTypeInfo(handle);
        return true;
    }
}

internal sealed unsafe class OrtTensorTypeAndShapeInfoHandle : OrtHandle
{
    protected override bool ReleaseHandle()
    {
        OrtNative.Api->ReleaseTensorTypeAndShapeInfo(handle);
        return true;
    }
}
