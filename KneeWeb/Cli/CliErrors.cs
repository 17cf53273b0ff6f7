namespace KneeWeb.Cli;

/// <summary>How every verb reports a failure: the catalog code and message on stderr, non-zero exit.</summary>
public static class CliErrors
{
    public const int ExitFailure = 1;

    public static int Report(string code, string message, string? hint = null)
    {
        Console.Error.WriteLine($"{code}: {message}");
        if (!string.IsNullOrEmpty(hint))
        {
            Console.Error.WriteLine($"hint: {hint}");
        }

        return ExitFailure;
    }
}
