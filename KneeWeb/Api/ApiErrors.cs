using KneeWeb.Jobs;
using Microsoft.AspNetCore.Mvc;

namespace KneeWeb.Api;

/// <summary>Errors as RFC 7807 ProblemDetails that carry the catalog code and its hint.</summary>
public static class ApiErrors
{
    public static IResult Problem(ErrorCode code, int status, string? specific = null, IDictionary<string, object?>? extensions = null)
    {
        ErrorEntry entry = ErrorCatalog.Get(code);
        var problem = new ProblemDetails
        {
            Status = status,
            Title = entry.Message,
            // The one place API errors are made: no server paths in what a caller reads.
            Detail = specific is null ? null : ErrorCatalog.HidePaths(specific),
            Type = $"https://kneeweb.local/errors/{code}",
        };
        problem.Extensions["code"] = code.ToString();
        problem.Extensions["hint"] = entry.Hint;
        if (extensions is not null)
        {
            foreach ((string key, object? value) in extensions)
            {
                problem.Extensions[key] = value;
            }
        }

        return Results.Problem(problem);
    }

    public static IResult NotFound(string what) =>
        Results.Problem(new ProblemDetails { Status = StatusCodes.Status404NotFound, Title = $"{what} was not found.", Extensions = { ["code"] = "NOT_FOUND" } });
}
