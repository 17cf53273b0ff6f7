using Microsoft.Extensions.Options;

namespace KneeWeb.Security;

/// <summary>
/// Refuses cross-origin browser connections to the hub (/hubs) and the Blazor circuit (/_blazor) with
/// 403, before negotiate or the WebSocket upgrade. WebSockets are not covered by CORS and SameSite=Lax
/// treats another port or a sibling host as the same site, so without this a page served from
/// elsewhere could open the hub with a signed-in user's cookie and read job events. A request is
/// allowed when it carries no Origin (scripts and other non-browser clients, which must then bring a
/// token), when the Origin's scheme, host and port equal the request's own (as the forwarded-headers
/// settings present it), or when the Origin is listed in KneeWeb:Security:AllowedOrigins.
/// </summary>
public sealed class OriginCheck(RequestDelegate next, IOptionsMonitor<SecurityOptions> options, ILogger<OriginCheck> logger)
{
    public async Task InvokeAsync(HttpContext http)
    {
        ArgumentNullException.ThrowIfNull(http);
        if (Guards(http.Request.Path) && http.Request.Headers.Origin is { Count: > 0 } origins
            && !IsAllowed(origins.ToString(), http.Request, options.CurrentValue.AllowedOrigins))
        {
            logger.LogWarning("Refused a cross-origin {Path} request from origin {Origin}.", http.Request.Path.Value, origins.ToString());
            http.Response.StatusCode = StatusCodes.Status403Forbidden;
            return;
        }

        await next(http);
    }

    public static bool Guards(PathString path) =>
        path.StartsWithSegments("/hubs", StringComparison.OrdinalIgnoreCase)
        || path.StartsWithSegments("/_blazor", StringComparison.OrdinalIgnoreCase);

    /// <summary>True when <paramref name="origin"/> is the request's own origin or one of the allowed ones.</summary>
    public static bool IsAllowed(string origin, HttpRequest request, IEnumerable<string> allowed)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(allowed);
        // "null" (sandboxed frames, file pages), several values or anything unparsable is refused.
        if (!TryParse(origin, out Uri? parsed))
        {
            return false;
        }

        if (request.Host.HasValue && SameOrigin(parsed, request.Scheme, request.Host))
        {
            return true;
        }

        foreach (string entry in allowed)
        {
            if (TryParse(entry.Trim().TrimEnd('/'), out Uri? listed) && SameOrigin(parsed, listed))
            {
                return true;
            }
        }

        return false;
    }

    private static bool TryParse(string value, out Uri parsed)
    {
        parsed = null!;
        if (string.IsNullOrEmpty(value) || value.Contains(',', StringComparison.Ordinal)
            || !Uri.TryCreate(value, UriKind.Absolute, out Uri? uri)
            || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps)
            || uri.AbsolutePath != "/" || uri.Query.Length > 0 || uri.UserInfo.Length > 0)
        {
            return false;
        }

        parsed = uri;
        return true;
    }

    private static bool SameOrigin(Uri origin, string scheme, HostString host)
    {
        if (!Uri.TryCreate($"{scheme}://{host.Value}/", UriKind.Absolute, out Uri? own))
        {
            return false;
        }

        return SameOrigin(origin, own);
    }

    private static bool SameOrigin(Uri a, Uri b) =>
        string.Equals(a.Scheme, b.Scheme, StringComparison.OrdinalIgnoreCase)
        && string.Equals(a.IdnHost, b.IdnHost, StringComparison.OrdinalIgnoreCase)
        && a.Port == b.Port;
}
