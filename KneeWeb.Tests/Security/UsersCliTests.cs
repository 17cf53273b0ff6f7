using KneeWeb.Security;
using KneeWeb.Tests.Cli;
using KneeWeb.Tests.TestData;
using Xunit;

namespace KneeWeb.Tests.Security;

/// <summary>`KneeWeb users ...` and `KneeWeb groups ...` on a data folder, through the real binary.</summary>
[Trait("Category", "unit")]
public sealed class UsersCliTests : IDisposable
{
    private readonly TempFolder data = new("kneeweb-users");

    public void Dispose() => data.Dispose();

    [Fact]
    public async Task Accounts_groups_and_tokens_are_managed_from_the_command_line()
    {
        string root = data.Path;
        (int code, string stdout, string stderr) = ProcessCommandTests.Run("groups", "add", "knee-oa", "--data-root", root);
        Assert.True(code == 0, stderr);
        Assert.Contains("Added group 'knee-oa'", stdout, StringComparison.Ordinal);

        (code, stdout, stderr) = ProcessCommandTests.Run("users", "add", "ada", "--role", "Admin", "--data-root", root);
        Assert.True(code == 0, stderr);
        string password = stdout.Split('\n').Single(l => l.StartsWith("password: ", StringComparison.Ordinal))["password: ".Length..].Trim();
        Assert.Equal(20, password.Length);

        (code, _, stderr) = ProcessCommandTests.Run("users", "add", "pat", "--role", "pi", "--group", "knee-oa", "--password", "pat-password-2026", "--data-root", root);
        Assert.True(code == 0, stderr);

        (code, _, stderr) = ProcessCommandTests.Run("users", "add", "pat", "--role", "Member", "--data-root", root);
        Assert.Equal(1, code);
        Assert.Contains("already exists", stderr, StringComparison.Ordinal);
        (code, _, stderr) = ProcessCommandTests.Run("users", "add", "zed", "--role", "Boss", "--data-root", root);
        Assert.Equal(1, code);
        Assert.Contains("Unknown role", stderr, StringComparison.Ordinal);
        (code, _, stderr) = ProcessCommandTests.Run("users", "add", "zed", "--role", "Member", "--password", "short", "--data-root", root);
        Assert.Equal(1, code);
        Assert.Contains("at least 12", stderr, StringComparison.Ordinal);

        (code, stdout, stderr) = ProcessCommandTests.Run("users", "token", "create", "pat", "--name", "batch", "--data-root", root);
        Assert.True(code == 0, stderr);
        string token = stdout.Trim();
        Assert.StartsWith(ApiTokenService.SecretPrefix, token, StringComparison.Ordinal);

        (code, stdout, _) = ProcessCommandTests.Run("users", "list", "--data-root", root);
        Assert.Equal(0, code);
        string pat = stdout.Split('\n').Single(l => l.StartsWith("pat ", StringComparison.Ordinal));
        Assert.Contains("PI", pat, StringComparison.Ordinal);
        Assert.Contains("knee-oa (lead)", pat, StringComparison.Ordinal);
        Assert.Contains(" 1 ", pat, StringComparison.Ordinal);

        (code, stdout, stderr) = ProcessCommandTests.Run("users", "set-password", "pat", "--data-root", root);
        Assert.True(code == 0, stderr);
        string newPassword = stdout.Split('\n').Single(l => l.StartsWith("password: ", StringComparison.Ordinal))["password: ".Length..].Trim();

        await using (AccountsHost host = await AccountsHost.OpenAsync(root))
        {
            Microsoft.AspNetCore.Identity.IdentityUser patUser = await host.Accounts.FindAsync("pat");
            var hasher = new Microsoft.AspNetCore.Identity.PasswordHasher<Microsoft.AspNetCore.Identity.IdentityUser>();
            Assert.NotEqual(Microsoft.AspNetCore.Identity.PasswordVerificationResult.Failed, hasher.VerifyHashedPassword(patUser, patUser.PasswordHash!, newPassword));
            Assert.Equal(Microsoft.AspNetCore.Identity.PasswordVerificationResult.Failed, hasher.VerifyHashedPassword(patUser, patUser.PasswordHash!, "pat-password-2026"));

            string? userId = await host.Tokens.ValidateAsync(token);
            Assert.Equal((await host.Accounts.FindAsync("pat")).Id, userId);
            ApiTokenInfo info = Assert.Single(await host.Tokens.ListAsync(userId!));
            (code, _, stderr) = ProcessCommandTests.Run("users", "token", "revoke", "pat", info.Id.ToString(System.Globalization.CultureInfo.InvariantCulture), "--data-root", root);
            Assert.True(code == 0, stderr);
            Assert.Null(await host.Tokens.ValidateAsync(token));
            List<Data.AuditEvent> audit = await host.Audit.QueryAsync(new AuditFilter(User: "pat"));
            Assert.Contains(audit, e => e.Action == Data.AuditActions.TokenCreated);
            Assert.Contains(audit, e => e.Action == Data.AuditActions.TokenRevoked);
        }
    }

    [Fact]
    public async Task Accounts_are_locked_unlocked_and_given_a_role_from_the_command_line_and_audited()
    {
        string root = data.Path;
        (int code, _, string stderr) = ProcessCommandTests.Run("users", "add", "lou", "--role", "Member", "--password", "lou-password-2026", "--data-root", root);
        Assert.True(code == 0, stderr);

        (code, string stdout, stderr) = ProcessCommandTests.Run("users", "lock", "lou", "--data-root", root);
        Assert.True(code == 0, stderr);
        Assert.Contains("Locked 'lou'", stdout, StringComparison.Ordinal);
        (_, stdout, _) = ProcessCommandTests.Run("users", "list", "--data-root", root);
        Assert.Contains("(locked out)", stdout.Split('\n').Single(l => l.StartsWith("lou ", StringComparison.Ordinal)), StringComparison.Ordinal);

        (code, _, stderr) = ProcessCommandTests.Run("users", "unlock", "lou", "--data-root", root);
        Assert.True(code == 0, stderr);
        (code, _, stderr) = ProcessCommandTests.Run("users", "set-role", "lou", "pi", "--data-root", root);
        Assert.True(code == 0, stderr);
        (_, stdout, _) = ProcessCommandTests.Run("users", "list", "--data-root", root);
        string lou = stdout.Split('\n').Single(l => l.StartsWith("lou ", StringComparison.Ordinal));
        Assert.DoesNotContain("(locked out)", lou, StringComparison.Ordinal);
        Assert.Contains(" PI ", lou, StringComparison.Ordinal);

        (code, _, stderr) = ProcessCommandTests.Run("users", "lock", "nobody", "--data-root", root);
        Assert.Equal(1, code);
        Assert.Contains("no account named 'nobody'", stderr, StringComparison.Ordinal);

        await using AccountsHost host = await AccountsHost.OpenAsync(root);
        List<Data.AuditEvent> audit = await host.Audit.QueryAsync(new AuditFilter());
        Assert.Contains(audit, e => e.Action == Data.AuditActions.UserLocked && e.Target == "user lou" && e.RemoteAddress == "cli");
        Assert.Contains(audit, e => e.Action == Data.AuditActions.UserUnlocked && e.Target == "user lou");
        Assert.Contains(audit, e => e.Action == Data.AuditActions.RoleChanged && e.Detail == "role PI");
    }
}
