using System.CommandLine;
using System.Globalization;
using KneeWeb.Security;
using Microsoft.AspNetCore.Identity;

namespace KneeWeb.Cli;

/// <summary>
/// `KneeWeb users add|list|token create|token revoke` and `KneeWeb groups add|list`: account
/// administration on the data folder (the site may be running; SQLite is shared safely).
/// </summary>
public static class UsersCommands
{
    public static Command Create()
    {
        var users = new Command("users", "Accounts: add, list, API tokens.");
        users.Subcommands.Add(CreateAdd());
        users.Subcommands.Add(CreateList());
        users.Subcommands.Add(CreateSetPassword());
        users.Subcommands.Add(CreateLock(lockIt: true));
        users.Subcommands.Add(CreateLock(lockIt: false));
        users.Subcommands.Add(CreateSetRole());
        var token = new Command("token", "Personal API tokens (Authorization: Bearer <token>).");
        token.Subcommands.Add(CreateTokenCreate());
        token.Subcommands.Add(CreateTokenRevoke());
        users.Subcommands.Add(token);
        return users;
    }

    public static Command CreateGroups()
    {
        var groups = new Command("groups", "Groups (lab projects): jobs belong to one; members see its jobs.");
        var name = new Argument<string>("name") { Description = "Group name." };
        var lead = new Option<string?>("--lead") { Description = "An account that leads the group (a PI)." };
        var description = new Option<string?>("--description") { Description = "What the project is." };
        var dataRoot = DataRootOption();
        var add = new Command("add", "Add a group.") { name, lead, description, dataRoot };
        add.SetAction((parse, _) => RunAsync(parse.GetValue(dataRoot), async host =>
        {
            KneeWeb.Data.Group group = await host.Accounts.AddGroupAsync(parse.GetValue(name)!, parse.GetValue(description), parse.GetValue(lead));
            Console.WriteLine($"Added group '{group.Name}' (id {group.Id}).");
            return 0;
        }));
        groups.Subcommands.Add(add);

        var user = new Argument<string>("user") { Description = "Account name." };
        var groupName = new Argument<string>("group") { Description = "Group name." };
        var asLead = new Option<bool>("--lead") { Description = "As a lead of the group (may cancel and delete its jobs)." };
        var dataRoot2 = DataRootOption();
        var member = new Command("add-member", "Add an account to a group.") { groupName, user, asLead, dataRoot2 };
        member.SetAction((parse, _) => RunAsync(parse.GetValue(dataRoot2), async host =>
        {
            await host.Accounts.AddMemberAsync(parse.GetValue(groupName)!, parse.GetValue(user)!, parse.GetValue(asLead));
            Console.WriteLine($"'{parse.GetValue(user)}' is now in group '{parse.GetValue(groupName)}'.");
            return 0;
        }));
        groups.Subcommands.Add(member);
        return groups;
    }

    private static Command CreateAdd()
    {
        var name = new Argument<string>("name") { Description = "Account (user) name." };
        var role = new Option<string>("--role") { Description = "Member, PI or Admin.", Required = true };
        var password = new Option<string?>("--password") { Description = "Password (at least 12 characters); generated and printed when left out." };
        var group = new Option<string[]>("--group") { Description = "Group(s) to join (a PI leads them); default: the group 'default'.", AllowMultipleArgumentsPerToken = true };
        var dataRoot = DataRootOption();
        var command = new Command("add", "Add an account.") { name, role, password, group, dataRoot };
        command.SetAction((parse, _) => RunAsync(parse.GetValue(dataRoot), async host =>
        {
            string? given = parse.GetValue(password);
            (IdentityUser user, string actual) = await host.Accounts.AddUserAsync(parse.GetValue(name)!, parse.GetValue(role)!, given, parse.GetValue(group));
            Console.WriteLine($"Added '{user.UserName}' as {Roles.Parse(parse.GetValue(role))}.");
            if (given is null)
            {
                Console.WriteLine($"password: {actual}");
            }

            return 0;
        }));
        return command;
    }

    private static Command CreateSetPassword()
    {
        var name = new Argument<string>("name") { Description = "Account name." };
        var password = new Option<string?>("--password") { Description = "New password (at least 12 characters); generated and printed when left out." };
        var dataRoot = DataRootOption();
        var command = new Command("set-password", "Set an account's password (and lift a lock-out).") { name, password, dataRoot };
        command.SetAction((parse, _) => RunAsync(parse.GetValue(dataRoot), async host =>
        {
            string? given = parse.GetValue(password);
            string actual = await host.Accounts.SetPasswordAsync(parse.GetValue(name)!, given);
            Console.WriteLine($"Set the password of '{parse.GetValue(name)}'.");
            if (given is null)
            {
                Console.WriteLine($"password: {actual}");
            }

            return 0;
        }));
        return command;
    }

    private static Command CreateLock(bool lockIt)
    {
        var name = new Argument<string>("name") { Description = "Account name." };
        var dataRoot = DataRootOption();
        var command = lockIt
            ? new Command("lock", "Lock an account (instead of deleting it): tokens stop at once, sign-ins within a minute.") { name, dataRoot }
            : new Command("unlock", "Unlock an account.") { name, dataRoot };
        command.SetAction((parse, _) => RunAsync(parse.GetValue(dataRoot), async host =>
        {
            IdentityUser account = await host.Accounts.FindAsync(parse.GetValue(name)!);
            if (lockIt)
            {
                await host.Accounts.LockAsync(account.UserName!);
            }
            else
            {
                await host.Accounts.UnlockAsync(account.UserName!);
            }

            await CliAuditAsync(host, lockIt ? KneeWeb.Data.AuditActions.UserLocked : KneeWeb.Data.AuditActions.UserUnlocked, $"user {account.UserName}", null);
            Console.WriteLine($"{(lockIt ? "Locked" : "Unlocked")} '{account.UserName}'.");
            return 0;
        }));
        return command;
    }

    private static Command CreateSetRole()
    {
        var name = new Argument<string>("name") { Description = "Account name." };
        var role = new Argument<string>("role") { Description = "Member, PI or Admin." };
        var dataRoot = DataRootOption();
        var command = new Command("set-role", "Give an account exactly one role.") { name, role, dataRoot };
        command.SetAction((parse, _) => RunAsync(parse.GetValue(dataRoot), async host =>
        {
            string canonical = await host.Accounts.SetRoleAsync(parse.GetValue(name)!, parse.GetValue(role)!);
            await CliAuditAsync(host, KneeWeb.Data.AuditActions.RoleChanged, $"user {parse.GetValue(name)}", $"role {canonical}");
            Console.WriteLine($"'{parse.GetValue(name)}' is now {canonical}.");
            return 0;
        }));
        return command;
    }

    // Changes made at the terminal are audited as from "cli", by the operating-system account that ran them.
    private static Task CliAuditAsync(AccountsHost host, string action, string target, string? detail) =>
        host.Audit.RecordAsync(new KneeWeb.Data.AuditEvent
        {
            TimestampUtc = DateTime.UtcNow, UserName = Environment.UserName + " (cli)", Action = action, Target = target, Detail = detail, RemoteAddress = "cli",
        });

    private static Command CreateList()
    {
        var dataRoot = DataRootOption();
        var command = new Command("list", "List accounts with roles, groups and live tokens.") { dataRoot };
        command.SetAction((parse, _) => RunAsync(parse.GetValue(dataRoot), async host =>
        {
            List<UserSummary> all = await host.Accounts.ListAsync();
            Console.WriteLine($"{"user",-24} {"roles",-14} {"tokens",6}  groups");
            foreach (UserSummary u in all)
            {
                Console.WriteLine($"{u.UserName,-24} {string.Join(",", u.Roles),-14} {u.LiveTokens,6}  {string.Join(", ", u.Groups)}{(u.LockedOut ? "  (locked out)" : "")}");
            }

            return 0;
        }));
        return command;
    }

    private static Command CreateTokenCreate()
    {
        var user = new Argument<string>("user") { Description = "Account the token acts as." };
        var name = new Option<string>("--name") { Description = "What the token is for.", DefaultValueFactory = _ => "cli" };
        var dataRoot = DataRootOption();
        var command = new Command("create", "Create a token; prints it once (only its hash is stored).") { user, name, dataRoot };
        command.SetAction((parse, _) => RunAsync(parse.GetValue(dataRoot), async host =>
        {
            IdentityUser account = await host.Accounts.FindAsync(parse.GetValue(user)!);
            (ApiTokenInfo info, string secret) = await host.Tokens.CreateAsync(account.Id, parse.GetValue(name)!);
            await host.Audit.RecordAsync(new KneeWeb.Data.AuditEvent
            {
                TimestampUtc = DateTime.UtcNow, UserId = account.Id, UserName = account.UserName, Action = KneeWeb.Data.AuditActions.TokenCreated,
                Target = $"token {info.Id} ({info.Name})", RemoteAddress = "cli",
            });
            Console.Error.WriteLine($"Token {info.Id} '{info.Name}' for {account.UserName} (copy it now; it is not shown again):");
            Console.WriteLine(secret);
            return 0;
        }));
        return command;
    }

    private static Command CreateTokenRevoke()
    {
        var user = new Argument<string>("user") { Description = "Account that owns the token." };
        var id = new Argument<long>("id") { Description = "Token id (see the account page, or `users list`)." };
        var dataRoot = DataRootOption();
        var command = new Command("revoke", "Revoke a token; it stops working at once.") { user, id, dataRoot };
        command.SetAction((parse, _) => RunAsync(parse.GetValue(dataRoot), async host =>
        {
            IdentityUser account = await host.Accounts.FindAsync(parse.GetValue(user)!);
            long tokenId = parse.GetValue(id);
            if (!await host.Tokens.RevokeAsync(account.Id, tokenId))
            {
                return CliErrors.Report("CONFIG_ERROR", $"{account.UserName} has no active token {tokenId.ToString(CultureInfo.InvariantCulture)}.");
            }

            await host.Audit.RecordAsync(new KneeWeb.Data.AuditEvent
            {
                TimestampUtc = DateTime.UtcNow, UserId = account.Id, UserName = account.UserName, Action = KneeWeb.Data.AuditActions.TokenRevoked,
                Target = $"token {tokenId}", RemoteAddress = "cli",
            });
            Console.WriteLine($"Revoked token {tokenId} of {account.UserName}.");
            return 0;
        }));
        return command;
    }

    private static Option<string?> DataRootOption() =>
        new("--data-root") { Description = "Data folder (default: KneeWeb:DataRoot from appsettings.json or KneeWeb__DataRoot)." };

    private static async Task<int> RunAsync(string? dataRoot, Func<AccountsHost, Task<int>> action)
    {
        try
        {
            await using AccountsHost host = await AccountsHost.OpenAsync(dataRoot);
            using IDisposable system = KneeWeb.Data.JobVisibility.EnterSystem();
            return await action(host);
        }
        catch (AccountException ex)
        {
            return CliErrors.Report("CONFIG_ERROR", ex.Message);
        }
    }
}
