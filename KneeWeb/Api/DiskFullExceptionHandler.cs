using System.Net;
using KneeWeb.Jobs;
using Microsoft.AspNetCore.Diagnostics;

namespace KneeWeb.Api;

/// <summary>
/// The one place a full disk becomes an answer: any request whose work (an audit row, a sign-in, a
/// token, a download's record) hit ENOSPC or SQLITE_FULL gets 507 with the catalog's DISK_FULL words,
/// never a 500 and never a server path. API clients get ProblemDetails; browsers a short page.
/// </summary>
public sealed class DiskFullExceptionHandler(ILogger<DiskFullExceptionHandler> logger, Microsoft.Extensions.Options.IOptions<Setup.KneeWebOptions> options) : IExceptionHandler
{
    public async ValueTask<bool> TryHandleAsync(HttpContext httpContext, Exception exception, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(httpContext);
        // Identity's own writes (lock-out counts) reach SQLite without the job store; their SQLITE_FULL
        // is hidden behind EF's failed rollback, so a database failure on a disk without room counts too.
        bool full = DiskFull.Is(exception)
            || (exception is Microsoft.EntityFrameworkCore.DbUpdateException or Microsoft.Data.Sqlite.SqliteException
                && Imaging.Io.DiskSpace.FreeBytes(options.Value.FullDataRoot) is >= 0 and < (1L << 20));
        if (!full || httpContext.Response.HasStarted)
        {
            return false;
        }

        logger.LogError("{Method} {Path} failed: the data folder's disk is full ({Type})", httpContext.Request.Method, httpContext.Request.Path, exception.GetType().Name);
        httpContext.Response.Clear();
        httpContext.Response.StatusCode = StatusCodes.Status507InsufficientStorage;
        ErrorEntry entry = ErrorCatalog.Get(ErrorCode.DISK_FULL);
        bool page = !httpContext.Request.Path.StartsWithSegments("/v1", StringComparison.Ordinal)
            && httpContext.Request.Headers.Accept.ToString().Contains("text/html", StringComparison.OrdinalIgnoreCase);
        if (page)
        {
            httpContext.Response.ContentType = "text/html; charset=utf-8";
            await httpContext.Response.WriteAsync(
                $"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Disk full - KneeWeb</title></head><body>"
                + $"<h1>{WebUtility.HtmlEncode(entry.Message)}</h1><p>{WebUtility.HtmlEncode(entry.Hint)}</p><p>Code: {entry.Code}</p></body></html>",
                cancellationToken);
            return true;
        }

        await ApiErrors.Problem(ErrorCode.DISK_FULL, StatusCodes.Status507InsufficientStorage, DiskFull.Describe(exception)).ExecuteAsync(httpContext);
        return true;
    }
}
