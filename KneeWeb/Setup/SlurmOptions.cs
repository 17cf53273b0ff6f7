namespace KneeWeb.Setup;

/// <summary>Where jobs run: in this process (the default) or on a Slurm cluster.</summary>
public enum JobExecutorKind
{
    InProcess,
    Slurm,
}

/// <summary>
/// Settings under "KneeWeb:Jobs:Slurm", used when KneeWeb:Jobs:Executor is slurm. Resources apply
/// to every job; <see cref="Models"/> overrides them per segmentation model (a GPU partition and
/// --gres for the models that want one).
/// </summary>
public sealed class SlurmOptions
{
    /// <summary>
    /// Folder both the site and the compute nodes see (NFS, Lustre...). Each job gets a folder
    /// here holding its input, options, progress, error and result. Empty = &lt;DataRoot&gt;/slurm.
    /// </summary>
    public string? SharedRoot { get; set; }

    /// <summary>
    /// The KneeWeb binary as the compute nodes start it (an apphost path, or "dotnet /path/KneeWeb.dll").
    /// Empty = the binary this site runs from, which suits a site on the shared file system.
    /// </summary>
    public string? Command { get; set; }

    /// <summary>Models folder as the compute nodes see it; empty = KneeWeb:ModelsPath.</summary>
    public string? ModelsPath { get; set; }

    public string? Partition { get; set; }

    public string? Account { get; set; }

    /// <summary>Slurm time limit per job (whole minutes, rounded up).</summary>
    public TimeSpan TimeLimit { get; set; } = TimeSpan.FromHours(2);

    /// <summary>Memory per job in MB (sbatch --mem).</summary>
    public int MemoryMb { get; set; } = 8192;

    /// <summary>CPUs per job (sbatch -c).</summary>
    public int Cpus { get; set; } = 4;

    /// <summary>Generic resources per job, e.g. "gpu:1" (sbatch --gres); empty = none.</summary>
    public string? Gres { get; set; }

    /// <summary>Per model name: resources that differ from the defaults above.</summary>
    public Dictionary<string, SlurmModelResources> Models { get; set; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>How often squeue is asked about the jobs this site follows.</summary>
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Longest wait for one Slurm command (sbatch, squeue, scontrol, scancel, sinfo).</summary>
    public TimeSpan CommandTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Most jobs this site keeps submitted to Slurm at once; the rest wait in the site's queue.</summary>
    public int MaxSubmitted { get; set; } = 200;

    /// <summary>SLURM_CONF for the Slurm commands, when the site's environment does not set it.</summary>
    public string? SlurmConf { get; set; }
}

/// <summary>Resources of one model's jobs; an empty field keeps the default.</summary>
public sealed class SlurmModelResources
{
    public string? Partition { get; set; }

    public string? Gres { get; set; }

    public int? MemoryMb { get; set; }

    public int? Cpus { get; set; }

    public TimeSpan? TimeLimit { get; set; }
}
