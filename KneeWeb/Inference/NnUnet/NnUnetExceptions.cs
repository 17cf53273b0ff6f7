namespace KneeWeb.Inference.NnUnet;

/// <summary>A checkpoint, plans.json or dataset.json is not what nnU-Net writes, or is hostile (INVALID_FORMAT).</summary>
public class NnUnetFormatException : Exception
{
    public NnUnetFormatException()
    {
    }

    public NnUnetFormatException(string message)
        : base(message)
    {
    }

    public NnUnetFormatException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    public const string ErrorCode = "INVALID_FORMAT";
}

/// <summary>
/// The trained folder is well formed but KneeWeb cannot import it as asked: an unsupported
/// architecture, an unmapped label, a missing fold (CONFIG_ERROR). The message says why.
/// </summary>
public class NnUnetImportException : Exception
{
    public NnUnetImportException()
    {
    }

    public NnUnetImportException(string message)
        : base(message)
    {
    }

    public NnUnetImportException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    public const string ErrorCode = "CONFIG_ERROR";
}
