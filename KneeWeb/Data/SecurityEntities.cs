namespace KneeWeb.Data;

/// <summary>A lab project: jobs belong to one, people are members (or leads) of some.</summary>
public sealed class Group
{
    /// <summary>The group every install starts with (created by the Accounts migration).</summary>
    public const int DefaultId = 1;

    public const string DefaultName = "default";

    public int Id { get; set; }

    public string Name { get; set; } = "";

    public string? Description { get; set; }

    public DateTime CreatedUtc { get; set; }
}

/// <summary>A user's place in a group. A lead (a PI) may cancel and delete every job of the group.</summary>
public sealed class GroupMembership
{
    public int GroupId { get; set; }

    public string UserId { get; set; } = "";

    public bool IsLead { get; set; }
}

/// <summary>
/// A personal API token for scripts. Only a SHA-256 of the secret is stored; the secret is shown once,
/// when created. A revoked token stops working on the next request (it is looked up every time).
/// </summary>
public sealed class ApiToken
{
    public long Id { get; set; }

    public string UserId { get; set; } = "";

    public string Name { get; set; } = "";

    /// <summary>The first characters of the secret, shown in lists so people can tell tokens apart.</summary>
    public string Prefix { get; set; } = "";

    /// <summary>Lower-case hex SHA-256 of the whole secret.</summary>
    public string Hash { get; set; } = "";

    public DateTime CreatedUtc { get; set; }

    public DateTime? RevokedUtc { get; set; }

    /// <summary>When a request last used the token (written at most once a minute per token).</summary>
    public DateTime? LastUsedUtc { get; set; }
}

/// <summary>
/// One line of the audit log: who did what to which job, when (UTC) and from where. Append-only:
/// the table refuses UPDATE and DELETE (SQLite triggers from the Accounts migration).
/// </summary>
public sealed class AuditEvent
{
    public long Id { get; set; }

    public DateTime TimestampUtc { get; set; }

    public string? UserId { get; set; }

    public string? UserName { get; set; }

    /// <summary>One of <see cref="AuditActions"/>.</summary>
    public string Action { get; set; } = "";

    public Guid? JobId { get; set; }

    /// <summary>The file or other object acted on (artifact name, token id, page), if any.</summary>
    public string? Target { get; set; }

    public string? RemoteAddress { get; set; }

    public string? Detail { get; set; }
}

/// <summary>The actions the audit log records.</summary>
public static class AuditActions
{
    public const string Upload = "upload";
    public const string View = "view";
    public const string Download = "download";
    public const string Cancel = "cancel";
    public const string Delete = "delete";
    public const string ExcludeFromCohort = "exclude-from-cohort";
    public const string IncludeInCohort = "include-in-cohort";
    public const string SignIn = "sign-in";
    public const string SignInFailed = "sign-in-failed";
    public const string SignOut = "sign-out";
    public const string TokenCreated = "token-created";
    public const string TokenRevoked = "token-revoked";
    public const string AccessDenied = "access-denied";
    public const string UserCreated = "user-created";
    public const string RoleChanged = "role-changed";
    public const string UserLocked = "user-locked";
    public const string UserUnlocked = "user-unlocked";
    public const string GroupCreated = "group-created";
    public const string MemberAdded = "member-added";
    public const string MemberRemoved = "member-removed";
}
