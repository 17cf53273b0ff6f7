namespace KneeWeb.Security;

/// <summary>The three roles. Members see their groups' jobs, PIs the groups they lead, Admins everything.</summary>
public static class Roles
{
    public const string Member = "Member";
    public const string PI = "PI";
    public const string Admin = "Admin";

    public static readonly IReadOnlyList<string> All = [Member, PI, Admin];

    /// <summary>The canonical spelling of a role name given in any case, or null when it is none of them.</summary>
    public static string? Parse(string? name)
    {
        foreach (string role in All)
        {
            if (string.Equals(role, name, StringComparison.OrdinalIgnoreCase))
            {
                return role;
            }
        }

        return null;
    }
}

/// <summary>Authentication scheme names.</summary>
public static class Schemes
{
    /// <summary>The default: picks one of the others per request.</summary>
    public const string Auto = "KneeWeb";

    /// <summary>`Authorization: Bearer &lt;personal API token&gt;` (or access_token= on the hub).</summary>
    public const string Token = "Token";

    /// <summary>The user name header of a trusted reverse proxy.</summary>
    public const string ProxyHeader = "ProxyHeader";
}
