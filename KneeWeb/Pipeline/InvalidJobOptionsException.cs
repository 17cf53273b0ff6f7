namespace KneeWeb.Pipeline;

/// <summary>The job's options don't fit its input or the server (mapped to CONFIG_ERROR).</summary>
public sealed class InvalidJobOptionsException : Exception
{
    public InvalidJobOptionsException()
    {
    }

    public InvalidJobOptionsException(string message)
        : base(message)
    {
    }

    public InvalidJobOptionsException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
