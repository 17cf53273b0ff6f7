using System.Globalization;
using KneeWeb.Api;
using KneeWeb.Data;
using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Identity;

namespace KneeWeb.Security;

/// <summary>The sign-in form's fields.</summary>
public sealed class SignInForm
{
    public string? UserName { get; set; }

    public string? Password { get; set; }

    public string? ReturnUrl { get; set; }
}

/// <summary>
/// Sign-in and sign-out (plain form posts: a Blazor circuit cannot set cookies), and the audit log's
/// API for Admins. Both forms carry the antiforgery token and are validated by UseAntiforgery.
/// </summary>
public static class AccountEndpoints
{
    public static IEndpointRouteBuilder MapKneeWebAccount(this IEndpointRouteBuilder app)
    {
        ArgumentNullException.ThrowIfNull(app);
        // Both forms validate their antiforgery field themselves (a clear 400 in every environment).
        // Ordered before the sign-in page's own endpoint, which also answers POST (Blazor form handling).
        app.MapPost("/account/signin", SignInAsync).AllowAnonymous().DisableAntiforgery().WithOrder(-1).ExcludeFromDescription()
            .RequireRateLimiting(SignInThrottle.Policy);
        app.MapPost("/account/signout", SignOutAsync).DisableAntiforgery().ExcludeFromDescription();

        app.MapKneeWebTokenApi();

        RouteGroupBuilder audit = app.MapGroup("/v1").WithTags("KneeWeb audit").RequireAuthorization(Roles.Admin);
        audit.MapGet("/audit", AuditJsonAsync).WithName("AuditLog")
            .WithDescription("Admins only. The audit log, newest first. Filters: from, to (ISO, UTC), user, action, job, limit.");
        audit.MapGet("/audit.csv", AuditCsvAsync).WithName("AuditLogCsv")
            .WithDescription("Admins only. The audit log as CSV; same filters.");
        return app;
    }

    /// <summary>
    /// Only paths on this site: "/jobs" yes; "//evil", "/\\evil", "https://evil" and anything holding a
    /// control character ("/\t/evil.com", which browsers read as "//evil.com") no: those fall back to "/".
    /// </summary>
    public static string LocalOrHome(string? returnUrl) =>
        !string.IsNullOrEmpty(returnUrl) && returnUrl[0] == '/'
        && (returnUrl.Length == 1 || (returnUrl[1] != '/' && returnUrl[1] != '\\'))
        && !returnUrl.Contains("://", StringComparison.Ordinal)
        && !returnUrl.Contains('\\', StringComparison.Ordinal)
        && !returnUrl.Any(char.IsControl)
        && returnUrl.Length <= 2048
            ? returnUrl
            : "/";

    private static async Task<IResult> SignInAsync(SignInGate gate, SignInThrottle throttle, AuditLog audit, IAntiforgery antiforgery, HttpContext http)
    {
        if (!await IsValidFormAsync(antiforgery, http))
        {
            return AntiforgeryRefused();
        }

        IFormCollection fields = await http.Request.ReadFormAsync(http.RequestAborted);
        var form = new SignInForm { UserName = fields["UserName"], Password = fields["Password"], ReturnUrl = fields["ReturnUrl"] };
        string userName = (form.UserName ?? "").Trim();
        string returnUrl = LocalOrHome(form.ReturnUrl);
        string target = userName.Length > 128 ? userName[..128] : userName;
        if (throttle.TryName(userName) is TimeSpan wait)
        {
            await audit.RecordAsync(new AuditEvent
            {
                TimestampUtc = DateTime.UtcNow,
                Action = AuditActions.SignInFailed,
                Target = target,
                RemoteAddress = http.Connection.RemoteIpAddress?.ToString(),
                Detail = "throttled",
            });
            await SignInThrottle.WriteThrottledAsync(http, wait);
            return Results.Empty;
        }

        (SignInOutcome outcome, IdentityUser? user) = await gate.SignInAsync(userName, form.Password ?? "");
        if (outcome == SignInOutcome.SignedIn)
        {
            await audit.RecordAsync(new AuditEvent
            {
                TimestampUtc = DateTime.UtcNow,
                UserId = user?.Id,
                UserName = user?.UserName,
                Action = AuditActions.SignIn,
                RemoteAddress = http.Connection.RemoteIpAddress?.ToString(),
            });
            return Results.LocalRedirect(returnUrl);
        }

        await audit.RecordAsync(new AuditEvent
        {
            TimestampUtc = DateTime.UtcNow,
            Action = AuditActions.SignInFailed,
            Target = target,
            RemoteAddress = http.Connection.RemoteIpAddress?.ToString(),
            Detail = outcome == SignInOutcome.Locked ? "locked" : null,
        });
        string error = outcome == SignInOutcome.Locked ? "locked" : "failed";
        return Results.Redirect($"/account/signin?error={error}&returnUrl={Uri.EscapeDataString(returnUrl)}");
    }

    /// <summary>
    /// Signs out, and ends every browser session of the account, not only this one: a new security
    /// stamp makes any copy of a cookie worthless, and the account's open pages and hub connections are
    /// closed. API tokens are separate credentials and keep working.
    /// </summary>
    private static async Task<IResult> SignOutAsync(SignInManager<IdentityUser> signIn, AccountSessionEvents sessions, AuditLog audit, IAntiforgery antiforgery, HttpContext http)
    {
        if (!await IsValidFormAsync(antiforgery, http))
        {
            return AntiforgeryRefused();
        }

        await audit.RecordAsync(http, AuditActions.SignOut);
        if (http.User.Identity?.AuthenticationType == IdentityConstants.ApplicationScheme
            && await signIn.UserManager.GetUserAsync(http.User) is { } user)
        {
            IdentityResult renewed = await signIn.UserManager.UpdateSecurityStampAsync(user);
            if (renewed.Succeeded)
            {
                sessions.EndSessions(user.Id, SessionEnd.BrowserSessions);
            }
        }

        await signIn.SignOutAsync();
        return Results.Redirect("/account/signin");
    }

    private static async Task<bool> IsValidFormAsync(IAntiforgery antiforgery, HttpContext http)
    {
        if (!http.Request.HasFormContentType)
        {
            return false;
        }

        try
        {
            await antiforgery.ValidateRequestAsync(http);
            return true;
        }
        catch (AntiforgeryValidationException)
        {
            return false;
        }
    }

    private static IResult AntiforgeryRefused() =>
        Results.Problem(statusCode: StatusCodes.Status400BadRequest, title: "The form's antiforgery token is missing or invalid.",
            detail: "Reload the page and send the form again.", extensions: new Dictionary<string, object?> { ["code"] = "ANTIFORGERY" });

    private static async Task<IResult> AuditJsonAsync(HttpContext http, AuditLog audit, CancellationToken ct)
    {
        (AuditFilter? filter, string? error) = ParseFilter(http.Request.Query);
        if (filter is null)
        {
            return Results.Problem(statusCode: StatusCodes.Status400BadRequest, title: error);
        }

        List<AuditEvent> events = await audit.QueryAsync(filter, ct);
        return Results.Ok(events.ConvertAll(e => new
        {
            id = e.Id,
            timestamp_utc = e.TimestampUtc,
            user = e.UserName,
            action = e.Action,
            job_id = e.JobId,
            target = e.Target,
            remote_address = e.RemoteAddress,
            detail = e.Detail,
        }));
    }

    private static async Task<IResult> AuditCsvAsync(HttpContext http, AuditLog audit, CancellationToken ct)
    {
        (AuditFilter? filter, string? error) = ParseFilter(http.Request.Query);
        if (filter is null)
        {
            return Results.Problem(statusCode: StatusCodes.Status400BadRequest, title: error);
        }

        List<AuditEvent> events = await audit.QueryAsync(filter with { Limit = filter.Limit == 1000 ? 100_000 : filter.Limit }, ct);
        return Results.File(System.Text.Encoding.UTF8.GetBytes(AuditLog.ToCsv(events)), "text/csv", $"kneeweb-audit-{DateTime.UtcNow:yyyyMMdd-HHmmss}.csv");
    }

    public static (AuditFilter? Filter, string? Error) ParseFilter(IQueryCollection query)
    {
        ArgumentNullException.ThrowIfNull(query);
        DateTime? from = null, to = null;
        Guid? job = null;
        int limit = 1000;
        if (query.TryGetValue("from", out var f) && !string.IsNullOrEmpty(f))
        {
            if (!DateTime.TryParse(f, CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal, out DateTime v))
            {
                return (null, "from must be an ISO date or time (UTC).");
            }

            from = v;
        }

        if (query.TryGetValue("to", out var t) && !string.IsNullOrEmpty(t))
        {
            if (!DateTime.TryParse(t, CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal, out DateTime v))
            {
                return (null, "to must be an ISO date or time (UTC).");
            }

            to = v;
        }

        if (query.TryGetValue("job", out var j) && !string.IsNullOrEmpty(j))
        {
            if (!Guid.TryParse(j, out Guid g))
            {
                return (null, "job must be a job id.");
            }

            job = g;
        }

        if (query.TryGetValue("limit", out var l) && !string.IsNullOrEmpty(l) && (!int.TryParse(l, NumberStyles.None, CultureInfo.InvariantCulture, out limit) || limit < 1))
        {
            return (null, "limit must be a positive whole number.");
        }

        return (new AuditFilter(from, to, query["user"].ToString() is { Length: > 0 } u ? u : null, query["action"].ToString() is { Length: > 0 } a ? a : null, job, limit), null);
    }
}
