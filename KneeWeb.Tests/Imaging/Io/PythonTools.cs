using System.Diagnostics;

namespace KneeWeb.Tests.Imaging.Io;

/// <summary>
/// Runs Debian's python3 (with nibabel, pydicom, mrcfile) for cross-checks. A missing tool is a
/// failure that says what to install, never a skip.
/// </summary>
public static class PythonTools
{
    public const string Python = "/usr/bin/python3";

    public static string Run(string script, TimeSpan? timeout = null)
    {
        if (!File.Exists(Python))
        {
            throw new InvalidOperationException($"{Python} is missing: apt-get install python3 python3-nibabel python3-pydicom python3-mrcfile");
        }

        var start = new ProcessStartInfo(Python)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add("-");
        using var process = Process.Start(start)!;
        process.StandardInput.Write(Dedent(script));
        process.StandardInput.Close();
        Task<string> output = process.StandardOutput.ReadToEndAsync();
        Task<string> error = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(timeout ?? TimeSpan.FromSeconds(120)))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException("python3 did not finish in time");
        }

        if (process.ExitCode != 0)
        {
            string err = error.Result;
            string hint = err.Contains("ModuleNotFoundError", StringComparison.Ordinal)
                ? " (install the Debian packages python3-nibabel python3-pydicom python3-mrcfile)"
                : "";
            throw new InvalidOperationException($"python3 failed{hint}: {err}");
        }

        return output.Result;
    }

    private static string Dedent(string script) => script.Replace("\r\n", "\n", StringComparison.Ordinal);
}
