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
