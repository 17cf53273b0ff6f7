namespace KneeWeb.Jobs;

/// <summary>One CSV field as the site writes it (the cohort and audit exports share it).</summary>
public static class CsvText
{
    /// <summary>
    /// Quoted when needed. A field a spreadsheet would run as a formula, one that starts with = + - @
    /// or with a tab, carriage return or line feed (which some spreadsheets skip before reading a
    /// formula), is defused behind an apostrophe.
    /// </summary>
    public static string Field(string? value)
    {
        if (string.IsNullOrEmpty(value))
        {
            return "";
        }

        if (value[0] is '=' or '+' or '-' or '@' or '\t' or '\r' or '\n')
        {
            value = "'" + value;
        }

        return value.AsSpan().IndexOfAny(",\"\n\r") >= 0 ? "\"" + value.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"" : value;
    }
}
