namespace KneeWeb.Jobs;

/// <summary>
/// A failure whose catalog code is already known where it is thrown (options that don't validate,
/// a missing input). Other typed exceptions are mapped by <see cref="ErrorMapper"/>.
/// </summary>
public sealed class JobFailureException : Exception
{
    public JobFailureException()
    {
    }

    public JobFailureException(string message)
        : base(message)
    {
    }

    public JobFailureException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    public JobFailureException(ErrorCode code, string userDetail, Exception? innerException = null)
        : base(userDetail, innerException)
    {
        Code = code;
    }

    public ErrorCode Code { get; } = ErrorCode.PIPELINE_ERROR;
}
