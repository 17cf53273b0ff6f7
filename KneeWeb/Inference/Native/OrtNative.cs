using System.Runtime.InteropServices;

namespace KneeWeb.Inference.Native;

/// <summary>
/// The loaded ONNX Runtime library: its function table and the one place where an
/// <c>OrtStatus*</c> becomes an exception. Loaded once per process (the C API's OrtEnv is a
/// process-wide singleton too), through <see cref="OrtRuntime.Load"/>.
/// </summary>
internal static unsafe class OrtNative
{
    /// <summary>
    /// The OrtApi version KneeWeb asks for. Every function it calls exists since version 13, and
    /// any 1.x library from 1.17 on serves version 17; asking for less than the library's own
    /// version is how the C API stays compatible with older callers.
    /// </summary>
    public const uint ApiVersion = 17;

    private static OrtApiTable* api;

    public static OrtApiTable* Api => api != null
        ? api
        : throw new InvalidOperationException("ONNX Runtime is not loaded: call OrtRuntime.Load first.");

    public static bool IsLoaded => api != null;

    public static nint LibraryHandle { get; private set; }

    public static string Version { get; private set; } = string.Empty;

    /// <summary>Loads the library at <paramref name="libraryPath"/> and fetches its function table.</summary>
    public static void Load(string libraryPath)
    {
        nint library = NativeLibrary.Load(libraryPath);
        if (!NativeLibrary.TryGetExport(library, "OrtGetApiBase", out nint getApiBaseExport))
        {
            throw new OrtException(OrtErrorCode.Fail, $"{libraryPath} exports no OrtGetApiBase: not an ONNX Runtime library.");
        }

        var getApiBase = (delegate* unmanaged<OrtApiBase*>)getApiBaseExport;
        OrtApiBase* apiBase = getApiBase();
        string version = Marshal.PtrToStringUTF8((nint)apiBase->GetVersionString()) ?? string.Empty;
        OrtApiTable* table = apiBase->GetApi(ApiVersion);
        if (table == null)
        {
            throw new OrtException(OrtErrorCode.Fail, $"ONNX Runtime {version} at {libraryPath} does not serve C API version {ApiVersion}; KneeWeb needs 1.17 or newer.");
        }

        LibraryHandle = library;
        Version = version;
        api = table;
    }

    /// <summary>Throws an <see cref="OrtException"/> for a non-null status, releasing the status.</summary>
    public static void Check(nint status)
    {
        if (status == 0)
        {
            return;
        }

        OrtErrorCode code = api->GetErrorCode(status);
        string message = Marshal.PtrToStringUTF8((nint)api->GetErrorMessage(status)) ?? string.Empty;
        api->ReleaseStatus(status);
        throw new OrtException(code, message);
    }

    /// <summary>A NUL-terminated UTF-8 copy of <paramref name="text"/> for the C API.</summary>
    public static byte[] Utf8(string text)
    {
        int length = System.Text.Encoding.UTF8.GetByteCount(text);
        var bytes = new byte[length + 1];
        System.Text.Encoding.UTF8.GetBytes(text, bytes);
        return bytes;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct OrtApiBase
    {
        public delegate* unmanaged<uint, OrtApiTable*> GetApi;
        public delegate* unmanaged<byte*> GetVersionString;
    }
}
