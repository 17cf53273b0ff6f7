using System.Text;
using System.Text.Json;
using KneeWeb.Imaging.Io;
using KneeWeb.Imaging.Phantom;
using KneeWeb.Jobs;
using KneeWeb.Pipeline;
using KneeWeb.Setup;
using Microsoft.Extensions.Options;

namespace KneeWeb.Api;

/// <summary>Settings under "KneeWeb:Samples": which phantom "Try a sample" analyses.</summary>
public sealed class SampleSettings
{
    public const string Section = "KneeWeb:Samples";

    /// <summary>1: the full DESS grid (384x384x160 at 0.36x0.36x0.7 mm); 2, 4, 8: the same knee on coarser grids (faster demos and tests).</summary>
    public int PhantomCoarsening { get; set; } = 1;

    public int PhantomSeed { get; set; } = 1;

    public static SampleSettings From(IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        return configuration.GetSection(Section).Get<SampleSettings>() ?? new SampleSettings();
    }
}

/// <summary>
/// `POST /v1/samples/phantom/jobs`: a job on the synthetic knee phantom (Imaging/Phantom), so a
/// visitor or a script can see the whole analysis without an MRI of their own. The phantom is
/// generated once and kept under &lt;DataRoot&gt;/samples/.
/// </summary>
public static class SampleEndpoints
{
    private const int MaxOptionsBytes = 64 * 1024;

    public const string SampleFileName = "knee-phantom.nii.gz";

    public static IEndpointRouteBuilder MapKneeWebSampleApi(this IEndpointRouteBuilder app)
    {
        RouteGroupBuilder v1 = app.MapGroup("/v1").WithTags("KneeWeb samples");
        v1.MapPost("/samples/phantom/jobs", SubmitPhantomAsync)
            .WithName("SubmitPhantomSampleJob")
            .WithDescription("Starts a job on the knee phantom. Optional JSON body: the same job options as the 'options' part of POST /v1/jobs. The phantom is generated on first use (tens of seconds at full size) and reused after.")
            .Produces<SubmittedView>(StatusCodes.Status202Accepted)
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status403Forbidden);
        return app;
    }

    private static async Task<IResult> SubmitPhantomAsync(
        HttpContext http, JobService jobs, SegmentationEngine engine, Security.JobAccess access, Security.AuditLog audit,
        IOptions<KneeWebOptions> options, IConfiguration configuration, UserLimits limits, CancellationToken ct)
    {
        // The job's group (?group=name or id; else the user's default), as for an upload.
        // A group the caller is not in is answered like a missing one (404), logged and audited.
        Security.AccessSubject subject = await access.SubjectAsync(http, ct);
        (int? chosenGroup, IResult? refusal) = await access.UploadGroupOrRefusalAsync(http, ct);
        if (chosenGroup is not int groupId)
        {
            return refusal!;
        }

        using UserLimits.Admission admission = await limits.AdmitAsync(subject.UserId, 0, ct);
        if (admission.Refusal is { } limited)
        {
            return limited;
        }

        PipelineOptions pipelineOptions;
        try
        {
            string json = await ReadCappedTextAsync(http.Request.Body, ct);
            pipelineOptions = string.IsNullOrWhiteSpace(json)
                ? new PipelineOptions()
                : JsonSerializer.Deserialize<PipelineOptions>(json, UploadReceiver.OptionsJson) ?? new PipelineOptions();
        }
        catch (JsonException ex)
        {
            return ApiErrors.Problem(ErrorCode.CONFIG_ERROR, StatusCodes.Status400BadRequest, $"The body is not valid job options JSON: {ex.Message}");
        }
        catch (InvalidDataException ex)
        {
            return ApiErrors.Problem(ErrorCode.CONFIG_ERROR, StatusCodes.Status400BadRequest, ex.Message);
        }

        List<string> problems = UploadReceiver.ValidateOptions(pipelineOptions, engine);
        if (problems.Count > 0)
        {
            return ApiErrors.Problem(ErrorCode.CONFIG_ERROR, StatusCodes.Status400BadRequest, string.Join(" ", problems));
        }

        KneeWebOptions settings = options.Value;
        SampleSettings sample = SampleSettings.From(configuration);
        string cached;
        try
        {
            cached = await PhantomSamples.GetOrCreateAsync(settings.FullDataRoot, sample.PhantomSeed, sample.PhantomCoarsening, ct);
        }
        catch (ArgumentOutOfRangeException ex)
        {
            return ApiErrors.Problem(ErrorCode.CONFIG_ERROR, StatusCodes.Status500InternalServerError, $"{SampleSettings.Section}:PhantomCoarsening is not usable: {ex.Message}");
        }

        Guid jobId = Guid.NewGuid();
        string folder = Path.Combine(settings.UploadsPath, jobId.ToString("D"));
        string stored = Path.Combine(folder, "input.nii.gz");
        bool keep = false;
        try
        {
            Directory.CreateDirectory(folder);
            // A copy, not a link: retention and job deletion treat the upload as the job's own file.
            File.Copy(cached, stored);
            long size = new FileInfo(stored).Length;
            var upload = new StoredUpload(jobId, Path.GetRelativePath(settings.FullDataRoot, stored), SampleFileName, size, nameof(ImageFormat.Nifti1));
            string owner = http.User.Identity?.Name ?? "lab";
            await admission.SubmitAsync(() => jobs.SubmitAsync(upload, pipelineOptions, owner, subject.UserId, groupId, ct), size, ct);
            keep = true;
            await audit.RecordAsync(http, Data.AuditActions.Upload, jobId, SampleFileName, $"group {groupId} (sample)");
            string url = $"/v1/jobs/{jobId:D}";
            return Results.Accepted(url, new SubmittedView(jobId, "Queued", url));
        }
        finally
        {
            if (!keep && Directory.Exists(folder))
            {
                Directory.Delete(folder, recursive: true);
            }
        }
    }

    private static async Task<string> ReadCappedTextAsync(Stream body, CancellationToken ct)
    {
        using var buffer = new MemoryStream();
        byte[] chunk = new byte[8192];
        int read;
        while ((read = await body.ReadAsync(chunk, ct)) > 0)
        {
            if (buffer.Length + read > MaxOptionsBytes)
            {
                throw new InvalidDataException($"The job options are larger than {MaxOptionsBytes} bytes.");
            }

            buffer.Write(chunk, 0, read);
        }

        return Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length);
    }
}

/// <summary>The knee phantom as a NIfTI file under &lt;DataRoot&gt;/samples/, generated once per seed and grid.</summary>
public static class PhantomSamples
{
    // One generation at a time: two first clicks must not both spend half a minute on the same file.
    private static readonly SemaphoreSlim Gate = new(1, 1);

    public static string PathFor(string dataRoot, int seed, int coarsening) =>
        Path.Combine(dataRoot, "samples", string.Create(System.Globalization.CultureInfo.InvariantCulture, $"knee-phantom-seed{seed}-c{coarsening}.nii.gz"));

    /// <summary>The cached phantom image, generated first when it is not there yet.</summary>
    public static async Task<string> GetOrCreateAsync(string dataRoot, int seed, int coarsening, CancellationToken ct)
    {
        string path = PathFor(dataRoot, seed, coarsening);
        if (File.Exists(path))
        {
            return path;
        }

        await Gate.WaitAsync(ct);
        try
        {
            if (File.Exists(path))
            {
                return path;
            }

            string folder = Path.GetDirectoryName(path)!;
            Directory.CreateDirectory(folder);
            // Not cancelled with the request: a finished phantom serves the next click.
            await Task.Run(() =>
            {
                PhantomResult phantom = KneePhantom.Generate(new PhantomOptions { Seed = seed, Coarsening = coarsening });
                // The writer picks the format from the extension, so the partial name keeps ".nii.gz".
                string partial = Path.Combine(folder, $"phantom-{Guid.NewGuid():N}.partial.nii.gz");
                VolumeIo.Write(phantom.Image, partial);
                File.WriteAllText(Path.ChangeExtension(Path.ChangeExtension(path, null), ".truth.json"), phantom.Truth.ToJson());
                File.Move(partial, path, overwrite: true);
            }, CancellationToken.None);
            return path;
        }
        finally
        {
            Gate.Release();
        }
    }
}
