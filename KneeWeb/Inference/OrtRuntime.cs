using Microsoft.ML.OnnxRuntime;

namespace KneeWeb.Inference;

/// <summary>
/// The process's ONNX Runtime: the native library that the NuGet package put beside the app
/// (Microsoft.ML.OnnxRuntime, or Microsoft.ML.OnnxRuntime.Gpu.Linux when built with
/// -p:KneeWebOnnxRuntime=gpu), its one environment, and what it offers. Loaded once; later calls
/// return the same instance.
/// </summary>
public sealed class OrtRuntime
{
    /// <summary>The CUDA provider's library; the GPU package ships it beside the core library.</summary>
    public const string CudaProviderLibraryName = "libonnxruntime_providers_cuda.so";

    private const string CoreLibraryName = "libonnxruntime.so";

    private static readonly Lock LoadLock = new();
    private static OrtRuntime? instance;

    private OrtRuntime(OrtEnv env)
    {
        Env = env;
        Version = env.GetVersionString();
        AvailableProviders = env.GetAvailableProviders();
        LibraryPath = LocateCoreLibrary();
        string? directory = Path.GetDirectoryName(LibraryPath);
        CudaProviderLibraryPath = directory is null ? null : Path.Combine(directory, CudaProviderLibraryName);
        IsCudaProviderPresent = CudaProviderLibraryPath is not null && File.Exists(CudaProviderLibraryPath);
    }

    /// <summary>The loaded runtime, or null before <see cref="Load"/>.</summary>
    public static OrtRuntime? Current => instance;

    /// <summary>Full path of the loaded core library (where the process mapped it from).</summary>
    public string LibraryPath { get; }

    /// <summary>The library's own version string, e.g. "1.32.0".</summary>
    public string Version { get; }

    /// <summary>Execution providers compiled into this build (the GPU build lists CUDA even where CUDA 13 is missing).</summary>
    public IReadOnlyList<string> AvailableProviders { get; }

    /// <summary>Where the CUDA provider library would be, beside the core library.</summary>
    public string? CudaProviderLibraryPath { get; }

    /// <summary>Whether this is the GPU build: the CUDA provider library is installed beside the core library.</summary>
    public bool IsCudaProviderPresent { get; }

    internal OrtEnv Env { get; }

    /// <summary>Loads ONNX Runtime from the package once.</summary>
    /// <exception cref="ModelConfigurationException">The native library is missing or cannot be loaded on this machine.</exception>
    public static OrtRuntime Load()
    {
        lock (LoadLock)
        {
            if (instance is not null)
            {
                return instance;
            }

            OrtEnv env;
            try
            {
                if (OrtEnv.IsCreated)
                {
                    env = OrtEnv.Instance();
                }
                else
                {
                    var options = new EnvironmentCreationOptions { logId = "KneeWeb", logLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_WARNING };
                    env = OrtEnv.CreateInstanceWithOptions(ref options);
                }
            }
            catch (Exception e) when (e is DllNotFoundException or BadImageFormatException or EntryPointNotFoundException or TypeInitializationException or OnnxRuntimeException)
            {
                throw new ModelConfigurationException(
                    $"Cannot load ONNX Runtime (the {CoreLibraryName} that the Microsoft.ML.OnnxRuntime package puts beside KneeWeb): {(e.InnerException ?? e).Message}. Rebuild with `dotnet build`.", e);
            }

            instance = new OrtRuntime(env);
            return instance;
        }
    }

    /// <summary>
    /// The core library's file: from the process's memory map on Linux (exactly what was loaded,
    /// whether from the app folder or runtimes/&lt;rid&gt;/native), else the app folder.
    /// </summary>
    private static string LocateCoreLibrary()
    {
        const string maps = "/proc/self/maps";
        if (File.Exists(maps))
        {
            foreach (string line in File.ReadLines(maps))
            {
                int slash = line.IndexOf('/', StringComparison.Ordinal);
                if (slash >= 0 && line.EndsWith("/" + CoreLibraryName, StringComparison.Ordinal))
                {
                    return line[slash..];
                }
            }
        }

        string beside = Path.Combine(AppContext.BaseDirectory, CoreLibraryName);
        return File.Exists(beside) ? beside : Path.Combine(AppContext.BaseDirectory, "runtimes", "linux-x64", "native", CoreLibraryName);
    }
}
