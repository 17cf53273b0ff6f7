using KneeWeb.Imaging;
using KneeWeb.Imaging.ShapeModel;
using KneeWeb.Inference;
using KneeWeb.Jobs.Slurm;
using KneeWeb.Pipeline;

namespace KneeWeb.Jobs;

/// <summary>
/// Turns what a step threw into a catalog error, by exception type, at the step boundary.
/// Never by searching message text: the type says what failed.
/// </summary>
public static class ErrorMapper
{
    public static JobError Map(Exception exception, string? stepName) => Map(exception, stepName, SlurmJobEnvironment.Current());

    /// <summary>As <see cref="Map(Exception, string)"/>, where <paramref name="slurm"/> says whether the job runs inside a Slurm job (a memory error then names the job's Slurm memory).</summary>
    public static JobError Map(Exception exception, string? stepName, SlurmJobEnvironment slurm)
    {
        ArgumentNullException.ThrowIfNull(exception);
        ArgumentNullException.ThrowIfNull(slurm);
        string where = stepName is null ? "" : $"Step '{stepName}': ";
        string details = $"{where}{exception.GetType().Name}: {exception.Message}";
        return exception switch
        {
            JobFailureException known => ErrorCatalog.Create(known.Code, details, known.Message),
            PipelineStepException { InnerException: { } inner } step => Map(inner, step.Step?.Name ?? stepName, slurm),
            // Parallel loops wrap what their bodies threw; out of memory in any of them is the job's memory error.
            AggregateException aggregate when aggregate.Flatten().InnerExceptions.OfType<OutOfMemoryException>().FirstOrDefault() is { } oom => Map(oom, stepName, slurm),
            OutOfMemoryException => slurm.InSlurmJob
                ? ErrorCatalog.OutOfMemoryOnCluster(details + Environment.NewLine + exception.StackTrace, slurm.MemoryMb)
                : ErrorCatalog.OutOfMemoryOnServer(details + Environment.NewLine + exception.StackTrace),
            NsmFailedException nsm => ErrorCatalog.Create(ErrorCode.NSM_FAILED, details, nsm.Message),
            ImageTooLargeException big => ErrorCatalog.Create(ErrorCode.IMAGE_TOO_LARGE, details, big.Message),
            // An OS message names the file it failed on: the details keep the type, never the server path.
            _ when DiskFull.Is(exception) => ErrorCatalog.Create(ErrorCode.DISK_FULL, $"{where}{exception.GetType().Name}: {DiskFull.Describe(exception)}", DiskFull.Describe(exception)),
            InvalidJobOptionsException options => ErrorCatalog.Create(ErrorCode.CONFIG_ERROR, details, options.Message),
            GpuOutOfMemoryException => ErrorCatalog.Create(ErrorCode.GPU_OOM, details),
            ModelConfigurationException model => ErrorCatalog.Create(ErrorCode.CONFIG_ERROR, details, model.Message),
            InferenceFailedException or OrtException => ErrorCatalog.Create(ErrorCode.SEGMENTATION_FAILED, details),
            InvalidImageException image => ErrorCatalog.Create(ErrorCode.INVALID_FORMAT, details, image.Message),
            DicomSeriesException dicom => ErrorCatalog.Create(ErrorCode.DICOM_ERROR, details, dicom.Message),
            FileNotFoundException or DirectoryNotFoundException => ErrorCatalog.Create(ErrorCode.FILE_NOT_FOUND, details),
            TimeoutException => ErrorCatalog.Create(ErrorCode.TIMEOUT, details),
            OperationCanceledException => ErrorCatalog.Create(ErrorCode.CANCELLED, details),
            _ => ErrorCatalog.Create(ErrorCode.PIPELINE_ERROR, details + Environment.NewLine + exception.StackTrace),
        };
    }
}
