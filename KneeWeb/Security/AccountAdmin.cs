using System.Security.Cryptography;
using KneeWeb.Data;
using KneeWeb.Jobs;
using Microsoft.AspNetCore.Identity;
using Microsoft.EntityFrameworkCore;

namespace KneeWeb.Security;

/// <summary>An account as listed by `KneeWeb users list`.</summary>
public sealed record UserSummary(string Id, string UserName, IReadOnlyList<string> Roles, IReadOnlyList<string> Groups, int LiveTokens, bool LockedOut);

/// <summary>A member of a group as the admin page lists it.</summary>
public sealed record GroupMemberSummary(string UserId, string UserName, bool IsLead);

/// <summary>A group with its members, leads first.</summary>
public sealed record GroupSummary(int Id, string Name, string? Description, IReadOnlyList<GroupMemberSummary> Members);

/// <summary>Thrown for a refused account operation; the message is for the person at the terminal.</summary>
public sealed class AccountException(string message) : Exception(message)
{
    public AccountException()
        : this("The account operation was refused.")
    {
    }

    public AccountException(string message, Exception inner)
        : this(message + " " + inner?.Message)
    {
    }
}

/// <summary>
/// Creating accounts and groups: what `KneeWeb users ...` and `KneeWeb groups ...` do, and what
/// creates the first Admin on a fresh install.
/// </summary>
public sealed class AccountAdmin(UserManager<IdentityUser> users, RoleManager<IdentityRole> roles, JobStore store, AccountSessionEvents sessions)
{
    /// <summary>Creates the three roles if missing.</summary>
    public async Task EnsureRolesAsync()
    {
        foreach (string role in Roles.All)
        {
            if (!await roles.RoleExistsAsync(role))
            {
                Check(await roles.CreateAsync(new IdentityRole(role)), $"create role {role}");
            }
        }
    }

    /// <summary>
    /// Adds an account with a role and groups (the default group when none is named). A PI leads the
    /// groups they are added to. Returns the user and the password (generated when none was given).
    /// </summary>
    public async Task<(IdentityUser User, string Password)> AddUserAsync(string userName, string role, string? password = null, IReadOnlyList<string>? groups = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(userName);
        string canonicalRole = Roles.Parse(role) ?? throw new AccountException($"Unknown role '{role}': use {string.Join(", ", Roles.All)}.");
        await EnsureRolesAsync();
        if (await users.FindByNameAsync(userName) is not null)
        {
            throw new AccountException($"An account named '{userName}' already exists.");
        }

        List<Group> targets = await ResolveGroupsAsync(groups is { Count: > 0 } ? groups : [Group.DefaultName]);
        password ??= GeneratePassword();
        var user = new IdentityUser(userName.Trim());
        Check(await users.CreateAsync(user, password), $"create account {userName}");
        Check(await users.AddToRoleAsync(user, canonicalRole), $"give {userName} the role {canonicalRole}");
        foreach (Group g in targets)
        {
            await AddMemberAsync(g.Id, user.Id, lead: canonicalRole == Roles.PI);
        }

        return (user, password);
    }

    /// <summary>The account if it exists, created as <see cref="AddUserAsync"/> would otherwise (idempotent set-up).</summary>
    public async Task<IdentityUser> EnsureUserAsync(string userName, string role, string password, IReadOnlyList<string>? groups = null)
    {
        IdentityUser? existing = await users.FindByNameAsync(userName);
        return existing ?? (await AddUserAsync(userName, role, password, groups)).User;
    }

    public async Task<IdentityUser> FindAsync(string userName) =>
        await users.FindByNameAsync(userName) ?? throw new AccountException($"There is no account named '{userName}'.");

    public async Task<List<UserSummary>> ListAsync()
    {
        List<IdentityUser> all = await users.Users.OrderBy(u => u.UserName).ToListAsync();
        Dictionary<int, string> groupNames = await store.ReadAsync(db => db.Groups.AsNoTracking().ToDictionaryAsync(g => g.Id, g => g.Name));
        List<GroupMembership> memberships = await store.ReadAsync(db => db.GroupMemberships.AsNoTracking().ToListAsync());
        List<string> liveTokenOwners = await store.ReadAsync(db => db.ApiTokens.AsNoTracking().Where(t => t.RevokedUtc == null).Select(t => t.UserId).ToListAsync());
        var list = new List<UserSummary>(all.Count);
        foreach (IdentityUser u in all)
        {
            IList<string> userRoles = await users.GetRolesAsync(u);
            List<string> userGroups = [.. memberships.Where(m => m.UserId == u.Id).Select(m => groupNames.GetValueOrDefault(m.GroupId, $"#{m.GroupId}") + (m.IsLead ? " (lead)" : ""))];
            list.Add(new UserSummary(u.Id, u.UserName ?? "", [.. userRoles], userGroups, liveTokenOwners.Count(id => id == u.Id), await users.IsLockedOutAsync(u)));
        }

        return list;
    }

    /// <summary>Sets a new password (generated when none is given); existing sign-ins end at their next check.</summary>
    public async Task<string> SetPasswordAsync(string userName, string? password = null)
    {
        IdentityUser user = await FindAsync(userName);
        password ??= GeneratePassword();
        IdentityResult valid = IdentityResult.Success;
        foreach (IPasswordValidator<IdentityUser> validator in users.PasswordValidators)
        {
            valid = await validator.ValidateAsync(users, user, password);
            if (!valid.Succeeded)
            {
                break;
            }
        }

        Check(valid, $"set the password of {userName}");
        Check(await users.RemovePasswordAsync(user), $"clear the password of {userName}");
        Check(await users.AddPasswordAsync(user, password), $"set the password of {userName}");
        Check(await users.SetLockoutEndDateAsync(user, null), $"unlock {userName}");
        // Removing and adding the password gave the account a new security stamp: old cookies are refused.
        sessions.EndSessions(user.Id, SessionEnd.BrowserSessions);
        return password;
    }

    /// <summary>Gives the account exactly this role (the others are removed). Group leads are not touched.</summary>
    public async Task<string> SetRoleAsync(string userName, string role)
    {
        string canonicalRole = Roles.Parse(role) ?? throw new AccountException($"Unknown role '{role}': use {string.Join(", ", Roles.All)}.");
        await EnsureRolesAsync();
        IdentityUser user = await FindAsync(userName);
        IList<string> current = await users.GetRolesAsync(user);
        List<string> drop = [.. current.Where(r => r != canonicalRole)];
        if (drop.Count > 0)
        {
            Check(await users.RemoveFromRolesAsync(user, drop), $"remove the roles of {userName}");
        }

        if (!current.Contains(canonicalRole))
        {
            Check(await users.AddToRoleAsync(user, canonicalRole), $"give {userName} the role {canonicalRole}");
        }

        // A new stamp ends the account's browser sessions: they sign in again and get the new role.
        // Token connections stay open; the hub re-reads their rights.
        Check(await users.UpdateSecurityStampAsync(user), $"renew the sign-ins of {userName}");
        sessions.EndSessions(user.Id, SessionEnd.BrowserSessions);
        return canonicalRole;
    }

    /// <summary>
    /// Locks an account until unlocked (instead of deleting it, which would orphan its jobs). Tokens,
    /// proxy and cookie sign-ins are refused from the next request, and its open hub connections and
    /// pages are closed (at once in the site; within KneeWeb:Security:SessionRecheckSeconds when
    /// locked from the command line).
    /// </summary>
    public async Task LockAsync(string userName)
    {
        IdentityUser user = await FindAsync(userName);
        Check(await users.SetLockoutEnabledAsync(user, true), $"enable lock-out of {userName}");
        Check(await users.SetLockoutEndDateAsync(user, DateTimeOffset.MaxValue), $"lock {userName}");
        Check(await users.UpdateSecurityStampAsync(user), $"end the sign-ins of {userName}");
        sessions.EndSessions(user.Id, SessionEnd.Everything);
    }

    /// <summary>Lifts a lock (an admin's, or one from failed sign-ins of earlier versions).</summary>
    public async Task UnlockAsync(string userName)
    {
        IdentityUser user = await FindAsync(userName);
        Check(await users.SetLockoutEndDateAsync(user, null), $"unlock {userName}");
        Check(await users.ResetAccessFailedCountAsync(user), $"reset the failed sign-ins of {userName}");
    }

    /// <summary>Every group with its members, by name.</summary>
    public async Task<List<GroupSummary>> ListGroupsAsync()
    {
        List<Group> groups = await store.ReadAsync(db => db.Groups.AsNoTracking().OrderBy(g => g.Name).ToListAsync());
        List<GroupMembership> memberships = await store.ReadAsync(db => db.GroupMemberships.AsNoTracking().ToListAsync());
        Dictionary<string, string> names = await users.Users.ToDictionaryAsync(u => u.Id, u => u.UserName ?? u.Id);
        var list = new List<GroupSummary>(groups.Count);
        foreach (Group g in groups)
        {
            List<GroupMemberSummary> members = [.. memberships.Where(m => m.GroupId == g.Id)
                .Select(m => new GroupMemberSummary(m.UserId, names.GetValueOrDefault(m.UserId, m.UserId), m.IsLead))
                .OrderByDescending(m => m.IsLead).ThenBy(m => m.UserName, StringComparer.Ordinal)];
            list.Add(new GroupSummary(g.Id, g.Name, g.Description, members));
        }

        return list;
    }

    /// <summary>Adds a membership, or changes whether it is a lead one. Returns the group's and user's names.</summary>
    public async Task<(string Group, string User)> SetMembershipAsync(int groupId, string userName, bool lead)
    {
        IdentityUser user = await FindAsync(userName);
        string group = await GroupNameAsync(groupId);
        await store.WriteAsync(async db =>
        {
            GroupMembership? m = await db.GroupMemberships.FirstOrDefaultAsync(x => x.GroupId == groupId && x.UserId == user.Id);
            if (m is null)
            {
                db.GroupMemberships.Add(new GroupMembership { GroupId = groupId, UserId = user.Id, IsLead = lead });
            }
            else
            {
                m.IsLead = lead;
            }
        });
        return (group, user.UserName ?? userName);
    }

    /// <summary>Removes a membership; false when there was none. The user's jobs stay in the group.</summary>
    public async Task<bool> RemoveMemberAsync(int groupId, string userId) =>
        await store.WriteAsync(async db =>
        {
            GroupMembership? m = await db.GroupMemberships.FirstOrDefaultAsync(x => x.GroupId == groupId && x.UserId == userId);
            if (m is null)
            {
                return false;
            }

            db.GroupMemberships.Remove(m);
            return true;
        });

    public async Task<string> GroupNameAsync(int groupId) =>
        await store.ReadAsync(db => db.Groups.AsNoTracking().Where(g => g.Id == groupId).Select(g => g.Name).FirstOrDefaultAsync())
        ?? throw new AccountException($"There is no group #{groupId}.");

    public async Task<bool> AnyUserAsync() => await users.Users.AnyAsync();

    /// <summary>Adds a group (a lab project), optionally with a lead (who gets a lead membership).</summary>
    public async Task<Group> AddGroupAsync(string name, string? description = null, string? leadUserName = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        string trimmed = name.Trim();
        IdentityUser? lead = leadUserName is null ? null : await FindAsync(leadUserName);
        Group group = await store.WriteAsync(async db =>
        {
            if (await db.Groups.AnyAsync(g => g.Name == trimmed))
            {
                throw new AccountException($"A group named '{trimmed}' already exists.");
            }

            var g = new Group { Name = trimmed, Description = description, CreatedUtc = DateTime.UtcNow };
            db.Groups.Add(g);
            return g;
        });
        if (lead is not null)
        {
            await AddMemberAsync(group.Id, lead.Id, lead: true);
        }

        return group;
    }

    /// <summary>Adds (or updates) a membership.</summary>
    public Task AddMemberAsync(int groupId, string userId, bool lead) =>
        store.WriteAsync(async db =>
        {
            GroupMembership? m = await db.GroupMemberships.FirstOrDefaultAsync(x => x.GroupId == groupId && x.UserId == userId);
            if (m is null)
            {
                db.GroupMemberships.Add(new GroupMembership { GroupId = groupId, UserId = userId, IsLead = lead });
            }
            else
            {
                m.IsLead |= lead;
            }
        });

    public async Task AddMemberAsync(string groupName, string userName, bool lead)
    {
        List<Group> groups = await ResolveGroupsAsync([groupName]);
        IdentityUser user = await FindAsync(userName);
        await AddMemberAsync(groups[0].Id, user.Id, lead);
    }

    /// <summary>A 20-character password from an unambiguous alphabet (about 115 bits).</summary>
    public static string GeneratePassword()
    {
        const string alphabet = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
        return RandomNumberGenerator.GetString(alphabet, 20);
    }

    private async Task<List<Group>> ResolveGroupsAsync(IReadOnlyList<string> names)
    {
        var found = new List<Group>(names.Count);
        foreach (string name in names)
        {
            string trimmed = name.Trim();
            Group? g = await store.ReadAsync(db => db.Groups.AsNoTracking().FirstOrDefaultAsync(x => x.Name == trimmed));
            found.Add(g ?? throw new AccountException($"There is no group named '{trimmed}' (create it with `KneeWeb groups add {trimmed}`)."));
        }

        return found;
    }

    private static void Check(IdentityResult result, string what)
    {
        if (!result.Succeeded)
        {
            throw new AccountException($"Could not {what}: {string.Join(" ", result.Errors.Select(e => e.Description))}");
        }
    }
}
