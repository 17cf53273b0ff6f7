using System.Text;
using System.Text.Json;
using KneeWeb.Imaging;
using KneeWeb.Imaging.Io;
using KneeWeb.Jobs;
using KneeWeb.Pipeline;
using KneeWeb.Setup;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.Options;
using Microsoft.Net.Http.Headers;

namespace KneeWeb.Api;

/// <summary>
/// Receives `POST /v1/jobs` (multipart/form-data: `file`, optional `options` JSON), streaming the
/// volume to disk with a size cap; never holds the upload in memory. Anything wrong ends as a
/// catalog error and leaves nothing behind.
/// </summary>
public sealed class UploadReceiver(JobService jobs, SegmentationEngine engine, IOptions<KneeWebOptions> options, ILogger<UploadReceiver> logger, Security.JobAccess access, Security.AuditLog audit, UserLimits limits)
{
    private const int MaxOptionsBytes = 64 * 1024;
    private readonly KneeWebOptions settings = options.Value;

    public async Task<IResult> ReceiveAsync(HttpContext http)
    {
        ArgumentNullException.ThrowIfNull(http);
        HttpRequest request = http.Request;
        if (!MediaTypeHeaderValue.TryParse(request.ContentType, out MediaTypeHeaderValue? mediaType)
            || !mediaType.MediaType.Equals("multipart/form-data", StringComparison.OrdinalIgnoreCase)
            || HeaderUtilities.RemoveQuotes(mediaType.Boundary).Value is not { Length: > 0 } boundary)
        {
            return ApiErrors.Problem(ErrorCode.CONFIG_ERROR, StatusCodes.Status400BadRequest, "Send the volume as multipart/form-data with a part named 'file'.");
        }

        // The job's group (?group=name or id; else the user's default) is settled before any byte is stored.
        Security.AccessSubject subject = await access.SubjectAsync(http, http.RequestAborted);
        (int? chosenGroup, IResult? refusal) = await access.UploadGroupOrRefusalAsync(http, http.RequestAborted);
        if (chosenGroup is not int groupId)
        {
            return refusal!;
        }

        using UserLimits.Admission admission = await limits.AdmitAsync(subject.UserId, request.ContentLength, http.RequestAborted);
        if (admission.Refusal is { } limited)
        {
            return limited;
        }

        if (http.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } sizeFeature)
        {
            // Our own counter enforces the cap with a clear message; Kestrel's limit is just a backstop.
            sizeFeature.MaxRequestBodySize = settings.MaxUploadBytes + MaxOptionsBytes + (1024 * 1024);
        }

        if (request.ContentLength is long declared && declared > settings.MaxUploadBytes + MaxOptionsBytes + (1024 * 1024))
        {
            return TooLarge();
        }

        // A declared length is checked up front; a chunked body (no length) is counted as it is written.
        long needed = (request.ContentLength ?? 0) + settings.MinFreeDiskBytes;
        long free = DiskSpace.FreeBytes(settings.FullDataRoot);
        if (free >= 0 && free < needed)
        {
            logger.LogWarning("Upload refused: {Free} bytes free in the data folder, {Needed} needed", free, needed);
            return DiskFullProblem(
                $"The server's data folder has {free / 1e9:0.00} GB free and keeps at least {settings.MinFreeDiskBytes / 1e9:0.00} GB spare; this upload does not fit. An administrator must free space.");
        }

        Guid jobId = Guid.NewGuid();
        string uploadFolder = Path.Combine(settings.UploadsPath, jobId.ToString("D"));
        bool keep = false;
        try
        {
            Directory.CreateDirectory(uploadFolder);
            var reader = new MultipartReader(boundary, request.Body);
            PipelineOptions pipelineOptions = new();
            string? storedPath = null, originalName = null;
            long size = 0;
            MultipartSection? section;
            while ((section = await reader.ReadNextSectionAsync(http.RequestAborted)) is not null)
            {
                if (!ContentDispositionHeaderValue.TryParse(section.ContentDisposition, out ContentDispositionHeaderValue? disposition))
                {
                    continue;
                }

                string name = HeaderUtilities.RemoveQuotes(disposition.Name).Value ?? "";
                if (name == "file" && storedPath is null)
                {
                    originalName = OriginalName(disposition);
                    storedPath = Path.Combine(uploadFolder, StoredName(originalName));
                    var disk = new DiskBudget(settings.FullDataRoot, settings.MinFreeDiskBytes);
                    size = await CopyCappedAsync(section.Body, storedPath, settings.MaxUploadBytes, disk, http.RequestAborted);
                    if (size < 0)
                    {
                        return TooLarge();
                    }
                }
                else if (name == "options")
                {
                    string json = await ReadCappedTextAsync(section.Body, MaxOptionsBytes, http.RequestAborted);
                    try
                    {
                        pipelineOptions = string.IsNullOrWhiteSpace(json)
                            ? new PipelineOptions()
                            : JsonSerializer.Deserialize<PipelineOptions>(json, OptionsJson) ?? new PipelineOptions();
                    }
                    catch (JsonException ex)
                    {
                        return ApiErrors.Problem(ErrorCode.CONFIG_ERROR, StatusCodes.Status400BadRequest, $"The options part is not valid JSON: {ex.Message}");
                    }
                }
            }

            if (storedPath is null || originalName is null)
            {
                return ApiErrors.Problem(ErrorCode.FILE_NOT_FOUND, StatusCodes.Status400BadRequest, "The request held no part named 'file'.");
            }

            List<string> problems = ValidateOptions(pipelineOptions, engine);
            if (problems.Count > 0)
            {
                return ApiErrors.Problem(ErrorCode.CONFIG_ERROR, StatusCodes.Status400BadRequest, string.Join(" ", problems));
            }

            if (size == 0)
            {
                return ApiErrors.Problem(ErrorCode.INVALID_FORMAT, StatusCodes.Status400BadRequest, $"'{originalName}' is empty.");
            }

            ImageFormat format = VolumeIo.DetectFormat(storedPath);
            if (format == ImageFormat.Unknown)
            {
                return ApiErrors.Problem(ErrorCode.INVALID_FORMAT, StatusCodes.Status400BadRequest,
                    $"'{originalName}' is not a NIfTI, NRRD, MRC or DICOM zip file (its first bytes match none of them).");
            }

            if (RefuseTooLarge(storedPath, pipelineOptions) is { } tooLarge)
            {
                return tooLarge;
            }

            if (format is ImageFormat.DicomZip or ImageFormat.DicomFolder && string.IsNullOrWhiteSpace(pipelineOptions.Series))
            {
                IResult? choice = ChooseDicomSeries(storedPath, uploadFolder, originalName, settings.MinFreeDiskBytes);
                if (choice is not null)
                {
                    return choice;
                }
            }

            string owner = http.User.Identity?.Name ?? "lab";
            var upload = new StoredUpload(jobId, Path.GetRelativePath(settings.FullDataRoot, storedPath), originalName, size, format.ToString());
            await admission.SubmitAsync(() => jobs.SubmitAsync(upload, pipelineOptions, owner, subject.UserId, groupId, http.RequestAborted), size, http.RequestAborted);
            keep = true;
            await audit.RecordAsync(http, Data.AuditActions.Upload, jobId, originalName, $"group {groupId}");
            string url = $"/v1/jobs/{jobId:D}";
            return Results.Accepted(url, new SubmittedView(jobId, "Queued", url));
        }
        catch (BadHttpRequestException ex) when (ex.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            return TooLarge();
        }
        catch (InvalidDataException ex)
        {
            // Malformed multipart framing (a broken boundary, headers too long).
            return ApiErrors.Problem(ErrorCode.CONFIG_ERROR, StatusCodes.Status400BadRequest, $"The upload is not well-formed multipart data: {ex.Message}");
        }
        catch (Exception ex) when ((ex is IOException or OperationCanceledException) && http.RequestAborted.IsCancellationRequested)
        {
            logger.LogInformation(ex, "Upload aborted by the client");
            return Results.StatusCode(StatusCodes.Status499ClientClosedRequest);
        }
        catch (Exception ex) when (DiskFull.Is(ex))
        {
            logger.LogWarning("Upload refused: the data folder's disk is full ({Type})", ex.GetType().Name);
            return DiskFullProblem(DiskFull.Describe(ex));
        }
        catch (IOException ex)
        {
            // The body ended before the multipart data did (a truncated or cut-off upload).
            return ApiErrors.Problem(ErrorCode.INVALID_FORMAT, StatusCodes.Status400BadRequest, $"The upload ended before it was complete: {ex.Message}");
        }
        finally
        {
            if (!keep && Directory.Exists(uploadFolder))
            {
                Directory.Delete(uploadFolder, recursive: true);
            }
        }
    }

    /// <summary>What is wrong with job options (their own checks, and the model being installed and enabled); empty when nothing is.</summary>
    public static List<string> ValidateOptions(PipelineOptions pipelineOptions, SegmentationEngine engine)
    {
        ArgumentNullException.ThrowIfNull(pipelineOptions);
        ArgumentNullException.ThrowIfNull(engine);
        var problems = new List<string>(pipelineOptions.Validate());
        if (!string.IsNullOrWhiteSpace(pipelineOptions.Model) && !engine.SelectableModels().Contains(pipelineOptions.Model))
        {
            Inference.ModelEntry? known = engine.Models.FirstOrDefault(m => m.Name == pipelineOptions.Model);
            problems.Add(known is null
                ? $"model '{pipelineOptions.Model}' is not installed (available: {string.Join(", ", engine.SelectableModels())})."
                : $"model '{pipelineOptions.Model}' is disabled: {known.DisabledReason}");
        }

        return problems;
    }

    /// <summary>
    /// A DICOM upload with several series needs a choice before it can become a job: the answer
    /// lists them (`series`), and the client sends the upload again with `options.series` set.
    /// </summary>
    private static IResult? ChooseDicomSeries(string storedPath, string uploadFolder, string originalName, long minFreeDiskBytes)
    {
        IReadOnlyList<DicomSeriesInfo> series;
        try
        {
            series = VolumeIo.ListDicomSeries(storedPath, new VolumeReadOptions { WorkFolder = uploadFolder, MinFreeDiskBytes = minFreeDiskBytes });
        }
        catch (DicomSeriesException ex)
        {
            return ApiErrors.Problem(ErrorCode.DICOM_ERROR, StatusCodes.Status400BadRequest, ex.Message);
        }
        catch (InvalidImageException ex)
        {
            return ApiErrors.Problem(ErrorCode.DICOM_ERROR, StatusCodes.Status400BadRequest, ex.Message);
        }

        if (series.Count == 1)
        {
            return null;
        }

        if (series.Count == 0)
        {
            return ApiErrors.Problem(ErrorCode.DICOM_ERROR, StatusCodes.Status400BadRequest, $"'{originalName}' holds no DICOM image series.");
        }

        var list = new List<object>(series.Count);
        foreach (DicomSeriesInfo s in series)
        {
            list.Add(new { key = s.Key, series_number = s.SeriesNumber, description = s.Description, images = s.Images });
        }

        return ApiErrors.Problem(ErrorCode.DICOM_ERROR, StatusCodes.Status400BadRequest,
            $"'{originalName}' holds {series.Count} series; choose the one to analyse (options.series).",
            new Dictionary<string, object?> { ["series"] = list });
    }

    /// <summary>
    /// Reads the header (a .nii.gz inflates only its first bytes) and refuses, before a job exists, an
    /// image the job could never hold in memory. Headers that do not read are left for the job to report.
    /// </summary>
    private IResult? RefuseTooLarge(string storedPath, PipelineOptions pipelineOptions)
    {
        VolumeHeaderInfo? header;
        try
        {
            header = VolumeIo.ReadHeader(storedPath);
        }
        catch (Exception ex) when (ex is InvalidImageException or InvalidDataException or IOException)
        {
            return null;
        }

        if (header is null)
        {
            return null; // DICOM: the job checks the converted series' header before reading it
        }

        Inference.ModelSidecar? model = engine.Resolve(pipelineOptions.Model)?.Sidecar;
        long budget = JobMemoryBudget.Resolve(settings.Jobs);
        try
        {
            JobMemoryEstimate.For(header, model, pipelineOptions).EnsureWithin(budget, header);
            return null;
        }
        catch (ImageTooLargeException ex)
        {
            logger.LogWarning("Upload refused: the image would need {Estimated} bytes of memory, the job budget is {Budget}", ex.EstimatedBytes, ex.BudgetBytes);
            return ApiErrors.Problem(ErrorCode.IMAGE_TOO_LARGE, StatusCodes.Status413PayloadTooLarge, ex.Message,
                new Dictionary<string, object?> { ["estimated_bytes"] = ex.EstimatedBytes, ["budget_bytes"] = ex.BudgetBytes });
        }
    }

    private static IResult DiskFullProblem(string specific) =>
        ApiErrors.Problem(ErrorCode.DISK_FULL, StatusCodes.Status507InsufficientStorage, specific);

    internal static JsonSerializerOptions OptionsJson { get; } = new() { PropertyNameCaseInsensitive = true };

    private IResult TooLarge() =>
        ApiErrors.Problem(ErrorCode.INVALID_FORMAT, StatusCodes.Status413PayloadTooLarge,
            $"The file is larger than this server's upload limit of {settings.MaxUploadBytes / (1024.0 * 1024.0):0.#} MB.");

    private static string OriginalName(ContentDispositionHeaderValue disposition)
    {
        string raw = HeaderUtilities.RemoveQuotes(disposition.FileNameStar).Value
            ?? HeaderUtilities.RemoveQuotes(disposition.FileName).Value
            ?? "upload";
        // Keep only the last path segment a browser or script may send; it is shown, never used as a path.
        string name = raw.Replace('\\', '/');
        name = name[(name.LastIndexOf('/') + 1)..];
        return string.IsNullOrWhiteSpace(name) ? "upload" : (name.Length > 200 ? name[^200..] : name);
    }

    /// <summary>The stored name keeps a known extension (readers and dcm2niix like them) and nothing else of the user's.</summary>
    private static string StoredName(string originalName)
    {
        string lower = originalName.ToLowerInvariant();
        string[] known = [".nii.gz", ".nii", ".nrrd", ".nhdr", ".mrc", ".map", ".zip", ".hdr", ".img"];
        foreach (string ext in known)
        {
            if (lower.EndsWith(ext, StringComparison.Ordinal))
            {
                return "input" + ext;
            }
        }

        return "input.bin";
    }

    /// <summary>Copies at most <paramref name="cap"/> bytes; returns -1 (and stops reading) past it.</summary>
    private static async Task<long> CopyCappedAsync(Stream source, string path, long cap, DiskBudget disk, CancellationToken ct)
    {
        await using var target = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, useAsync: true);
        byte[] buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(1 << 16);
        try
        {
            long total = 0;
            int read;
            while ((read = await source.ReadAsync(buffer.AsMemory(0, buffer.Length), ct)) > 0)
            {
                total += read;
                if (total > cap)
                {
                    return -1;
                }

                disk.Take(read);
                await target.WriteAsync(buffer.AsMemory(0, read), ct);
            }

            return total;
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private static async Task<string> ReadCappedTextAsync(Stream source, int cap, CancellationToken ct)
    {
        using var buffer = new MemoryStream();
        byte[] chunk = new byte[8192];
        int read;
        while ((read = await source.ReadAsync(chunk, ct)) > 0)
        {
            if (buffer.Length + read > cap)
            {
                throw new InvalidDataException($"The options part is larger than {cap} bytes.");
            }

            buffer.Write(chunk, 0, read);
        }

        return Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length);
    }
}
