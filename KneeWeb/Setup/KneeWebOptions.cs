namespace KneeWeb.Setup;

/// <summary>Settings under the "KneeWeb" section (env: KneeWeb__DataRoot, ...).</summary>
public sealed class KneeWebOptions
{
    public const string Section = "KneeWeb";

    /// <summary>Folder holding the database, uploads and job folders. Relative paths are taken from the working directory.</summary>
    public string DataRoot { get; set; } = "data";

    /// <summary>Folder of segmentation models (&lt;name&gt;.onnx + &lt;name&gt;.json).</summary>
    public string ModelsPath { get; set; } = "models";

    /// <summary>
    /// Model a job uses when it names none, and the one the Upload page offers first. Empty, missing or
    /// disabled = the first enabled model in the registry.
    /// </summary>
    public string? DefaultModel { get; set; } = "phantom-knee";

    /// <summary>Largest upload accepted, in bytes (streamed to disk, never held in memory).</summary>
    public long MaxUploadBytes { get; set; } = 2L * 1024 * 1024 * 1024;

    /// <summary>Uploads are refused while the data folder would have less than this free afterwards.</summary>
    public long MinFreeDiskBytes { get; set; } = 1L * 1024 * 1024 * 1024;

    public JobOptions Jobs { get; set; } = new();

    public RetentionOptions Retention { get; set; } = new();

    public LimitOptions Limits { get; set; } = new();

    public CohortOptions Cohort { get; set; } = new();

    public string DatabasePath => Path.Combine(FullDataRoot, "kneeweb.db");

    public string UploadsPath => Path.Combine(FullDataRoot, "uploads");

    public string JobsPath => Path.Combine(FullDataRoot, "jobs");

    public string FullDataRoot => Path.GetFullPath(DataRoot);

    /// <summary>The folder of Slurm job folders (shared with the compute nodes).</summary>
    public string SlurmJobsPath => string.IsNullOrWhiteSpace(Jobs.Slurm.SharedRoot) ? Path.Combine(FullDataRoot, "slurm") : Path.GetFullPath(Jobs.Slurm.SharedRoot);
}

public sealed class JobOptions
{
    /// <summary>Jobs run at once. One by default: segmentation saturates the machine.</summary>
    public int Concurrency { get; set; } = 1;

    /// <summary>Capacity of the in-memory queue; the database row stays the truth beyond it.</summary>
    public int QueueCapacity { get; set; } = 1000;

    /// <summary>Wall-clock limit per job; past it the job ends with TIMEOUT.</summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromHours(2);

    /// <summary>How many times a job interrupted by a restart is run in all before it is failed.</summary>
    public int MaxAttempts { get; set; } = 2;

    /// <summary>
    /// Most memory one job may need, in bytes, as estimated from the image header and the model before
    /// any voxel is read; a larger image is refused with IMAGE_TOO_LARGE (at upload where the header is
    /// cheap to read, else when the job starts). Null or 0: (the machine's memory - a reserve for the
    /// server itself) / <see cref="Concurrency"/>.
    /// </summary>
    public long? MaxJobMemoryBytes { get; set; }

    /// <summary>Least interval between two persisted progress updates of one job.</summary>
    public TimeSpan ProgressPersistInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// Diagnostics only: a pause added to every step, so crash, cancel and timeout behaviour can be
    /// exercised on inputs that otherwise finish in a blink. Zero in production.
    /// </summary>
    public TimeSpan DiagnosticStepDelay { get; set; } = TimeSpan.Zero;

    /// <summary>Where jobs run: inprocess (this server) or slurm (a cluster; see <see cref="Slurm"/>).</summary>
    public JobExecutorKind Executor { get; set; } = JobExecutorKind.InProcess;

    public SlurmOptions Slurm { get; set; } = new();
}

/// <summary>How long results and originals are kept.</summary>
/// <summary>Cohort outliers (settings under "KneeWeb:Cohort"; see Jobs.CohortOutliers).</summary>
public sealed class CohortOptions
{
    /// <summary>A model's cohort needs at least this many completed, QC-pass, included jobs before outliers are scored.</summary>
    public int OutlierMinJobs { get; set; } = 20;

    /// <summary>How far (robust z of the anomaly score: distance from the median in scaled MADs) a job must sit from the rest to be flagged.</summary>
    public double OutlierThreshold { get; set; } = 6.0;
}

public sealed class RetentionOptions
{
    /// <summary>Days a finished job (row, results, upload) is kept; null keeps them forever.</summary>
    public int? ResultsDays { get; set; }

    /// <summary>Delete a job's uploaded original once the job has completed (results stay).</summary>
    public bool DeleteOriginalsAfterProcessing { get; set; }

    public TimeSpan SweepInterval { get; set; } = TimeSpan.FromHours(1);
}

/// <summary>
/// Per-user limits (settings under "KneeWeb:Limits"), so one account or one runaway script cannot fill
/// the queue or the disk for everyone. A request over a limit is answered 429 with Retry-After and the
/// catalog code RATE_LIMITED; nothing is stored. Zero turns a limit off.
/// </summary>
public sealed class LimitOptions
{
    /// <summary>Jobs one user may have waiting or running at once.</summary>
    public int MaxQueuedJobsPerUser { get; set; } = 20;

    /// <summary>Uploads (and sample jobs) one user may start per hour.</summary>
    public int UploadsPerHour { get; set; } = 100;

    /// <summary>Bytes one user may upload per hour.</summary>
    public long UploadBytesPerHour { get; set; } = 20L * 1024 * 1024 * 1024;
}
