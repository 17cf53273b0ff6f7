using System.IO.Compression;
using System.Security.Cryptography;

namespace KneeWeb.Pipeline;

/// <summary>A file of a finished job folder, as recorded in the database.</summary>
public sealed record ArtifactInfo(string Name, string Kind, long SizeBytes, string Sha256);

/// <summary>
/// Writes a job folder atomically: everything goes into a temporary sibling folder, which is
/// renamed into place only when complete. A crash leaves at most a `*.tmp-*` folder, which
/// start-up recovery removes; readers never see half a job folder.
/// </summary>
public static class JobFolderWriter
{
    public const string TempMarker = ".tmp-";
    public const string ArchiveName = "results.zip";

    public static async Task<IReadOnlyList<ArtifactInfo>> WriteAsync(
        string finalFolder,
        IReadOnlyDictionary<string, Func<string, CancellationToken, Task>> files,
        IProgress<double>? progress,
        CancellationToken ct,
        IReadOnlyList<Func<string, CancellationToken, Task>>? folderWriters = null)
    {
        ArgumentNullException.ThrowIfNull(finalFolder);
        ArgumentNullException.ThrowIfNull(files);
        string parent = Path.GetDirectoryName(Path.GetFullPath(finalFolder)) ?? throw new ArgumentException("No parent folder.", nameof(finalFolder));
        Directory.CreateDirectory(parent);
        string temp = Path.GetFullPath(finalFolder) + TempMarker + Guid.NewGuid().ToString("N")[..8];
        Directory.CreateDirectory(temp);
        try
        {
            int done = 0;
            foreach ((string name, Func<string, CancellationToken, Task> write) in files)
            {
                string path = SafeChildPath(temp, name);
                Directory.CreateDirectory(Path.GetDirectoryName(path)!);
                await write(path, ct);
                progress?.Report(0.8 * ++done / Math.Max(files.Count, 1));
            }

            foreach (Func<string, CancellationToken, Task> writeInto in folderWriters ?? [])
            {
                await writeInto(temp, ct);
            }

            await WriteArchiveAsync(temp, ct);
            IReadOnlyList<ArtifactInfo> artifacts = await DescribeAsync(temp, ct);
            ct.ThrowIfCancellationRequested();
            if (Directory.Exists(finalFolder))
            {
                // A previous attempt completed its folder but died before recording it: replace it.
                Directory.Delete(finalFolder, recursive: true);
            }

            Directory.Move(temp, finalFolder);
            progress?.Report(1);
            return artifacts;
        }
        catch
        {
            TryDelete(temp);
            throw;
        }
    }

    /// <summary>The artifacts of a complete job folder (name, kind, size, SHA-256), sorted by name.</summary>
    public static async Task<IReadOnlyList<ArtifactInfo>> DescribeAsync(string folder, CancellationToken ct)
    {
        var artifacts = new List<ArtifactInfo>();
        foreach (string path in Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories))
        {
            string name = Path.GetRelativePath(folder, path).Replace('\\', '/');
            artifacts.Add(new ArtifactInfo(name, KindOf(name), new FileInfo(path).Length, await Sha256Async(path, ct)));
        }

        artifacts.Sort((a, b) => string.CompareOrdinal(a.Name, b.Name));
        return artifacts;
    }

    /// <summary>Removes temporary folders left by a process that died while writing.</summary>
    public static int RemoveStaleTempFolders(string jobsRoot)
    {
        if (!Directory.Exists(jobsRoot))
        {
            return 0;
        }

        int removed = 0;
        foreach (string dir in Directory.EnumerateDirectories(jobsRoot, "*" + TempMarker + "*"))
        {
            TryDelete(dir);
            removed++;
        }

        return removed;
    }

    public static string KindOf(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        string lower = name.ToLowerInvariant();
        return lower switch
        {
            "stats.json" => "stats",
            ArchiveName => "archive",
            _ when lower.EndsWith(".nii.gz", StringComparison.Ordinal) || lower.EndsWith(".nrrd", StringComparison.Ordinal) || lower.EndsWith(".nii", StringComparison.Ordinal) => "segmentation",
            _ when lower.EndsWith(".vtk", StringComparison.Ordinal) || lower.EndsWith(".stl", StringComparison.Ordinal) || lower.EndsWith(".ply", StringComparison.Ordinal) => "mesh",
            _ when lower.EndsWith(".csv", StringComparison.Ordinal) => "table",
            _ when lower.EndsWith(".png", StringComparison.Ordinal) => "image",
            _ when lower.EndsWith(".json", StringComparison.Ordinal) => "data",
            _ => "other",
        };
    }

    /// <summary>Resolves a relative artifact name under a folder, refusing anything that escapes it.</summary>
    public static string SafeChildPath(string folder, string relativeName)
    {
        ArgumentNullException.ThrowIfNull(folder);
        ArgumentNullException.ThrowIfNull(relativeName);
        string root = Path.GetFullPath(folder).TrimEnd(Path.DirectorySeparatorChar) + Path.DirectorySeparatorChar;
        string full = Path.GetFullPath(Path.Combine(root, relativeName));
        if (!full.StartsWith(root, StringComparison.Ordinal) || relativeName.Contains('\0', StringComparison.Ordinal))
        {
            throw new ArgumentException($"Artifact name '{relativeName}' leaves its folder.", nameof(relativeName));
        }

        return full;
    }

    private static async Task WriteArchiveAsync(string folder, CancellationToken ct)
    {
        string archive = Path.Combine(folder, ArchiveName);
        var entries = new List<string>(Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories));
        entries.Sort(StringComparer.Ordinal);
        await using var stream = new FileStream(archive, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, useAsync: true);
        using var zip = new ZipArchive(stream, ZipArchiveMode.Create);
        foreach (string path in entries)
        {
            ct.ThrowIfCancellationRequested();
            string name = Path.GetRelativePath(folder, path).Replace('\\', '/');
            // Volumes and meshes are mostly compressed already; Fastest keeps saving quick.
            ZipArchiveEntry entry = zip.CreateEntry(name, CompressionLevel.Fastest);
            await using Stream target = entry.Open();
            await using FileStream source = File.OpenRead(path);
            await source.CopyToAsync(target, ct);
        }
    }

    private static async Task<string> Sha256Async(string path, CancellationToken ct)
    {
        await using FileStream stream = File.OpenRead(path);
        byte[] hash = await SHA256.HashDataAsync(stream, ct);
        return Convert.ToHexStringLower(hash);
    }

    private static void TryDelete(string dir)
    {
        try
        {
            if (Directory.Exists(dir))
            {
                Directory.Delete(dir, recursive: true);
            }
        }
        catch (IOException)
        {
            // Best effort: recovery at the next start removes what is left.
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}
