using System.Globalization;
using System.Text;
using KneeWeb.Pipeline;
using KneeWeb.Setup;

namespace KneeWeb.Jobs.Slurm;

/// <summary>
/// A job's folder on the shared root, as the site and the Slurm job both see it: the input copy,
/// options.json, job.sh, progress.jsonl (+ preview PNGs), error.json, the Slurm log and the
/// result folder, which the job writes atomically and the site registers.
/// </summary>
public sealed class SlurmJobFolder(string sharedRoot, Guid jobId)
{
    public string Path { get; } = System.IO.Path.Combine(sharedRoot, jobId.ToString("D"));

    public string OptionsFile => Combine("options.json");

    public string Script => Combine("job.sh");

    public string ProgressFile => Combine("progress.jsonl");

    public string ErrorFile => Combine("error.json");

    public string ResultFolder => Combine("result");

    /// <summary>The Slurm job id, written the moment sbatch answers (before the database row), so a crash in between cannot submit twice.</summary>
    public string SubmittedFile => Combine("slurm-job-id");

    public string LogFile(long slurmJobId) => Combine($"slurm-{slurmJobId.ToString(CultureInfo.InvariantCulture)}.log");

    public string InputFile(string storedName) => Combine("input-" + System.IO.Path.GetFileName(storedName));

    public long? ReadSubmittedId() =>
        File.Exists(SubmittedFile) && long.TryParse(File.ReadAllText(SubmittedFile).Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out long id) ? id : null;

    /// <summary>The job script: one exec of the KneeWeb command, every argument single-quoted for sh.</summary>
    public string ScriptText(Guid jobId, IReadOnlyList<string> command)
    {
        ArgumentNullException.ThrowIfNull(command);
        var text = new StringBuilder("#!/bin/sh\n");
        text.Append("# KneeWeb job ").Append(jobId.ToString("D")).Append(", written by the site's Slurm executor.\n");
        // Slurm requeues a job whose node failed and runs this script again (SLURM_RESTART_COUNT > 0):
        // the new run starts from the input, so what the lost run left (a finished or half-written
        // result, an error) must not make it fail or be taken for its outcome. progress.jsonl stays:
        // the site follows it by offset and the new run appends to it.
        text.Append("if [ \"${SLURM_RESTART_COUNT:-0}\" != 0 ]; then rm -rf ")
            .Append(Quote(ResultFolder)).Append(' ')
            .Append(Quote(ResultFolder + JobFolderWriter.TempMarker)).Append("* ")
            .Append(Quote(ErrorFile)).Append("; fi\n");
        // .NET caps its heap at 75 % of the job's cgroup by default, so a job could use only three
        // quarters of the memory it was given. With the whole allowance, a job that needs more ends
        // either by Slurm's limit (OUT_OF_MEMORY) or by .NET's OutOfMemoryException; both become the
        // memory error that names the job's memory and says to raise it.
        text.Append("export DOTNET_GCHeapHardLimitPercent=0x64\n");
        text.Append("exec");
        foreach (string arg in command)
        {
            text.Append(' ').Append(Quote(arg));
        }

        return text.Append('\n').ToString();
    }

    public static string Quote(string arg)
    {
        ArgumentNullException.ThrowIfNull(arg);
        return "'" + arg.Replace("'", "'\\''", StringComparison.Ordinal) + "'";
    }

    /// <summary>The last lines of the Slurm log, for the error details admins see.</summary>
    public string LogTail(long slurmJobId, int lines = 15)
    {
        string log = LogFile(slurmJobId);
        if (!File.Exists(log))
        {
            return "";
        }

        try
        {
            string[] all = File.ReadAllLines(log);
            return string.Join(Environment.NewLine, all.Skip(Math.Max(0, all.Length - lines)));
        }
        catch (IOException)
        {
            return "";
        }
    }

    public void Delete()
    {
        try
        {
            if (Directory.Exists(Path))
            {
                Directory.Delete(Path, recursive: true);
            }
        }
        catch (IOException)
        {
            // Best effort: a node may still hold a file open; retention can remove it later.
        }
        catch (UnauthorizedAccessException)
        {
        }
    }

    /// <summary>The resources of one job: the defaults, overridden by the model's entry.</summary>
    public static SlurmModelResources ResourcesFor(SlurmOptions settings, string? model)
    {
        ArgumentNullException.ThrowIfNull(settings);
        SlurmModelResources? own = model is not null && settings.Models.TryGetValue(model, out SlurmModelResources? m) ? m : null;
        return new SlurmModelResources
        {
            Partition = own?.Partition ?? settings.Partition,
            Gres = own?.Gres ?? settings.Gres,
            MemoryMb = own?.MemoryMb ?? settings.MemoryMb,
            Cpus = own?.Cpus ?? settings.Cpus,
            TimeLimit = own?.TimeLimit ?? settings.TimeLimit,
        };
    }

    private string Combine(string name) => System.IO.Path.Combine(Path, name);
}
