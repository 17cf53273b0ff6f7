namespace KneeWeb.Cli;

/// <summary>How every verb reports a failure: the catalog code and message on stderr, non-zero exit.</summary>
public static class CliErrors
{
    public const int ExitFailure = 1;

    public static int Report(string code, string message, string? hint = null) => Report(Console.Error, code, message, hint);

    /// <summary>The same report on a given writer (a verb's InvocationConfiguration.Error, a test's buffer).</summary>
    public static int Report(TextWriter error, string code, string message, string? hint = null)
    {
        ArgumentNullException.ThrowIfNull(error);
        error.WriteLine($"{code}: {message}");
        if (!string.IsNullOrEmpty(hint))
        {
            error.WriteLine($"hint: {hint}");
        }

        return ExitFailure;
    }
}
