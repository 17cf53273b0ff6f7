using System.Net;
using System.Security.Claims;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Identity;
using Microsoft.Extensions.Options;

namespace KneeWeb.Security;

/// <summary>
/// `Authorization: Bearer &lt;token&gt;` with a personal API token. On the hub (WebSockets cannot send
/// headers from browsers) the token may come as `access_token=` in the query instead.
/// </summary>
public sealed class TokenAuthenticationHandler(
    IOptionsMonitor<AuthenticationSchemeOptions> options,
    ILoggerFactory logger,
    UrlEncoder encoder,
    ApiTokenService tokens,
    UserManager<IdentityUser> users,
    IUserClaimsPrincipalFactory<IdentityUser> principals)
    : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    /// <summary>Claim holding the id of the API token a request was authenticated with.</summary>
    public const string TokenIdClaim = "kneeweb:token-id";

    public static string? TokenOf(HttpRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        string? header = request.Headers.Authorization;
        if (header is not null && header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
        {
            return header["Bearer ".Length..].Trim();
        }

        return request.Path.StartsWithSegments("/hubs", StringComparison.OrdinalIgnoreCase) && request.Query.TryGetValue("access_token", out var query)
            ? query.ToString()
            : null;
    }

    protected override async Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        string? secret = TokenOf(Request);
        if (string.IsNullOrEmpty(secret))
        {
            return AuthenticateResult.NoResult();
        }

        (long Id, string UserId)? token = await tokens.FindLiveAsync(secret, Context.RequestAborted);
        IdentityUser? user = token is null ? null : await users.FindByIdAsync(token.Value.UserId);
        // Only an Admin's lock stops a token: failed passwords on the sign-in form never lock an account.
        if (user is null || await users.IsLockedOutAsync(user))
        {
            return AuthenticateResult.Fail("The API token is not valid (unknown or revoked).");
        }

        ClaimsPrincipal principal = await principals.CreateAsync(user);
        var identity = new ClaimsIdentity(principal.Claims, Schemes.Token, ClaimTypes.Name, ClaimTypes.Role);
        // Which token, so revoking it can close the hub connections opened with it.
        identity.AddClaim(new Claim(TokenIdClaim, token!.Value.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        return AuthenticateResult.Success(new AuthenticationTicket(new ClaimsPrincipal(identity), Schemes.Token));
    }

    protected override Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        Response.StatusCode = StatusCodes.Status401Unauthorized;
        Response.Headers.WWWAuthenticate = "Bearer";
        return Task.CompletedTask;
    }
}

/// <summary>
/// Sign-in by a trusted reverse proxy's user header (off unless KneeWeb:Security:ProxyHeader:Enabled).
/// The header counts only on connections from a configured proxy address; from anywhere else it is
/// ignored and the attempt logged, and the request is as anonymous as it would be without it.
/// </summary>
public sealed class ProxyHeaderAuthenticationHandler(
    IOptionsMonitor<AuthenticationSchemeOptions> options,
    ILoggerFactory logger,
    UrlEncoder encoder,
    IOptions<SecurityOptions> security,
    UserManager<IdentityUser> users,
    IUserClaimsPrincipalFactory<IdentityUser> principals)
    : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    private readonly ProxyHeaderOptions proxy = security.Value.ProxyHeader;

    /// <summary>True when proxy sign-in is on and this request carries the header (trusted or not).</summary>
    public static bool Applies(HttpRequest request, ProxyHeaderOptions proxy)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(proxy);
        return proxy.Enabled && !string.IsNullOrEmpty(proxy.HeaderName) && request.Headers.ContainsKey(proxy.HeaderName);
    }

    public static bool IsTrusted(IPAddress? remote, ProxyHeaderOptions proxy)
    {
        ArgumentNullException.ThrowIfNull(proxy);
        if (remote is null)
        {
            return false;
        }

        if (remote.IsIPv4MappedToIPv6)
        {
            remote = remote.MapToIPv4();
        }

        foreach (string entry in proxy.TrustedProxies)
        {
            if (IPAddress.TryParse(entry.Trim(), out IPAddress? trusted) && trusted.Equals(remote))
            {
                return true;
            }
        }

        return false;
    }

    protected override async Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        if (!Applies(Request, proxy))
        {
            return AuthenticateResult.NoResult();
        }

        IPAddress? remote = Context.Connection.RemoteIpAddress;
        if (!IsTrusted(remote, proxy))
        {
            Logger.LogWarning("Ignored the {Header} header from {Remote}: not a trusted proxy address.", proxy.HeaderName, remote);
            return AuthenticateResult.NoResult();
        }

        string name = Request.Headers[proxy.HeaderName].ToString().Trim();
        IdentityUser? user = name.Length == 0 ? null : await users.FindByNameAsync(name);
        if (user is null || await users.IsLockedOutAsync(user))
        {
            return AuthenticateResult.Fail($"The proxy named an unknown or locked account '{name}'.");
        }

        ClaimsPrincipal principal = await principals.CreateAsync(user);
        var identity = new ClaimsIdentity(principal.Claims, Schemes.ProxyHeader, ClaimTypes.Name, ClaimTypes.Role);
        return AuthenticateResult.Success(new AuthenticationTicket(new ClaimsPrincipal(identity), Schemes.ProxyHeader));
    }
}
