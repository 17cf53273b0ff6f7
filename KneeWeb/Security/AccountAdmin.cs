using System.Security.Cryptography;
using KneeWeb.Data;
using KneeWeb.Jobs;
using Microsoft.AspNetCore.Identity;
using Microsoft.EntityFrameworkCore;

namespace KneeWeb.Security;

/// <summary>An account as listed by `KneeWeb users list`.</summary>
public sealed record UserSummary(string Id, string UserName, IReadOnlyList<string> Roles, IReadOnlyList<string> Groups, int LiveTokens, bool LockedOut);

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
public sealed class AccountAdmin(UserManager<IdentityUser> users, RoleManager<IdentityRole> roles, JobStore store)
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
        return password;
    }

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
