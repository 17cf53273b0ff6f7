using System.Reflection;
using KneeWeb.Data;
using KneeWeb.Tests.TestData;
using Microsoft.AspNetCore.Identity;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Xunit;

namespace KneeWeb.Tests.Database;

/// <summary>
/// A kneeweb.db written by release 0.1.0 (hand-written migrations, EF Core 6) opens with this release
/// and is upgraded in place: every job, event, artifact, account, token and audit row is kept, the
/// history is adopted into the generated migrations, and the result has the same schema as a new database.
/// </summary>
[Trait("Category", "unit")]
public sealed class UpgradeFromPreviousReleaseTests : IDisposable
{
    /// <summary>Every generated migration in order: the adopted baseline first, then the ones added since, applied as usual.</summary>
    private static readonly string[] GeneratedMigrations = typeof(KneeWebDbContext).Assembly.GetTypes()
        .Select(t => t.GetCustomAttribute<Microsoft.EntityFrameworkCore.Migrations.MigrationAttribute>()?.Id)
        .OfType<string>()
        .Order(StringComparer.Ordinal)
        .ToArray();

    private readonly UpgradeFixture fixture = new();

    [Fact]
    public void The_generated_migrations_start_with_the_baseline_the_old_history_is_adopted_into() =>
        Assert.Equal(LegacyDatabaseUpgrade.BaselineId, GeneratedMigrations[0]);

    public void Dispose() => fixture.Dispose();

    [Fact]
    public async Task The_committed_fixture_holds_what_its_readme_says_and_the_old_history()
    {
        Assert.Equal(UpgradeFixture.RowCounts, await UpgradeFixture.CountRowsAsync(fixture.DatabasePath));
        Assert.Equal(LegacyDatabaseUpgrade.HandWrittenIds.Order(StringComparer.Ordinal), await UpgradeFixture.HistoryAsync(fixture.DatabasePath));
    }

    [Fact]
    public async Task Every_row_is_kept_and_the_history_becomes_the_generated_baseline()
    {
        await fixture.InitializeAsync();

        Assert.Equal(UpgradeFixture.RowCounts, await UpgradeFixture.CountRowsAsync(fixture.DatabasePath));
        Assert.Equal(GeneratedMigrations, await UpgradeFixture.HistoryAsync(fixture.DatabasePath));
        await using var db = new KneeWebDbContext(fixture.Options);
        Assert.Empty(await db.Database.GetPendingMigrationsAsync());
        Assert.False(db.Database.HasPendingModelChanges(), "The model differs from the generated model snapshot: run `dotnet ef migrations add <Name>`.");
    }

    [Fact]
    public async Task Jobs_events_and_artifacts_read_back_through_the_model_with_their_values()
    {
        await fixture.InitializeAsync();
        using IDisposable system = JobVisibility.EnterSystem();
        await using var db = new KneeWebDbContext(fixture.Options);
        List<Job> jobs = await db.Jobs.Include(j => j.Events).Include(j => j.Artifacts).OrderBy(j => j.SubjectId).ToListAsync();

        Assert.Equal(["S-001", "S-002", "S-003", "S-004", "S-005", "S-006"], jobs.Select(j => j.SubjectId));
        Assert.Equal([JobStatus.Completed, JobStatus.Failed, JobStatus.Completed, JobStatus.Running, JobStatus.Cancelled, JobStatus.Queued], jobs.Select(j => j.Status));
        Assert.Equal(["baseline,knee-oa", "follow-up", null, "baseline", null, "knee-oa"], jobs.Select(j => j.Tags));
        Assert.Equal(["left", null, "right"], jobs.Take(3).Select(j => j.KneeSide));
        Assert.Equal("fixture job", jobs[0].Notes);
        Assert.Equal("ramp.nii.gz", jobs[0].InputFileName);
        Assert.Equal("INVALID_FORMAT", jobs[1].ErrorCode);
        Assert.False(string.IsNullOrWhiteSpace(jobs[1].ErrorHint));
        Assert.Equal("CANCELLED", jobs[4].ErrorCode);
        Assert.Equal([Group.DefaultId, Group.DefaultId, 2, Group.DefaultId, Group.DefaultId, Group.DefaultId], jobs.Select(j => j.GroupId));
        Assert.All(jobs, j => Assert.Equal(DateTimeKind.Utc, j.CreatedUtc.Kind));
        Assert.All(jobs, j => Assert.Equal(2026, j.CreatedUtc.Year));
        Assert.Equal(100, jobs[0].Percent);
        Assert.NotNull(jobs[0].FinishedUtc);

        Assert.Equal(44, jobs.Sum(j => j.Events.Count));
        Assert.Contains(jobs[0].Events, e => e.Kind == "step-finished" && e.DurationSeconds > 0);
        Assert.Equal(["results.zip", "stats.json"], jobs[0].Artifacts.Select(a => a.Name).Order(StringComparer.Ordinal));
        Assert.All(jobs[0].Artifacts, a => Assert.Matches("^[0-9a-f]{64}$", a.Sha256));
        Assert.All(jobs[0].Artifacts, a => Assert.True(a.SizeBytes > 0));

        // The upgraded file takes new writes: a tag edit and a new event on an old job.
        jobs[1].Tags = KneeWeb.Pipeline.JobTags.ToStored("Follow Up, visit-2");
        jobs[1].Events.Add(new JobEvent { Kind = "status", Message = "after the upgrade", TimestampUtc = DateTime.UtcNow });
        await db.SaveChangesAsync();
        await using var again = new KneeWebDbContext(fixture.Options);
        Assert.Equal("follow-up,visit-2", (await again.Jobs.SingleAsync(j => j.SubjectId == "S-002")).Tags);
        Assert.Equal(45, await again.JobEvents.CountAsync());
    }

    [Fact]
    public async Task Accounts_roles_claims_logins_groups_tokens_and_audit_lines_are_kept()
    {
        await fixture.InitializeAsync();
        await using var db = new KneeWebDbContext(fixture.Options);
        Dictionary<string, IdentityUser> users = await db.Users.ToDictionaryAsync(u => u.UserName!, StringComparer.Ordinal);
        Assert.Equal(["admin", "bob", "carol", "pia"], users.Keys.Order(StringComparer.Ordinal));
        Assert.True(users["carol"].LockoutEnd > DateTimeOffset.UtcNow.AddYears(100), "carol was locked out by `users lock`.");
        Assert.Null(users["bob"].LockoutEnd);

        var roles = await (from ur in db.UserRoles join r in db.Roles on ur.RoleId equals r.Id join u in db.Users on ur.UserId equals u.Id select new { u.UserName, r.Name }).ToListAsync();
        Assert.Equal(["admin:Admin", "bob:Member", "carol:Member", "pia:PI"], roles.Select(x => $"{x.UserName}:{x.Name}").Order(StringComparer.Ordinal));

        IdentityUserClaim<string> claim = await db.UserClaims.SingleAsync();
        Assert.Equal((users["pia"].Id, "department", "radiology"), (claim.UserId, claim.ClaimType, claim.ClaimValue));
        IdentityRoleClaim<string> roleClaim = await db.RoleClaims.SingleAsync();
        Assert.Equal("jobs.cancel-group", roleClaim.ClaimValue);
        IdentityUserLogin<string> login = await db.UserLogins.SingleAsync();
        Assert.Equal(("oidc", "pia-oidc-42", users["pia"].Id), (login.LoginProvider, login.ProviderKey, login.UserId));
        Assert.Equal("AuthenticatorKey", (await db.UserTokens.SingleAsync()).Name);

        // Passwords hashed by Identity 6 still verify with this release's hasher.
        var hasher = new PasswordHasher<IdentityUser>();
        Assert.NotEqual(PasswordVerificationResult.Failed, hasher.VerifyHashedPassword(users["bob"], users["bob"].PasswordHash!, "bob-password-123"));
        Assert.Equal(PasswordVerificationResult.Failed, hasher.VerifyHashedPassword(users["bob"], users["bob"].PasswordHash!, "pia-password-123"));

        Assert.Equal(["default", "knee-oa"], await db.Groups.OrderBy(g => g.Id).Select(g => g.Name).ToListAsync());
        Assert.True((await db.GroupMemberships.SingleAsync(m => m.GroupId == 2 && m.UserId == users["pia"].Id)).IsLead);
        Assert.Equal(6, await db.GroupMemberships.CountAsync());

        List<ApiToken> tokens = await db.ApiTokens.OrderBy(t => t.Id).ToListAsync();
        Assert.Equal(["fixture", "bob-scripts", "old-laptop"], tokens.Select(t => t.Name));
        Assert.Equal([false, false, true], tokens.Select(t => t.RevokedUtc is not null));
        Assert.All(tokens, t => Assert.Matches("^[0-9a-f]{64}$", t.Hash));
        Assert.NotNull(tokens[0].LastUsedUtc);

        Dictionary<string, int> actions = await db.AuditEvents.GroupBy(a => a.Action).ToDictionaryAsync(g => g.Key, g => g.Count(), StringComparer.Ordinal);
        Assert.Equal(new Dictionary<string, int>(StringComparer.Ordinal)
        {
            ["upload"] = 6, ["view"] = 5, ["token-created"] = 3, ["token-revoked"] = 1, ["download"] = 1,
            ["cancel"] = 1, ["sign-in"] = 1, ["sign-in-failed"] = 1, ["user-locked"] = 1,
        }, actions);

        // The audit log stays append-only after the upgrade: the database itself refuses changes.
        var refused = await Assert.ThrowsAsync<SqliteException>(() => db.Database.ExecuteSqlRawAsync("DELETE FROM AuditEvents"));
        Assert.Contains("append-only", refused.Message, StringComparison.Ordinal);
        Assert.Equal(20, await db.AuditEvents.CountAsync());
    }

    [Fact]
    public async Task An_upgraded_database_has_the_schema_of_a_new_one()
    {
        await fixture.InitializeAsync();
        string fresh = Path.Combine(fixture.FolderPath, "fresh.db");
        await UpgradeFixture.InitializeAsync(fresh);

        IReadOnlyList<string> upgraded = await SchemaAsync(fixture.DatabasePath);
        IReadOnlyList<string> created = await SchemaAsync(fresh);
        Assert.Contains("table Jobs", created);
        Assert.Contains(created, l => l.StartsWith("trigger AuditEvents_NoDelete", StringComparison.Ordinal));
        Assert.Contains("column Jobs.Tags TEXT", created);
        Assert.Equal(created, upgraded);
        Assert.Equal(GeneratedMigrations, await UpgradeFixture.HistoryAsync(fresh));
        Assert.Equal(Group.DefaultName, await ScalarAsync(fresh, "SELECT Name FROM Groups WHERE Id = 1"));
    }

    [Fact]
    public async Task Starting_twice_changes_nothing_more()
    {
        await fixture.InitializeAsync();
        IReadOnlyList<string> schema = await SchemaAsync(fixture.DatabasePath);
        await fixture.InitializeAsync();
        Assert.Equal(UpgradeFixture.RowCounts, await UpgradeFixture.CountRowsAsync(fixture.DatabasePath));
        Assert.Equal(GeneratedMigrations, await UpgradeFixture.HistoryAsync(fixture.DatabasePath));
        Assert.Equal(schema, await SchemaAsync(fixture.DatabasePath));
    }

    [Fact]
    public async Task A_database_whose_schema_drifted_is_refused_with_the_differences_and_left_alone()
    {
        await UpgradeFixture.ExecuteAsync(fixture.DatabasePath, "DROP INDEX IX_Jobs_Status; ALTER TABLE Jobs ADD COLUMN Extra TEXT;");
        var ex = await Assert.ThrowsAsync<InvalidOperationException>(fixture.InitializeAsync);
        Assert.Contains("missing: index Jobs IX_Jobs_Status (Status)", ex.Message, StringComparison.Ordinal);
        Assert.Contains("extra: column Jobs.Extra TEXT", ex.Message, StringComparison.Ordinal);
        Assert.Equal(LegacyDatabaseUpgrade.HandWrittenIds.Order(StringComparer.Ordinal), await UpgradeFixture.HistoryAsync(fixture.DatabasePath));
        Assert.Equal(UpgradeFixture.RowCounts, await UpgradeFixture.CountRowsAsync(fixture.DatabasePath));
    }

    [Fact]
    public async Task A_database_from_before_0_1_0_is_refused_with_what_to_do()
    {
        await UpgradeFixture.ExecuteAsync(fixture.DatabasePath, "DELETE FROM __EFMigrationsHistory WHERE MigrationId = '20261121110000_TokenLastUsed'");
        var ex = await Assert.ThrowsAsync<InvalidOperationException>(fixture.InitializeAsync);
        Assert.Contains("20261121110000_TokenLastUsed", ex.Message, StringComparison.Ordinal);
        Assert.Contains("0.1.0", ex.Message, StringComparison.Ordinal);
        Assert.Equal(UpgradeFixture.RowCounts, await UpgradeFixture.CountRowsAsync(fixture.DatabasePath));
    }

    private static async Task<IReadOnlyList<string>> SchemaAsync(string path)
    {
        await using var connection = new SqliteConnection($"Data Source={path};Pooling=False");
        await connection.OpenAsync();
        return await SqliteSchema.ReadAsync(connection);
    }

    private static async Task<string?> ScalarAsync(string path, string sql)
    {
        await using var connection = new SqliteConnection($"Data Source={path};Pooling=False");
        await connection.OpenAsync();
        await using SqliteCommand command = connection.CreateCommand();
        command.CommandText = sql;
        return (await command.ExecuteScalarAsync())?.ToString();
    }
}
