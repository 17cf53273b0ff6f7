using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using KneeWeb.Data;
using KneeWeb.Pipeline;
using KneeWeb.Setup;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace KneeWeb.Jobs.Slurm;

/// <summary>
/// Runs jobs on a Slurm cluster: writes the job's input and options into its folder on the shared
/// root, submits `KneeWeb process` there with sbatch, then follows the job (squeue through the
/// <see cref="SlurmWatch"/>, progress lines from its folder) and records how it ended. A job that
/// already has a Slurm id is re-attached, never submitted again.
/// </summary>
public sealed class SlurmExecutor(
    ISlurmClient slurm,
    SlurmWatch watch,
    JobStore store,
    JobNotifier notifier,
    JobCancellations cancellations,
    JobEndings endings,
    SlurmCommandLine commandLine,
    IOptions<KneeWebOptions> options,
    ILogger<SlurmExecutor> logger) : IJobExecutor
{
    /// <summary>Polls in a row in which Slurm must not know a job before it is resolved from its folder.</summary>
    private const int ForgottenPolls = 2;

    private readonly KneeWebOptions settings = options.Value;

    public JobExecutorKind Kind => JobExecutorKind.Slurm;

    public int Concurrency => Math.Max(1, settings.Jobs.Slurm.MaxSubmitted);

    public async Task RunAsync(Guid jobId, CancellationToken stopping)
    {
        Job? job = await store.FindAsync(jobId, stopping);
        if (job is null || job.Status is not (JobStatus.Queued or JobStatus.Running))
        {
            return;
        }

        var folder = new SlurmJobFolder(settings.SlurmJobsPath, jobId);
        long? slurmId = job.SlurmJobId;
        if (slurmId is null && folder.ReadSubmittedId() is long written)
        {
            // sbatch answered but the site died before the row was written: adopt that Slurm job.
            slurmId = written;
            await RecordSubmissionAsync(jobId, written, "Re-attached to Slurm job {0} found in the job's folder.");
        }

        if (slurmId is null)
        {
            if (job.Status != JobStatus.Queued || job.CancelRequested)
            {
                return;
            }

            slurmId = await SubmitAsync(job, folder, stopping);
            if (slurmId is null)
            {
                return;
            }
        }
        else
        {
            logger.LogInformation("Re-attaching job {JobId} to Slurm job {SlurmJobId}", jobId, slurmId);
        }

        await FollowAsync(job, folder, slurmId.Value, stopping);
    }

    public async Task<ExecutorHealth> HealthAsync(CancellationToken ct)
    {
        bool reachable;
        string cluster;
        try
        {
            cluster = await slurm.DescribeClusterAsync(ct);
            reachable = true;
        }
        catch (SlurmCommandException ex)
        {
            watch.RecordError(ex.Message);
            cluster = ex.Message;
            reachable = false;
        }

        (int followed, int waiting) = watch.Counts();
        return new ExecutorHealth("slurm", reachable, cluster, followed, waiting, watch.LastError, watch.LastErrorUtc);
    }

    /// <summary>Writes the folder and submits; returns the Slurm id, or null when the job ended here (failed to submit, or cancelled meanwhile).</summary>
    private async Task<long?> SubmitAsync(Job job, SlurmJobFolder folder, CancellationToken stopping)
    {
        SlurmSubmission submission;
        try
        {
            submission = Prepare(job, folder);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            await endings.FailAsync(job.Id, ErrorMapper.Map(ex, null), JobStatus.Failed);
            return null;
        }

        long slurmId;
        try
        {
            slurmId = await slurm.SubmitAsync(submission, stopping);
        }
        catch (SlurmCommandException ex)
        {
            watch.RecordError(ex.Message);
            await endings.FailAsync(job.Id, ErrorCatalog.Create(ErrorCode.CONFIG_ERROR, ex.Message, "The cluster refused the job; an administrator can see why in the details."), JobStatus.Failed);
            folder.Delete();
            return null;
        }

        await File.WriteAllTextAsync(folder.SubmittedFile, slurmId.ToString(CultureInfo.InvariantCulture), CancellationToken.None);
        bool wanted = await RecordSubmissionAsync(job.Id, slurmId, "Submitted to Slurm as job {0}.");
        if (!wanted)
        {
            // Cancelled while it was being submitted.
            await TryCancelAsync(slurmId);
        }

        return slurmId;
    }

    private SlurmSubmission Prepare(Job job, SlurmJobFolder folder)
    {
        if (Directory.Exists(folder.Path))
        {
            Directory.Delete(folder.Path, recursive: true);
        }

        Directory.CreateDirectory(folder.Path);
        string upload = Path.Combine(settings.FullDataRoot, job.InputPath);
        string input = folder.InputFile(job.InputPath);
        if (Directory.Exists(upload))
        {
            throw new IOException($"The stored upload {job.InputPath} is a folder; the Slurm executor takes files.");
        }

        File.Copy(upload, input);
        File.WriteAllText(folder.OptionsFile, job.OptionsJson);
        PipelineOptions pipelineOptions = JsonSerializer.Deserialize<PipelineOptions>(job.OptionsJson) ?? new PipelineOptions();
        string model = string.IsNullOrWhiteSpace(pipelineOptions.Model) ? settings.DefaultModel ?? "" : pipelineOptions.Model;
        SlurmModelResources resources = SlurmJobFolder.ResourcesFor(settings.Jobs.Slurm, model);
        File.WriteAllText(folder.Script, folder.ScriptText(job.Id, commandLine.ProcessArguments(job, folder, input)));
        return new SlurmSubmission(
            "kneeweb-" + job.Id.ToString("D"),
            folder.Path,
            folder.Script,
            Path.Combine(folder.Path, "slurm-%j.log"),
            SlurmStates.Minutes(resources.TimeLimit),
            resources.MemoryMb ?? settings.Jobs.Slurm.MemoryMb,
            resources.Cpus ?? settings.Jobs.Slurm.Cpus,
            resources.Partition,
            settings.Jobs.Slurm.Account,
            resources.Gres);
    }

    /// <summary>Stores the Slurm id on the row; false when the row is no longer waiting (cancelled meanwhile).</summary>
    private Task<bool> RecordSubmissionAsync(Guid jobId, long slurmId, string message) =>
        store.WriteAsync(async db =>
        {
            Job? row = await db.Jobs.FirstOrDefaultAsync(j => j.Id == jobId);
            if (row is null)
            {
                return false;
            }

            row.SlurmJobId = slurmId;
            db.JobEvents.Add(JobStore.Event(jobId, "status", string.Format(CultureInfo.InvariantCulture, message, slurmId)));
            return row.Status is JobStatus.Queued or JobStatus.Running;
        });

    private async Task FollowAsync(Job job, SlurmJobFolder folder, long slurmId, CancellationToken stopping)
    {
        using var userCancel = new CancellationTokenSource();
        cancellations.Register(job.Id, userCancel);
        watch.Follow(slurmId);
        var recorder = new JobProgressRecorder(job.Id, store, notifier, settings.Jobs.ProgressPersistInterval);
        var follower = new ProgressFileFollower(folder.ProgressFile);
        var tracker = new FollowState(job.Status);
        if (tracker.Running)
        {
            // Re-attached after a restart: the steps so far are already on the timeline; show where it is now.
            ProgressLine? last = follower.ReadNew().LastOrDefault(l => l.Kind == ProgressLineKind.Progress);
            if (last is not null)
            {
                ProgressLog.Replay(last, folder.Path, recorder);
            }
        }

        try
        {
            if ((await store.FindAsync(job.Id, CancellationToken.None))?.CancelRequested == true)
            {
                await userCancel.CancelAsync();
            }

            int forgotten = 0;
            while (true)
            {
                if (userCancel.IsCancellationRequested && !tracker.CancelSent)
                {
                    tracker.CancelSent = await TryCancelAsync(slurmId);
                }

                SlurmPoll poll = await watch.NextAsync(slurmId, stopping);
                if (poll.Error is not null)
                {
                    continue; // Slurm did not answer; the job is where it was. The health shows the error.
                }

                if (poll.Status is not { } status)
                {
                    if (++forgotten >= ForgottenPolls)
                    {
                        await ResolveForgottenAsync(job, folder, slurmId, recorder, follower, tracker);
                        return;
                    }

                    continue;
                }

                forgotten = 0;
                SlurmPhase phase = SlurmStates.PhaseOf(status.State);
                if (phase == SlurmPhase.Waiting)
                {
                    await WaitingAsync(job.Id, status, tracker);
                    continue;
                }

                if (phase == SlurmPhase.Running || File.Exists(folder.ProgressFile))
                {
                    await MarkRunningAsync(job.Id, slurmId, tracker);
                }

                Pump(folder, follower, recorder, tracker);
                if (phase != SlurmPhase.Running)
                {
                    await recorder.FlushAsync();
                    await EndAsync(job.Id, folder, status, userCancel.IsCancellationRequested);
                    return;
                }
            }
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
            // The site stops; the Slurm job does not. The next start re-attaches to it.
            await recorder.FlushAsync();
        }
        finally
        {
            watch.Unfollow(slurmId);
            cancellations.Unregister(job.Id);
        }
    }

    private static void Pump(SlurmJobFolder folder, ProgressFileFollower follower, JobProgressRecorder recorder, FollowState tracker)
    {
        if (!tracker.Running)
        {
            return;
        }

        foreach (ProgressLine line in follower.ReadNew())
        {
            ProgressLog.Replay(line, folder.Path, recorder);
        }
    }

    private async Task WaitingAsync(Guid jobId, SlurmJobStatus status, FollowState tracker)
    {
        string reason = string.IsNullOrWhiteSpace(status.Reason) || status.Reason == "None" ? SlurmStates.Name(status.State) : status.Reason;
        string message = $"Waiting for the cluster ({reason})";
        if (tracker.Running)
        {
            // Slurm put it back in line (a node failed): say so, and show it waiting again.
            await store.WriteAsync(async db =>
            {
                Job? row = await db.Jobs.FirstOrDefaultAsync(j => j.Id == jobId);
                if (row is { Status: JobStatus.Running })
                {
                    row.Status = JobStatus.Queued;
                    row.Percent = 0;
                    row.CurrentStepIndex = 0;
                    row.CurrentStep = null;
                    db.JobEvents.Add(JobStore.Event(jobId, "retry", $"Requeued by Slurm: the run stopped on its node (node failure or the node taken down) and Slurm put it back in line ({SlurmStates.Name(status.State)}, reason {reason}); it will run again on the cluster."));
                }
            });
            tracker.Running = false;
        }

        if (tracker.WaitingMessage != message)
        {
            tracker.WaitingMessage = message;
            await store.WriteAsync(db =>
            {
                db.JobEvents.Add(JobStore.Event(jobId, "status", message));
                return Task.CompletedTask;
            });
            notifier.Publish(new JobUpdate(jobId, JobStatus.Queued, 0, KneeSteps.All.Count, null, "waiting", 0, 0, null, message, null, DateTime.UtcNow));
        }
    }

    /// <summary>Queued -> Running when Slurm starts the job (once per start; a requeue starts it again).</summary>
    private async Task MarkRunningAsync(Guid jobId, long slurmId, FollowState tracker)
    {
        if (tracker.Running)
        {
            return;
        }

        tracker.Running = true;
        tracker.WaitingMessage = null;
        Job? row = await store.WriteAsync(async db =>
        {
            Job? r = await db.Jobs.FirstOrDefaultAsync(j => j.Id == jobId);
            if (r is not { Status: JobStatus.Queued })
            {
                return null;
            }

            r.Status = JobStatus.Running;
            r.Attempt++;
            r.StartedUtc = DateTime.UtcNow;
            r.CurrentStepIndex = 1;
            r.CurrentStep = KneeSteps.All[0].Name;
            r.Percent = 0;
            db.JobEvents.Add(JobStore.Event(jobId, "status", $"Running on the cluster (Slurm job {slurmId}, attempt {r.Attempt})"));
            return r;
        });
        if (row is not null)
        {
            notifier.Publish(new JobUpdate(jobId, JobStatus.Running, 1, KneeSteps.All.Count, row.CurrentStep, "running", 0, 0, null, null, null, DateTime.UtcNow));
        }
    }

    private async Task EndAsync(Guid jobId, SlurmJobFolder folder, SlurmJobStatus status, bool cancelledHere)
    {
        Job? row = await store.FindAsync(jobId, CancellationToken.None);
        if (row is null || row.Status is not (JobStatus.Queued or JobStatus.Running))
        {
            folder.Delete(); // Ended here already (cancelled while waiting, deleted).
            return;
        }

        SlurmPhase phase = SlurmStates.PhaseOf(status.State);
        if (phase == SlurmPhase.Completed)
        {
            await RegisterResultsAsync(jobId, folder, $"Slurm job {status.JobId} COMPLETED");
            return;
        }

        SlurmModelResources resources = ResourcesOf(row);
        if (phase == SlurmPhase.Cancelled)
        {
            JobError cancelled = cancelledHere
                ? ErrorCatalog.Create(ErrorCode.CANCELLED, $"Cancelled by a user (Slurm job {status.JobId}).")
                : SlurmStates.ErrorFor(status, null, null, resources);
            await endings.FailAsync(jobId, cancelled, JobStatus.Cancelled);
            folder.Delete();
            return;
        }

        SlurmExitCode? exit = phase == SlurmPhase.Failed ? await slurm.ExitCodeAsync(status.JobId, CancellationToken.None) : null;
        JobError error = SlurmStates.ErrorFor(status, JobErrorFile.TryRead(folder.ErrorFile), exit, resources);
        await FailWithLogAsync(jobId, folder, status.JobId, error);
    }

    /// <summary>Slurm no longer knows the job (purged, or a new controller): its folder says how it ended.</summary>
    private async Task ResolveForgottenAsync(Job job, SlurmJobFolder folder, long slurmId, JobProgressRecorder recorder, ProgressFileFollower follower, FollowState tracker)
    {
        Pump(folder, follower, recorder, tracker);
        await recorder.FlushAsync();
        Job? row = await store.FindAsync(job.Id, CancellationToken.None);
        if (row is null || row.Status is not (JobStatus.Queued or JobStatus.Running))
        {
            folder.Delete();
            return;
        }

        string why = $"Slurm no longer knows job {slurmId}";
        if (File.Exists(Path.Combine(folder.ResultFolder, "stats.json")))
        {
            await RegisterResultsAsync(job.Id, folder, why + "; its results were found in the job's folder");
            return;
        }

        JobError error = JobErrorFile.TryRead(folder.ErrorFile) is { } own
            ? own with { Details = $"{own.Details}{Environment.NewLine}{why}." }
            : ErrorCatalog.Create(ErrorCode.PIPELINE_ERROR, why + ", and it left neither results nor an error in its folder.", $"The cluster lost track of it ({why}).");
        await FailWithLogAsync(job.Id, folder, slurmId, error);
    }

    private async Task RegisterResultsAsync(Guid jobId, SlurmJobFolder folder, string how)
    {
        string result = folder.ResultFolder;
        if (!File.Exists(Path.Combine(result, "stats.json")))
        {
            await FailWithLogAsync(jobId, folder, folder.ReadSubmittedId() ?? 0,
                ErrorCatalog.Create(ErrorCode.PIPELINE_ERROR, $"{how}, but the job's folder holds no results.", "The cluster job ended without writing its results."));
            return;
        }

        string final = Path.Combine(settings.JobsPath, jobId.ToString("D"));
        IReadOnlyList<ArtifactInfo> artifacts = await JobFolderWriter.DescribeAsync(result, CancellationToken.None);
        MoveIntoPlace(result, final);
        await store.WriteAsync(db =>
        {
            db.JobEvents.Add(JobStore.Event(jobId, "status", $"{how}; results registered."));
            return Task.CompletedTask;
        });
        await endings.CompleteAsync(jobId, DetectedFormat(Path.Combine(final, "stats.json")), artifacts);
        folder.Delete();
    }

    /// <summary>Moves the finished result folder to the site's jobs folder; across file systems, copy then rename, so it appears whole.</summary>
    private static void MoveIntoPlace(string result, string final)
    {
        if (Directory.Exists(final))
        {
            Directory.Delete(final, recursive: true);
        }

        Directory.CreateDirectory(Path.GetDirectoryName(final)!);
        try
        {
            Directory.Move(result, final);
        }
        catch (IOException)
        {
            string temp = final + JobFolderWriter.TempMarker + Guid.NewGuid().ToString("N")[..8];
            foreach (string file in Directory.EnumerateFiles(result, "*", SearchOption.AllDirectories))
            {
                string target = Path.Combine(temp, Path.GetRelativePath(result, file));
                Directory.CreateDirectory(Path.GetDirectoryName(target)!);
                File.Copy(file, target);
            }

            Directory.Move(temp, final);
        }
    }

    private static string? DetectedFormat(string statsPath)
    {
        try
        {
            return JsonNode.Parse(File.ReadAllText(statsPath))?["input"]?["format"]?.GetValue<string>();
        }
        catch (Exception ex) when (ex is JsonException or IOException or InvalidOperationException)
        {
            return null;
        }
    }

    private async Task FailWithLogAsync(Guid jobId, SlurmJobFolder folder, long slurmId, JobError error)
    {
        string tail = folder.LogTail(slurmId);
        JobError withLog = tail.Length == 0 ? error : error with { Details = $"{error.Details}{Environment.NewLine}Slurm log (last lines):{Environment.NewLine}{tail}" };
        await endings.FailAsync(jobId, withLog, JobStatus.Failed);
        folder.Delete();
    }

    private async Task<bool> TryCancelAsync(long slurmId)
    {
        try
        {
            await slurm.CancelAsync(slurmId, CancellationToken.None);
            return true;
        }
        catch (SlurmCommandException ex)
        {
            watch.RecordError(ex.Message);
            return false;
        }
    }

    private SlurmModelResources ResourcesOf(Job row)
    {
        PipelineOptions? pipelineOptions = null;
        try
        {
            pipelineOptions = JsonSerializer.Deserialize<PipelineOptions>(row.OptionsJson);
        }
        catch (JsonException)
        {
        }

        string model = string.IsNullOrWhiteSpace(pipelineOptions?.Model) ? settings.DefaultModel ?? "" : pipelineOptions.Model;
        return SlurmJobFolder.ResourcesFor(settings.Jobs.Slurm, model);
    }

    /// <summary>What one follow has seen so far.</summary>
    private sealed class FollowState(JobStatus initial)
    {
        public bool Running { get; set; } = initial == JobStatus.Running;

        public bool CancelSent { get; set; }

        public string? WaitingMessage { get; set; }
    }
}
