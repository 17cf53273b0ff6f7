using System.Diagnostics;
using Xunit;

namespace KneeWeb.Tests.Resources;

/// <summary>
/// A small tmpfs the test mounts over a folder and unmounts after (needs root, as in this project's
/// test machines): a real file system that really runs out of space, for full-disk behaviour.
/// </summary>
public sealed class TmpfsMount : IDisposable
{
    private readonly List<string> fillers = [];

    public TmpfsMount(string folder, long sizeBytes)
    {
        Folder = folder;
        Directory.CreateDirectory(folder);
        (int code, string output) = Run("mount", "-t", "tmpfs", "-o", $"size={sizeBytes}", "tmpfs", folder);
        Assert.True(code == 0, $"mount -t tmpfs failed ({code}): {output}. The full-disk tests need root to mount a small tmpfs.");
    }

    public string Folder { get; }

    public long FreeBytes => new DriveInfo(Folder).AvailableFreeSpace;

    /// <summary>Writes a filler file until the disk has at most <paramref name="leaveBytes"/> free (0: until ENOSPC).</summary>
    public void Fill(long leaveBytes = 0)
    {
        string path = Path.Combine(Folder, $"filler-{fillers.Count}.bin");
        fillers.Add(path);
        byte[] chunk = new byte[1 << 16];
        Array.Fill(chunk, (byte)0x5A);
        using var stream = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1, FileOptions.WriteThrough);
        try
        {
            while (true)
            {
                long room = FreeBytes - leaveBytes;
                if (leaveBytes > 0 && room <= 0)
                {
                    return;
                }

                int n = leaveBytes > 0 ? (int)Math.Min(chunk.Length, room) : chunk.Length;
                stream.Write(chunk, 0, n);
                stream.Flush();
            }
        }
        catch (IOException)
        {
            // ENOSPC: the disk is full, as asked.
        }
    }

    /// <summary>Removes the filler files (the disk has room again).</summary>
    public void Free()
    {
        foreach (string path in fillers)
        {
            File.Delete(path);
        }

        fillers.Clear();
    }

    public void Dispose()
    {
        _ = Run("umount", "-l", Folder);
    }

    private static (int Code, string Output) Run(string file, params string[] args)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (string a in args)
        {
            start.ArgumentList.Add(a);
        }

        using Process process = Process.Start(start)!;
        string output = process.StandardOutput.ReadToEnd() + process.StandardError.ReadToEnd();
        process.WaitForExit();
        return (process.ExitCode, output);
    }
}
