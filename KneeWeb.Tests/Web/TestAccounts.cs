using System.Net.Http.Headers;
using KneeWeb.Data;
using KneeWeb.Security;
using Microsoft.AspNetCore.Identity;
using Microsoft.Extensions.DependencyInjection;

namespace KneeWeb.Tests.Web;

/// <summary>
/// The account every web test signs in as by default: an Admin (sees every job) in the default group,
/// with a fixed password (browser tests sign in through the real form) and a fixed API token
/// (HttpClients and hub clients send it). Seeded into each test's own data folder only.
/// </summary>
public static class TestAccounts
{
    public const string AdminName = "tester";

    public const string AdminPassword = "tester-password-2026";

    /// <summary>A personal API token of <see cref="AdminName"/> (stored hashed like any other).</summary>
    public const string AdminToken = "kw_test_admin_token_0123456789abcdefghijkl";

    /// <summary>Seeds the test Admin and its token through a running host's services (idempotent).</summary>
    public static async Task SeedAsync(IServiceProvider services)
    {
        ArgumentNullException.ThrowIfNull(services);
        await using AsyncServiceScope scope = services.CreateAsyncScope();
        await SeedAsync(scope.ServiceProvider.GetRequiredService<AccountAdmin>(), scope.ServiceProvider.GetRequiredService<ApiTokenService>());
    }

    /// <summary>Seeds a data folder before a server process starts on it (idempotent).</summary>
    public static async Task SeedAsync(string dataRoot)
    {
        await using AccountsHost host = await AccountsHost.OpenAsync(dataRoot);
        await SeedAsync(host.Accounts, host.Tokens);
    }

    public static async Task SeedAsync(AccountAdmin accounts, ApiTokenService tokens)
    {
        ArgumentNullException.ThrowIfNull(accounts);
        ArgumentNullException.ThrowIfNull(tokens);
        IdentityUser admin = await accounts.EnsureUserAsync(AdminName, Roles.Admin, AdminPassword, [Group.DefaultName]);
        if (await tokens.ValidateAsync(AdminToken) is null)
        {
            await tokens.ImportAsync(admin.Id, "test fixture", AdminToken);
        }
    }

    /// <summary>Another account with a fresh API token, for access tests. Groups are created when missing.</summary>
    public static async Task<(IdentityUser User, string Token)> CreateUserAsync(IServiceProvider services, string name, string role, params string[] groups)
    {
        ArgumentNullException.ThrowIfNull(services);
        await using AsyncServiceScope scope = services.CreateAsyncScope();
        AccountAdmin accounts = scope.ServiceProvider.GetRequiredService<AccountAdmin>();
        foreach (string group in groups)
        {
            try
            {
                await accounts.AddGroupAsync(group);
            }
            catch (AccountException)
            {
                // Already there.
            }
        }

        (IdentityUser user, _) = await accounts.AddUserAsync(name, role, name + "-password-2026", groups);
        (_, string token) = await scope.ServiceProvider.GetRequiredService<ApiTokenService>().CreateAsync(user.Id, "test");
        return (user, token);
    }

    public static HttpClient WithToken(this HttpClient client, string? token)
    {
        ArgumentNullException.ThrowIfNull(client);
        client.DefaultRequestHeaders.Authorization = token is null ? null : new AuthenticationHeaderValue("Bearer", token);
        return client;
    }
}
