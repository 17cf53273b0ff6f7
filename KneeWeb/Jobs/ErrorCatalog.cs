namespace KneeWeb.Jobs;

/// <summary>The codes every failure ends in (DESIGN.md, Errors).</summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Naming", "CA1707", Justification = "The names are the wire codes of the catalog, shown to people and scripts.")]
public enum ErrorCode
{
    GPU_OOM,
    TIMEOUT,
    INVALID_FORMAT,
    FILE_NOT_FOUND,
    DICOM_ERROR,
    SEGMENTATION_FAILED,
    NSM_FAILED,
    CONFIG_ERROR,
    PIPELINE_ERROR,
    CANCELLED,
    IMAGE_TOO_LARGE,
    DISK_FULL,
    RATE_LIMITED,
}

/// <summary>What a person sees for a code: what happened and what to do next.</summary>
public sealed record ErrorEntry(ErrorCode Code, string Message, string Hint);

/// <summary>A job's failure as stored and shown: the code, the user message and hint, and details for admins.</summary>
public sealed record JobError(ErrorCode Code, string Message, string Hint, string Details)
{
    public string CodeName => Code.ToString();
}

public static partial class ErrorCatalog
{
    private static readonly Dictionary<ErrorCode, ErrorEntry> Entries = new()
    {
        [ErrorCode.GPU_OOM] = new(ErrorCode.GPU_OOM,
            "The graphics card ran out of memory, even after retrying with smaller batches and on the processor.",
            "Try again when fewer jobs are running, or choose the CPU device in the job options."),
        [ErrorCode.TIMEOUT] = new(ErrorCode.TIMEOUT,
            "The job took longer than the time limit and was stopped.",
            "Check that the image is a single knee at a usual resolution; an administrator can raise the job time limit."),
        [ErrorCode.INVALID_FORMAT] = new(ErrorCode.INVALID_FORMAT,
            "The uploaded file is not a readable knee MRI volume.",
            "Upload a NIfTI (.nii, .nii.gz), NRRD (.nrrd, .nhdr), MRC (.mrc) file or a zip of one DICOM series; the details name the field that is wrong."),
        [ErrorCode.FILE_NOT_FOUND] = new(ErrorCode.FILE_NOT_FOUND,
            "A file the job needs is missing.",
            "Upload the image again; if this keeps happening, ask an administrator to check the data folder."),
        [ErrorCode.DICOM_ERROR] = new(ErrorCode.DICOM_ERROR,
            "The DICOM files could not be turned into one image volume.",
            "Upload a zip holding exactly one series, or pick the series to use in the job options."),
        [ErrorCode.SEGMENTATION_FAILED] = new(ErrorCode.SEGMENTATION_FAILED,
            "The segmentation model could not segment this image.",
            "Check that the image is a sagittal knee MRI the model was made for, or try another model."),
        [ErrorCode.NSM_FAILED] = new(ErrorCode.NSM_FAILED,
            "The neural shape model could not be fitted, so no BScore was computed.",
            "Run the job again with the shape model off to get the segmentation and thickness, and tell an administrator."),
        [ErrorCode.CONFIG_ERROR] = new(ErrorCode.CONFIG_ERROR,
            "The job's options or the server's set-up are not valid.",
            "Check the options you chose (model, device, series); an administrator can see which setting is wrong in the details."),
        [ErrorCode.PIPELINE_ERROR] = new(ErrorCode.PIPELINE_ERROR,
            "The analysis stopped because of an unexpected internal error.",
            "Try the job again; if it fails again, send the job id to an administrator."),
        [ErrorCode.CANCELLED] = new(ErrorCode.CANCELLED,
            "The job was cancelled.",
            "Start a new job when you are ready."),
        [ErrorCode.IMAGE_TOO_LARGE] = new(ErrorCode.IMAGE_TOO_LARGE,
            "The image is too large to analyse on this server: it would need more memory than one job may use.",
            "Upload a single knee volume at a usual resolution (crop it or resample it to the model's spacing first); an administrator can raise KneeWeb:Jobs:MaxJobMemoryBytes on a larger machine."),
        [ErrorCode.DISK_FULL] = new(ErrorCode.DISK_FULL,
            "The server's disk is full, so the request could not be saved.",
            "Try again later; an administrator must free space in the data folder (old jobs, uploads) or give it a larger disk."),
        [ErrorCode.RATE_LIMITED] = new(ErrorCode.RATE_LIMITED,
            "Too many requests in a short time: this one was not accepted.",
            "Wait as long as the Retry-After header (or the message) says, then try again; an administrator can raise the limits under KneeWeb:Limits."),
    };

    public static IReadOnlyCollection<ErrorEntry> All => Entries.Values;

    public static ErrorEntry Get(ErrorCode code) => Entries[code];

    /// <remarks>The user message never shows where files live on the server; the details (for admins) keep it.</remarks>
    public static JobError Create(ErrorCode code, string details, string? specificMessage = null)
    {
        ErrorEntry entry = Get(code);
        string message = string.IsNullOrWhiteSpace(specificMessage) ? entry.Message : $"{entry.Message} {HidePaths(specificMessage)}";
        return new JobError(code, message, entry.Hint, details);
    }

    /// <summary>
    /// Replaces every absolute file path in a message for people (an exception's message often embeds
    /// one: "Could not find file '/srv/kneeweb/data/uploads/.../input.nii.gz'") by its file name, so
    /// errors show what is wrong without showing how the server's disk is laid out. Site addresses
    /// (/v1/..., /jobs/...) are left alone.
    /// </summary>
    public static string HidePaths(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return AbsolutePath().Replace(text, m => m.Groups["name"].Value.Length > 0 ? m.Groups["name"].Value : "(a server folder)");
    }

    // A "/" not inside a word or URL, then two or more segments; the site's own routes are not paths.
    [System.Text.RegularExpressions.GeneratedRegex(@"(?<![\w:/.~-])/(?!(?:v1|hubs|jobs|account|admin|cohort|upload|models|server|lib|_framework|_blazor|_content)(?:[/?#\s'""]|$))(?:[^\s'""`()\[\]<>,;:/]+/)+(?<name>[^\s'""`()\[\]<>,;:/]*)")]
    private static partial System.Text.RegularExpressions.Regex AbsolutePath();
}
