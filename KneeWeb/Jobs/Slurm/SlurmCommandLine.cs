using System.Globalization;
using KneeWeb.Data;
using KneeWeb.Setup;
using Microsoft.Extensions.Options;

namespace KneeWeb.Jobs.Slurm;

/// <summary>
/// The `KneeWeb process` command a Slurm job runs: the configured command, or this very binary
/// (found from the running process, so it survives a change of build folder), with the job's
/// folder files and the site's model settings.
/// </summary>
public sealed class SlurmCommandLine(IOptions<KneeWebOptions> options)
{
    private readonly KneeWebOptions settings = options.Value;

    /// <summary>The program and its leading arguments, e.g. ["/srv/kneeweb/KneeWeb"] or ["dotnet", "/srv/kneeweb/KneeWeb.dll"].</summary>
    public IReadOnlyList<string> Program()
    {
        string? configured = settings.Jobs.Slurm.Command;
        if (!string.IsNullOrWhiteSpace(configured))
        {
            return configured.Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        }

        string process = Environment.ProcessPath ?? throw new InvalidOperationException("The site's own binary is unknown; set KneeWeb:Jobs:Slurm:Command.");
        string name = Path.GetFileNameWithoutExtension(process);
        if (string.Equals(name, "dotnet", StringComparison.OrdinalIgnoreCase))
        {
            // Run as `dotnet KneeWeb.dll`: the job runs the same way.
            string assembly = typeof(SlurmCommandLine).Assembly.Location;
            return [process, assembly];
        }

        return [process];
    }

    public IReadOnlyList<string> ProcessArguments(Job job, SlurmJobFolder folder, string input)
    {
        ArgumentNullException.ThrowIfNull(job);
        ArgumentNullException.ThrowIfNull(folder);
        var args = new List<string>(Program())
        {
            "process", input,
            "--out", folder.ResultFolder,
            "--options-file", folder.OptionsFile,
            "--job-id", job.Id.ToString("D"),
            "--input-name", job.InputFileName,
            "--progress-file", folder.ProgressFile,
            "--error-file", folder.ErrorFile,
            "--models", Path.GetFullPath(string.IsNullOrWhiteSpace(settings.Jobs.Slurm.ModelsPath) ? settings.ModelsPath : settings.Jobs.Slurm.ModelsPath),
            "--quiet",
        };
        if (!string.IsNullOrWhiteSpace(settings.DefaultModel))
        {
            args.Add("--default-model");
            args.Add(settings.DefaultModel);
        }

        if (settings.Jobs.DiagnosticStepDelay > TimeSpan.Zero)
        {
            // Diagnostics only (tests): the same pause per step as the in-process worker's.
            args.Add("--diagnostic-step-delay");
            args.Add(settings.Jobs.DiagnosticStepDelay.ToString("c", CultureInfo.InvariantCulture));
        }

        return args;
    }
}
