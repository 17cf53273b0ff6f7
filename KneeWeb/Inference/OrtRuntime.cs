using System.Runtime.InteropServices;
using KneeWeb.Inference.Native;

namespace KneeWeb.Inference;

/// <summary>
/// The process's ONNX Runtime: the native library (from the npm package onnxruntime-node unless a
/// setting names another build, e.g. a GPU build on the lab server), its one OrtEnv, and what it
/// offers. Loaded once; later calls return the same instance.
/// </summary>
public sealed unsafe class OrtRuntime
{
    /// <summary>Environment variable that names the library (or its folder) when no setting does.</summary>
    public const string LibraryEnvironmentVariable = "KNEEWEB_ONNXRUNTIME";

    /// <summary>The CUDA provider's library; the CUDA build ships it beside the core library.</summary>
    public const string CudaProviderLibraryName = "libonnxruntime_providers_cuda.so";

    private static readonly Lock LoadLock = new();
    private static OrtRuntime? instance;

    private OrtRuntime(string libraryPath, OrtEnvHandle env, OrtMemoryInfoHandle cpuMemory, IReadOnlyList<string> providers)
    {
        LibraryPath = libraryPath;
        Env = env;
        CpuMemory = cpuMemory;
        AvailableProviders = providers;
        string? directory = Path.GetDirectoryName(libraryPath);
        CudaProviderLibraryPath = directory is null ? null : Path.Combine(directory, CudaProviderLibraryName);
        IsCudaProviderPresent = CudaProviderLibraryPath is not null && File.Exists(CudaProviderLibraryPath);
    }

    /// <summary>The loaded runtime, or null before <see cref="Load"/>.</summary>
    public static OrtRuntime? Current => instance;

    /// <summary>Full path of the loaded core library.</summary>
    public string LibraryPath { get; }

    /// <summary>The library's own version string, e.g. "1.30.0".</summary>
    public string Version => OrtNative.Version;

    /// <summary>Execution providers compiled into this build (a build lists CUDA even where its libraries are missing).</summary>
    public IReadOnlyList<string> AvailableProviders { get; }

    /// <summary>Where the CUDA provider library would be, beside the core library.</summary>
    public string? CudaProviderLibraryPath { get; }

    /// <summary>Whether the CUDA provider library is installed beside the core library.</summary>
    public bool IsCudaProviderPresent { get; }

    internal OrtEnvHandle Env { get; }

    internal OrtMemoryInfoHandle CpuMemory { get; }

    /// <summary>
    /// Loads ONNX Runtime once. <paramref name="libraryPath"/> is the library file or its folder;
    /// null means <see cref="LibraryEnvironmentVariable"/>, then the app folder, then
    /// node_modules/onnxruntime-node found by walking up from the app and working folders.
    /// </summary>
    /// <exception cref="ModelConfigurationException">No library was found or it cannot be loaded.</exception>
    public static OrtRuntime Load(string? libraryPath = null)
    {
        lock (LoadLock)
        {
            if (instance is not null)
            {
                string? requested = libraryPath is null ? null : ResolveFile(libraryPath);
                if (requested is not null && !string.Equals(Path.GetFullPath(requested), instance.LibraryPath, StringComparison.Ordinal))
                {
                    throw new ModelConfigurationException($"ONNX Runtime is already loaded from {instance.LibraryPath}; a process loads one build only (asked for {requested}).");
                }

                return instance;
            }

            string path = FindLibrary(libraryPath);
            try
            {
                OrtNative.Load(path);
            }
            catch (Exception e) when (e is DllNotFoundException or BadImageFormatException or OrtException)
            {
                throw new ModelConfigurationException($"Cannot load ONNX Runtime from {path}: {e.Message}", e);
            }

            instance = new OrtRuntime(path, CreateEnv(), CreateCpuMemoryInfo(), ReadProviders());
            return instance;
        }
    }

    /// <summary>The library file the default search finds, or null.</summary>
    public static string? FindDefaultLibrary()
    {
        string? fromEnvironment = Environment.GetEnvironmentVariable(LibraryEnvironmentVariable);
        if (!string.IsNullOrEmpty(fromEnvironment))
        {
            return ResolveFile(fromEnvironment);
        }

        string? beside = ResolveFile(AppContext.BaseDirectory);
        if (beside is not null)
        {
            return beside;
        }

        foreach (string start in new[] { AppContext.BaseDirectory, Environment.CurrentDirectory })
        {
            for (DirectoryInfo? dir = new(start); dir is not null; dir = dir.Parent)
            {
                string candidate = Path.Combine(dir.FullName, "node_modules", "onnxruntime-node", "bin", "napi-v6", NpmPlatform(), NpmArchitecture());
                string? file = Directory.Exists(candidate) ? ResolveFile(candidate) : null;
                if (file is not null)
                {
                    return file;
                }
            }
        }

        return null;
    }

    private static string FindLibrary(string? libraryPath)
    {
        if (!string.IsNullOrWhiteSpace(libraryPath))
        {
            return ResolveFile(libraryPath)
                ?? throw new ModelConfigurationException($"No ONNX Runtime library at {libraryPath} (expected the file or a folder holding {LibraryFileNames()[0]}).");
        }

        return FindDefaultLibrary()
            ?? throw new ModelConfigurationException(
                $"ONNX Runtime not found: set {LibraryEnvironmentVariable} or the Inference:OnnxRuntimePath setting, or run `npm install --ignore-scripts` in the repository root (package onnxruntime-node).");
    }

    private static string? ResolveFile(string path)
    {
        if (File.Exists(path))
        {
            return Path.GetFullPath(path);
        }

        if (Directory.Exists(path))
        {
            foreach (string name in LibraryFileNames())
            {
                string candidate = Path.Combine(path, name);
                if (File.Exists(candidate))
                {
                    return Path.GetFullPath(candidate);
                }
            }
        }

        return null;
    }

    private static string[] LibraryFileNames() =>
        OperatingSystem.IsWindows() ? ["onnxruntime.dll"]
        : OperatingSystem.IsMacOS() ? ["libonnxruntime.dylib", "libonnxruntime.1.30.0.dylib"]
        : ["libonnxruntime.so.1", "libonnxruntime.so"];

    private static string NpmPlatform() =>
        OperatingSystem.IsWindows() ? "win32" : OperatingSystem.IsMacOS() ? "darwin" : "linux";

    private static string NpmArchitecture() => RuntimeInformation.ProcessArchitecture switch
    {
        Architecture.Arm64 => "arm64",
        _ => "x64",
    };

    private static OrtEnvHandle CreateEnv()
    {
        var env = new OrtEnvHandle();
        nint pointer;
        fixed (byte* logId = OrtNative.Utf8("KneeWeb"))
        {
            OrtNative.Check(OrtNative.Api->CreateEnv(OrtLoggingLevel.Warning, logId, &pointer));
        }

        env.Attach(pointer);
        return env;
    }

    private static OrtMemoryInfoHandle CreateCpuMemoryInfo()
    {
        var info = new OrtMemoryInfoHandle();
        nint pointer;
        // OrtDeviceAllocator (0) with OrtMemTypeDefault (0): plain CPU memory, which is what pinned managed arrays are.
        OrtNative.Check(OrtNative.Api->CreateCpuMemoryInfo(0, 0, &pointer));
        info.Attach(pointer);
        return info;
    }

    private static string[] ReadProviders()
    {
        byte** names;
        int count;
        OrtNative.Check(OrtNative.Api->GetAvailableProviders(&names, &count));
        var providers = new string[count];
        for (int i = 0; i < count; i++)
        {
            providers[i] = Marshal.PtrToStringUTF8((nint)names[i]) ?? string.Empty;
        }

        OrtNative.Check(OrtNative.Api->ReleaseAvailableProviders(names, count));
        return providers;
    }
}
