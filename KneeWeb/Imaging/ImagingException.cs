namespace KneeWeb.Imaging;

/// <summary>
/// A file is not a valid image of its format. Carries the header field and the value that broke
/// the rule so a person can see what is wrong (the job layer maps it to INVALID_FORMAT).
/// </summary>
public class InvalidImageException : Exception
{
    public InvalidImageException()
    {
    }

    public InvalidImageException(string message)
        : base(message)
    {
    }

    public InvalidImageException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    public InvalidImageException(string format, string field, string value, string message, Exception? innerException = null)
        : base($"{format}: {field} = {value}: {message}", innerException)
    {
        Format = format;
        Field = field;
        Value = value;
    }

    public string? Format { get; }

    public string? Field { get; }

    public string? Value { get; }
}

/// <summary>A DICOM series could not be read or chosen (mapped to DICOM_ERROR).</summary>
public class DicomSeriesException : Exception
{
    public DicomSeriesException()
    {
    }

    public DicomSeriesException(string message)
        : base(message)
    {
    }

    public DicomSeriesException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}

/// <summary>
/// An image would need more memory than one job may use (mapped to IMAGE_TOO_LARGE). Thrown from
/// the header, before any voxel is read.
/// </summary>
public class ImageTooLargeException : Exception
{
    public ImageTooLargeException()
    {
    }

    public ImageTooLargeException(string message)
        : base(message)
    {
    }

    public ImageTooLargeException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    public ImageTooLargeException(string message, long estimatedBytes, long budgetBytes)
        : base(message)
    {
        EstimatedBytes = estimatedBytes;
        BudgetBytes = budgetBytes;
    }

    public long EstimatedBytes { get; }

    public long BudgetBytes { get; }
}

/// <summary>
/// The disk ran out (or would run into the configured free-space reserve) while writing
/// (mapped to DISK_FULL). Carries no path: the message is shown to people.
/// </summary>
public class InsufficientDiskSpaceException : IOException
{
    public InsufficientDiskSpaceException()
    {
    }

    public InsufficientDiskSpaceException(string message)
        : base(message)
    {
    }

    public InsufficientDiskSpaceException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
