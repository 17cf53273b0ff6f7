namespace KneeWeb.Security;

/// <summary>Settings under "KneeWeb:Security".</summary>
public sealed class SecurityOptions
{
    public const string Section = "KneeWeb:Security";

    /// <summary>Sign-in by a header set by a trusted reverse proxy (single sign-on). Off by default.</summary>
    public ProxyHeaderOptions ProxyHeader { get; set; } = new();

    /// <summary>How long a browser sign-in lasts without activity.</summary>
    public TimeSpan SessionIdle { get; set; } = TimeSpan.FromHours(8);

    /// <summary>Name of the Admin account created on first start when there is no account at all.</summary>
    public string InitialAdminName { get; set; } = "admin";

    /// <summary>How often a hub connection's rights are re-read while it receives events (seconds).</summary>
    public int HubRecheckSeconds { get; set; } = 30;

    /// <summary>
    /// How stale a sign-in cookie's check against its account may be (seconds). A sign-out, lock, role
    /// or password change made by this process ends sessions at once; one made elsewhere (the command
    /// line, another server on the same database) within this time. Open hub connections and circuits
    /// of a changed account are re-checked at the same interval.
    /// </summary>
    public int SessionRecheckSeconds { get; set; } = 10;

    /// <summary>
    /// Origins (scheme://host[:port]) besides the site's own that may open the hub and the Blazor
    /// circuit, e.g. the address a reverse proxy serves the site under. Empty: same origin only.
    /// </summary>
    public IList<string> AllowedOrigins { get; } = [];

    /// <summary>How many sign-in attempts the password form accepts before asking to wait.</summary>
    public SignInThrottleOptions SignInThrottle { get; set; } = new();
}

/// <summary>
/// Sign-in throttling: instead of locking an account after failed passwords (which anyone can do to
/// anyone), attempts are rate-limited per client address and per account name. Throttled attempts
/// are answered 429 with Retry-After; API tokens are never affected.
/// </summary>
public sealed class SignInThrottleOptions
{
    /// <summary>Attempts per client address per window.</summary>
    public int PerAddress { get; set; } = 30;

    /// <summary>Attempts per account name per window (from all addresses together).</summary>
    public int PerName { get; set; } = 10;

    /// <summary>The window the counts apply to.</summary>
    public TimeSpan Window { get; set; } = TimeSpan.FromMinutes(1);
}

/// <summary>
/// Trusted reverse-proxy sign-in: the proxy authenticates people (e.g. against the campus SSO) and
/// passes the user name in a header. The header is believed only on connections from the listed proxy
/// addresses; from anywhere else it is ignored (and logged), so nobody can claim a name by typing it.
/// The named account must exist (create it with `KneeWeb users add`).
/// </summary>
public sealed class ProxyHeaderOptions
{
    public bool Enabled { get; set; }

    public string HeaderName { get; set; } = "X-Remote-User";

    /// <summary>IP addresses of the proxies whose header is believed (e.g. "127.0.0.1", "::1").</summary>
    public IList<string> TrustedProxies { get; } = [];
}
