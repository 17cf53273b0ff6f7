namespace KneeWeb.Security;

/// <summary>
/// Headers on every response: a content security policy that lets the pages run only the site's own
/// scripts (blazor.web.js, the component library, the viewers' modules and NiiVue under /lib; no inline
/// script), refuses framing, sends no referrer to other sites and stops type sniffing; and
/// `Cache-Control: no-store` on API and page responses that set no caching themselves, since they
/// carry subject ids, notes and file names a shared cache or the browser's disk must not keep.
/// Static assets keep their own caching headers.
/// </summary>
public sealed class SecurityHeaders(RequestDelegate next)
{
    /// <summary>
    /// Styles: inline style attributes are how Blazor components set widths and colours. Scripts: NiiVue
    /// compiles WebAssembly decoders ('wasm-unsafe-eval', which allows no JavaScript eval) and reads
    /// images it has turned into blob: and data: URLs.
    /// </summary>
    public const string ContentSecurityPolicy =
        "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self' 'unsafe-inline'; " +
        "img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self' blob: data:; worker-src 'self' blob:; " +
        "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'";

    public Task InvokeAsync(HttpContext http)
    {
        ArgumentNullException.ThrowIfNull(http);
        http.Response.OnStarting(static state =>
        {
            var context = (HttpContext)state;
            IHeaderDictionary headers = context.Response.Headers;
            headers.XContentTypeOptions = "nosniff";
            headers.XFrameOptions = "DENY";
            headers["Referrer-Policy"] = "same-origin";
            headers.ContentSecurityPolicy = ContentSecurityPolicy;
            if (!headers.ContainsKey("Cache-Control") && IsPrivate(context))
            {
                headers.CacheControl = "no-store";
            }

            return Task.CompletedTask;
        }, http);
        return next(http);
    }

    private static bool IsPrivate(HttpContext http) =>
        Setup.SecuritySetup.IsApiPath(http.Request.Path)
        || http.Response.ContentType?.StartsWith("text/html", StringComparison.OrdinalIgnoreCase) == true
        || http.Response.ContentType?.StartsWith("application/json", StringComparison.OrdinalIgnoreCase) == true
        || http.Response.ContentType?.StartsWith("application/problem+json", StringComparison.OrdinalIgnoreCase) == true;
}
