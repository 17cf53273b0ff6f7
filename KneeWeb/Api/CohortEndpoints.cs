using System.Globalization;
using System.Text;
using KneeWeb.Data;
using KneeWeb.Imaging;
using KneeWeb.Imaging.Io;
using KneeWeb.Jobs;
using KneeWeb.Jobs.Cohort;
using KneeWeb.Imaging.Segmentation;
using KneeWeb.Setup;
using Microsoft.Extensions.Options;

namespace KneeWeb.Api;

/// <summary>Read-only endpoints for the result pages: a job's input for the viewer, and the cohort table as JSON and CSV.</summary>
public static class CohortEndpoints
{
    /// <summary>Inputs NiiVue reads as they are; other formats are converted to NIfTI for the viewer.</summary>
    public static readonly string[] ViewerReadableSuffixes = [".nii", ".nii.gz", ".nrrd"];

    public static IEndpointRouteBuilder MapKneeWebCohortApi(this IEndpointRouteBuilder app)
    {
        RouteGroupBuilder v1 = app.MapGroup("/v1").WithTags("KneeWeb results");
        v1.MapGet("/jobs/{id:guid}/input", InputAsync).WithName("DownloadJobInput")
            .WithDescription("The uploaded volume as stored. With ?as=nifti, a NIfTI (.nii.gz) copy for viewers (converted once and kept beside the upload).");
        v1.MapGet("/cohort", CohortAsync).WithName("Cohort")
            .WithDescription("Jobs with their metrics (the metrics table). Filters: subject, tag (one of the job's tags, exactly), model, from, to (ISO dates, UTC), status (default Completed; 'any' for all), verdict (pass, review, fail), excluded (true to list jobs excluded from the cohort too). Paging: skip, take (at most 1000), sort (a column key), desc (true/false).");
        v1.MapGet("/cohort.csv", CohortCsvAsync).WithName("CohortCsv")
            .WithDescription("The cohort table as CSV, oldest first: one row per job with its QC verdict and flags, one column per metric (units in the header: _mm, _mm3); same filters as /v1/cohort, no paging.");
        return app;
    }

    /// <summary>Where a job's stored upload is, if the job exists and the file is still there.</summary>
    public static string? InputPath(Job job, KneeWebOptions settings)
    {
        ArgumentNullException.ThrowIfNull(job);
        ArgumentNullException.ThrowIfNull(settings);
        string root = settings.FullDataRoot;
        string path = Path.GetFullPath(Path.Combine(root, job.InputPath));
        // The row's path is ours, but keep reads inside the data folder all the same.
        return path.StartsWith(Path.GetFullPath(settings.UploadsPath) + Path.DirectorySeparatorChar, StringComparison.Ordinal) && File.Exists(path) ? path : null;
    }

    /// <summary>True when NiiVue can read the stored upload directly.</summary>
    public static bool ViewerReadable(string path) =>
        Array.Exists(ViewerReadableSuffixes, s => path.EndsWith(s, StringComparison.OrdinalIgnoreCase));

    private static async Task<IResult> InputAsync(Guid id, string? @as, HttpContext http, Security.JobAccess access, Security.AuditLog audit, IOptions<KneeWebOptions> options, CancellationToken ct)
    {
        Job? job = await access.FindAsync(http, id, "download input", ct);
        if (job is null)
        {
            return ApiErrors.NotFound("The job");
        }

        await audit.RecordFetchAsync(http, id, "input");

        string? path = InputPath(job, options.Value);
        if (path is null)
        {
            return ApiErrors.Problem(ErrorCode.FILE_NOT_FOUND, StatusCodes.Status404NotFound, $"The input of job {id:D} is no longer stored.");
        }

        if (!string.Equals(@as, "nifti", StringComparison.OrdinalIgnoreCase) || path.EndsWith(".nii.gz", StringComparison.OrdinalIgnoreCase) || path.EndsWith(".nii", StringComparison.OrdinalIgnoreCase))
        {
            return Results.File(path, "application/octet-stream", fileDownloadName: Path.GetFileName(path), enableRangeProcessing: true);
        }

        string converted = ViewerInput.ConvertedPath(job, path);
        if (!File.Exists(converted))
        {
            try
            {
                await Task.Run(() =>
                {
                    Volume volume = VolumeIo.Read(path, ViewerInput.ReadOptions(job, path));
                    // The writer picks the format from the extension, so the partial name keeps ".nii.gz".
                    string partial = Path.Combine(Path.GetDirectoryName(converted)!, $"viewer-{Guid.NewGuid():N}.partial.nii.gz");
                    VolumeIo.Write(volume, partial);
                    File.Move(partial, converted, overwrite: true);
                }, ct);
            }
            catch (Exception e) when (e is InvalidImageException or DicomSeriesException or IOException)
            {
                return ApiErrors.Problem(ErrorCode.INVALID_FORMAT, StatusCodes.Status422UnprocessableEntity, $"The input could not be converted for the viewer: {e.Message}");
            }
        }

        return Results.File(converted, "application/octet-stream", fileDownloadName: "input.nii.gz", enableRangeProcessing: true);
    }

    private static async Task<IResult> CohortAsync(HttpContext http, JobStore store, Security.JobAccess access, CancellationToken ct)
    {
        (CohortFilter? filter, IResult? error) = ParseFilter(http.Request.Query);
        if (filter is null)
        {
            return error!;
        }

        int skip = int.TryParse(http.Request.Query["skip"], NumberStyles.None, CultureInfo.InvariantCulture, out int s) ? s : 0;
        int take = int.TryParse(http.Request.Query["take"], NumberStyles.None, CultureInfo.InvariantCulture, out int t) ? Math.Clamp(t, 1, 1000) : 1000;
        bool descending = !string.Equals(http.Request.Query["desc"], "false", StringComparison.OrdinalIgnoreCase);
        CohortSlice page = await new CohortQueries(store).PageAsync(filter, http.Request.Query["sort"].ToString() is { Length: > 0 } key ? key : "created", descending, skip, take, ct);
        List<CohortRow> rows = await access.VisibleAsync(http, [.. page.Rows], r => r.Id, ct);
        http.Response.Headers["X-Total-Count"] = page.Total.ToString(CultureInfo.InvariantCulture);
        var views = new List<Dictionary<string, object?>>(rows.Count);
        foreach (CohortRow row in rows)
        {
            var view = new Dictionary<string, object?>(StringComparer.Ordinal)
            {
                ["job_id"] = row.Id,
                ["subject_id"] = row.Subject,
                ["knee_side"] = row.KneeSide,
                ["owner"] = row.Owner,
                ["created_utc"] = row.CreatedUtc,
                ["status"] = row.Status.ToString(),
                ["model"] = row.Model,
                ["tags"] = row.Tags,
                ["notes"] = row.Notes,
                ["excluded"] = row.Excluded,
                ["qc_verdict"] = row.Verdict?.Name(),
                ["qc_flags"] = row.QcFlagCodes,
                ["cohort_outlier_drivers"] = row.Metrics?.CohortOutlierDrivers,
            };
            foreach (CohortMetric c in CohortMetrics.All)
            {
                if (row.Value(c) is { } v)
                {
                    view[c.Key] = v;
                }
            }

            views.Add(view);
        }

        return TypedResults.Ok(views);
    }

    private static async Task<IResult> CohortCsvAsync(HttpContext http, JobStore store, Security.JobAccess access, CancellationToken ct)
    {
        (CohortFilter? filter, IResult? error) = ParseFilter(http.Request.Query);
        if (filter is null)
        {
            return error!;
        }

        List<CohortRow> rows = await access.VisibleAsync(http, await new CohortQueries(store).ListAsync(filter, ct), r => r.Id, ct);
        // A UTF-8 byte order mark makes spreadsheet programs read names with accents correctly.
        byte[] body = [.. Encoding.UTF8.GetPreamble(), .. Encoding.UTF8.GetBytes(CohortQueries.ToCsv(rows))];
        return TypedResults.File(body, "text/csv; charset=utf-8", $"kneeweb-cohort-{DateTime.UtcNow.ToString("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture)}.csv");
    }

    /// <summary>The cohort filter from a query string (the Cohort page builds its export link the same way).</summary>
    public static (CohortFilter? Filter, IResult? Error) ParseFilter(IQueryCollection query)
    {
        ArgumentNullException.ThrowIfNull(query);
        JobStatus? status = JobStatus.Completed;
        string? s = query["status"];
        if (!string.IsNullOrEmpty(s))
        {
            if (string.Equals(s, "any", StringComparison.OrdinalIgnoreCase))
            {
                status = null;
            }
            else if (Enum.TryParse(s, ignoreCase: true, out JobStatus parsed))
            {
                status = parsed;
            }
            else
            {
                return (null, ApiErrors.Problem(ErrorCode.CONFIG_ERROR, StatusCodes.Status400BadRequest, $"status must be 'any' or one of {string.Join(", ", Enum.GetNames<JobStatus>())}."));
            }
        }

        DateTime? from = null;
        DateTime? to = null;
        foreach ((string key, bool isTo) in new[] { ("from", false), ("to", true) })
        {
            string? text = query[key];
            if (string.IsNullOrEmpty(text))
            {
                continue;
            }

            if (!DateTime.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal, out DateTime d))
            {
                return (null, ApiErrors.Problem(ErrorCode.CONFIG_ERROR, StatusCodes.Status400BadRequest, $"{key} must be a date such as 2026-11-21 (got '{text}')."));
            }

            // A bare date as 'to' means the whole of that day.
            if (isTo && d.TimeOfDay == TimeSpan.Zero)
            {
                d = d.AddDays(1).AddTicks(-1);
            }

            if (isTo)
            {
                to = d;
            }
            else
            {
                from = d;
            }
        }

        QcVerdict? verdict = null;
        string? v = query["verdict"];
        if (!string.IsNullOrEmpty(v) && !string.Equals(v, "any", StringComparison.OrdinalIgnoreCase))
        {
            if (!Enum.TryParse(v, ignoreCase: true, out QcVerdict parsedVerdict) || !Enum.IsDefined(parsedVerdict))
            {
                return (null, ApiErrors.Problem(ErrorCode.CONFIG_ERROR, StatusCodes.Status400BadRequest, $"verdict must be 'any', 'pass', 'review' or 'fail' (got '{v}')."));
            }

            verdict = parsedVerdict;
        }

        bool includeExcluded = string.Equals(query["excluded"], "true", StringComparison.OrdinalIgnoreCase);
        return (new CohortFilter(query["subject"], query["tag"], query["model"], from, to, status) { Verdict = verdict, IncludeExcluded = includeExcluded }, null);
    }
}
