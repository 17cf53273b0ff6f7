using KneeWeb.Data;
using KneeWeb.Jobs;
using KneeWeb.Pipeline;
using KneeWeb.Security;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.StaticFiles;

namespace KneeWeb.Api;

/// <summary>
/// The `/v1` HTTP API for scripts and other clients. Every endpoint but /healthz needs sign-in (the
/// fallback policy); every job is checked with <see cref="JobAccess"/>, and one the caller may not
/// see is answered exactly like a missing one.
/// </summary>
public static class JobsEndpoints
{
    private static readonly FileExtensionContentTypeProvider ContentTypes = new();

    public static IEndpointRouteBuilder MapKneeWebApi(this IEndpointRouteBuilder app)
    {
        RouteGroupBuilder v1 = app.MapGroup("/v1").WithTags("KneeWeb");
        v1.MapGet("/healthz", () => Results.Ok(new { status = "ok" })).WithName("Health").AllowAnonymous();
        v1.MapGet("/server/info", (ServerInfoProvider info, CancellationToken ct) => info.GetAsync(ct)).WithName("ServerInfo");
        v1.MapPost("/jobs", (HttpContext http, UploadReceiver receiver) => receiver.ReceiveAsync(http))
            .WithName("SubmitJob")
            .WithDescription("multipart/form-data with the volume in a part named 'file' and, optionally, the job options as JSON in a part named 'options'. The body is read as a stream (no form binding), so other content types get a CONFIG_ERROR problem rather than a bare 415.")
            .Produces<SubmittedView>(StatusCodes.Status202Accepted)
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status413PayloadTooLarge)
            .ProducesProblem(StatusCodes.Status429TooManyRequests);
        v1.MapGet("/jobs", ListAsync).WithName("ListJobs");
        v1.MapGet("/jobs/{id:guid}", GetAsync).WithName("GetJob");
        v1.MapGet("/jobs/{id:guid}/events", EventsAsync).WithName("GetJobEvents");
        v1.MapDelete("/jobs/{id:guid}", DeleteAsync).WithName("CancelOrDeleteJob");
        v1.MapPost("/jobs/{id:guid}/exclude", ExcludeAsync).WithName("ExcludeJobFromCohort")
            .WithDescription("Leaves the job out of the cohort (tables, CSV, outlier models) but keeps it and its files. Optional JSON body {\"reason\": \"...\"}.");
        v1.MapPost("/jobs/{id:guid}/include", IncludeAsync).WithName("IncludeJobInCohort")
            .WithDescription("Puts a job left out of the cohort back in.");
        v1.MapGet("/jobs/{id:guid}/artifacts", ArtifactsAsync).WithName("ListArtifacts");
        v1.MapGet("/jobs/{id:guid}/artifacts/{**name}", DownloadAsync).WithName("DownloadArtifact");
        return app;
    }

    private static async Task<IResult> ListAsync(HttpContext http, JobAccess access, JobService jobs, JobNotifier notifier, string? status, string? owner, string? subject, int? limit, CancellationToken ct)
    {
        AccessSubject caller = await access.SubjectAsync(http, ct);
        JobStatus? parsed = null;
        if (!string.IsNullOrEmpty(status))
        {
            if (!Enum.TryParse(status, ignoreCase: true, out JobStatus s))
            {
                return ApiErrors.Problem(ErrorCode.CONFIG_ERROR, StatusCodes.Status400BadRequest, $"status must be one of {string.Join(", ", Enum.GetNames<JobStatus>())}.");
            }

            parsed = s;
        }

        List<Job> list = await jobs.ListAsync(new JobFilter(parsed, owner, subject, limit ?? 500), ct);
        var views = new List<JobView>(list.Count);
        foreach (Job job in list)
        {
            // The query filter already kept only visible jobs; checked again here, as everywhere.
            if (JobAccess.CanView(caller, job))
            {
                views.Add(JobView.From(job, notifier.LatestUpdate(job.Id)));
            }
        }

        return Results.Ok(views);
    }

    private static async Task<IResult> GetAsync(Guid id, HttpContext http, JobAccess access, AuditLog audit, JobNotifier notifier, CancellationToken ct)
    {
        Job? job = await access.FindAsync(http, id, AuditActions.View, ct);
        if (job is null)
        {
            return ApiErrors.NotFound("The job");
        }

        await audit.RecordViewAsync(http, http.User, id);
        return Results.Ok(JobView.From(job, notifier.LatestUpdate(id)));
    }

    private static async Task<IResult> EventsAsync(Guid id, HttpContext http, JobAccess access, JobService jobs, CancellationToken ct)
    {
        Job? job = await access.FindAsync(http, id, AuditActions.View, ct) is null ? null : await jobs.GetWithDetailsAsync(id, ct);
        if (job is null)
        {
            return ApiErrors.NotFound("The job");
        }

        var events = new List<JobEventView>(job.Events.Count);
        foreach (JobEvent e in job.Events)
        {
            events.Add(new JobEventView(e.TimestampUtc, e.Kind, e.StepIndex, e.Step, e.Message, e.DurationSeconds));
        }

        return Results.Ok(events);
    }

    /// <summary>Cancels a queued or running job; deletes a finished one with its files.</summary>
    private static async Task<IResult> DeleteAsync(Guid id, HttpContext http, JobAccess access, AuditLog audit, JobService jobs, CancellationToken ct)
    {
        Job? job = await access.FindAsync(http, id, AuditActions.Delete, ct);
        if (job is null)
        {
            return ApiErrors.NotFound("The job");
        }

        if (!JobAccess.CanModify(await access.SubjectAsync(http, ct), job))
        {
            await audit.RecordAsync(http, AuditActions.AccessDenied, id, "cancel or delete (not the submitter, a lead of the group or an admin)");
            return Results.Problem(statusCode: StatusCodes.Status403Forbidden, title: "Only the submitter, a lead of the job's group or an administrator may cancel or delete this job.",
                extensions: new Dictionary<string, object?> { ["code"] = "FORBIDDEN" });
        }

        if (job.Status is JobStatus.Queued or JobStatus.Running)
        {
            await jobs.CancelAsync(id, ct);
            await audit.RecordAsync(http, AuditActions.Cancel, id);
            return Results.Accepted($"/v1/jobs/{id:D}", new { id, action = "cancel-requested" });
        }

        await jobs.DeleteAsync(id, ct);
        await audit.RecordAsync(http, AuditActions.Delete, id, job.InputFileName);
        return Results.NoContent();
    }

    /// <summary>Leaves a job out of the cohort; the submitter, a lead of its group or an admin may, as for delete.</summary>
    private static async Task<Results<Ok<JobView>, ProblemHttpResult>> ExcludeAsync(
        Guid id, HttpContext http, JobAccess access, AuditLog audit, JobService jobs, JobNotifier notifier, [FromBody] ExcludeRequest? body, CancellationToken ct)
    {
        string? reason = body?.Reason is { } r && r.Length > MaxExclusionReason ? r[..MaxExclusionReason] : body?.Reason;
        if (await ModifiableAsync(http, id, access, audit, AuditActions.ExcludeFromCohort, ct) is { } refused)
        {
            return refused;
        }

        string by = http.User.Identity?.Name ?? "unknown";
        Job? changed = await jobs.ExcludeFromCohortAsync(id, by, reason, ct);
        if (changed is null)
        {
            return NotFound();
        }

        await audit.RecordAsync(http, AuditActions.ExcludeFromCohort, id, detail: changed.ExclusionReason);
        return TypedResults.Ok(JobView.From(changed, notifier.LatestUpdate(id)));
    }

    private static async Task<Results<Ok<JobView>, ProblemHttpResult>> IncludeAsync(
        Guid id, HttpContext http, JobAccess access, AuditLog audit, JobService jobs, JobNotifier notifier, CancellationToken ct)
    {
        if (await ModifiableAsync(http, id, access, audit, AuditActions.IncludeInCohort, ct) is { } refused)
        {
            return refused;
        }

        Job? changed = await jobs.IncludeInCohortAsync(id, ct);
        if (changed is null)
        {
            return NotFound();
        }

        await audit.RecordAsync(http, AuditActions.IncludeInCohort, id);
        return TypedResults.Ok(JobView.From(changed, notifier.LatestUpdate(id)));
    }

    // Reasons are notes for people, not documents.
    private const int MaxExclusionReason = 1000;

    /// <summary>Null when the caller may change the job; else the 404 (not visible) or 403 (visible, not theirs) to answer.</summary>
    private static async Task<ProblemHttpResult?> ModifiableAsync(HttpContext http, Guid id, JobAccess access, AuditLog audit, string action, CancellationToken ct)
    {
        Job? job = await access.FindAsync(http, id, action, ct);
        if (job is null)
        {
            return NotFound();
        }

        if (!JobAccess.CanModify(await access.SubjectAsync(http, ct), job))
        {
            await audit.RecordAsync(http, AuditActions.AccessDenied, id, $"{action} (not the submitter, a lead of the group or an admin)");
            return TypedResults.Problem(statusCode: StatusCodes.Status403Forbidden, title: "Only the submitter, a lead of the job's group or an administrator may change this job.",
                extensions: new Dictionary<string, object?> { ["code"] = "FORBIDDEN" });
        }

        return null;
    }

    private static ProblemHttpResult NotFound() =>
        TypedResults.Problem(new ProblemDetails { Status = StatusCodes.Status404NotFound, Title = "The job was not found.", Extensions = { ["code"] = "NOT_FOUND" } });

    private static async Task<IResult> ArtifactsAsync(Guid id, HttpContext http, JobAccess access, JobService jobs, CancellationToken ct)
    {
        if (await access.FindAsync(http, id, AuditActions.View, ct) is null)
        {
            return ApiErrors.NotFound("The job");
        }

        List<Artifact> artifacts = await jobs.ArtifactsAsync(id, ct);
        var views = new List<ArtifactView>(artifacts.Count);
        foreach (Artifact a in artifacts)
        {
            views.Add(new ArtifactView(a.Name, a.Kind, a.SizeBytes, a.Sha256, $"/v1/jobs/{id:D}/artifacts/{a.Name}"));
        }

        return Results.Ok(views);
    }

    private static async Task<IResult> DownloadAsync(Guid id, string name, HttpContext http, JobAccess access, AuditLog audit, JobService jobs, CancellationToken ct)
    {
        if (await access.FindAsync(http, id, $"{AuditActions.Download} {name}", ct) is null)
        {
            return ApiErrors.NotFound("The job");
        }

        List<Artifact> artifacts = await jobs.ArtifactsAsync(id, ct);
        Artifact? artifact = artifacts.Find(a => string.Equals(a.Name, name, StringComparison.Ordinal));
        string? path = artifact is null ? null : jobs.ArtifactPath(id, artifact.Name);
        if (path is null)
        {
            return ApiErrors.Problem(ErrorCode.FILE_NOT_FOUND, StatusCodes.Status404NotFound, $"The job has no file named '{name}'.");
        }

        await audit.RecordFetchAsync(http, id, name);
        string contentType = name.EndsWith(".gz", StringComparison.OrdinalIgnoreCase)
            ? "application/gzip"
            : ContentTypes.TryGetContentType(name, out string? ct2) ? ct2 : "application/octet-stream";
        return Results.File(path, contentType, fileDownloadName: Path.GetFileName(name), enableRangeProcessing: true);
    }
}
