namespace KneeWeb.Imaging.Segmentation;

/// <summary>
/// What a PI needs to know about a result before reading any number: usable as is, worth a look,
/// or unusable. Derived from the QC flags' severities only, so every page, the cohort and the CSV
/// agree on it.
/// </summary>
public enum QcVerdict
{
    /// <summary>No warning or error (info flags only).</summary>
    Pass,

    /// <summary>At least one warning (including a cohort outlier), no error.</summary>
    Review,

    /// <summary>At least one error: a structure is missing or unusable.</summary>
    Fail,
}

/// <summary>The verdict rule, in one place.</summary>
public static class QcVerdicts
{
    /// <summary>Fail on any error, review on any warning, pass otherwise (also for no flags at all).</summary>
    public static QcVerdict From(IEnumerable<QcSeverity> severities)
    {
        ArgumentNullException.ThrowIfNull(severities);
        var verdict = QcVerdict.Pass;
        foreach (var severity in severities)
        {
            if (severity == QcSeverity.Error)
            {
                return QcVerdict.Fail;
            }

            if (severity == QcSeverity.Warning)
            {
                verdict = QcVerdict.Review;
            }
        }

        return verdict;
    }

    /// <summary>The verdict of a stats.json flag list, whose severities are written lower-case ("info", "warning", "error").</summary>
    public static QcVerdict FromSeverityNames(IEnumerable<string?> severities)
    {
        ArgumentNullException.ThrowIfNull(severities);
        return From(severities.Select(ParseSeverity));
    }

    /// <summary>A stats.json severity name; an unknown name counts as a warning so that it is looked at, never passed silently.</summary>
    public static QcSeverity ParseSeverity(string? name) =>
        Enum.TryParse<QcSeverity>(name, ignoreCase: true, out var severity) && Enum.IsDefined(severity) ? severity : QcSeverity.Warning;

    /// <summary>The word pages, the API and the CSV show: "pass", "review", "fail".</summary>
    public static string Name(this QcVerdict verdict) => verdict switch
    {
        QcVerdict.Pass => "pass",
        QcVerdict.Review => "review",
        QcVerdict.Fail => "fail",
        _ => throw new ArgumentOutOfRangeException(nameof(verdict), verdict, null),
    };
}
