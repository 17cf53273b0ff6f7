using KneeWeb.Imaging;
using KneeWeb.Imaging.Io;
using Microsoft.Data.Sqlite;

namespace KneeWeb.Jobs;

/// <summary>Tells a full disk apart from other failures, wherever it surfaced: a file write or SQLite.</summary>
public static class DiskFull
{
    private const int SqliteFull = 13;

    /// <summary>
    /// True when <paramref name="exception"/> or one of its causes is ENOSPC/EDQUOT, our own
    /// reserve check, or SQLite's SQLITE_FULL (EF Core wraps it in DbUpdateException).
    /// </summary>
    public static bool Is(Exception? exception)
    {
        for (Exception? e = exception; e is not null; e = e.InnerException)
        {
            switch (e)
            {
                case InsufficientDiskSpaceException:
                    return true;
                case IOException io when DiskSpace.IsOutOfSpace(io):
                    return true;
                case SqliteException sqlite when sqlite.SqliteErrorCode == SqliteFull || (sqlite.SqliteExtendedErrorCode & 0xFF) == SqliteFull:
                    return true;
            }

            if (e is AggregateException aggregate && aggregate.InnerExceptions.Any(Is))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>The words shown for a full disk: the cause when it is ours, never a server path.</summary>
    public static string Describe(Exception? exception)
    {
        for (Exception? e = exception; e is not null; e = e.InnerException)
        {
            if (e is InsufficientDiskSpaceException own && !string.IsNullOrWhiteSpace(own.Message))
            {
                return own.Message;
            }
        }

        return "No space was left on the server's disk while writing.";
    }
}
