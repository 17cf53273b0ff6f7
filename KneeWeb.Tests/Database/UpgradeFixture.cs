using KneeWeb.Data;
using KneeWeb.Tests.TestData;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;

namespace KneeWeb.Tests.Database;

/// <summary>
/// The database written by release 0.1.0 (TestData/Upgrade, see its README), copied to a temporary
/// folder so a test may upgrade it; and what it holds, counted when it was made.
/// </summary>
public sealed class UpgradeFixture : IDisposable
{
    public const string FileName = "Upgrade/kneeweb-0.1.0.db";

    /// <summary>Rows per table in the committed file (its README lists the same).</summary>
    public static readonly IReadOnlyDictionary<string, long> RowCounts = new Dictionary<string, long>(StringComparer.Ordinal)
    {
        ["Jobs"] = 6,
        ["JobEvents"] = 44,
        ["Artifacts"] = 4,
        ["AspNetUsers"] = 4,
        ["AspNetRoles"] = 3,
        ["AspNetUserRoles"] = 4,
        ["AspNetUserClaims"] = 1,
        ["AspNetRoleClaims"] = 1,
        ["AspNetUserLogins"] = 1,
        ["AspNetUserTokens"] = 1,
        ["Groups"] = 2,
        ["GroupMemberships"] = 6,
        ["ApiTokens"] = 3,
        ["AuditEvents"] = 20,
    };

    private readonly TempFolder folder = new("kneeweb-upgrade");

    public UpgradeFixture()
    {
        DatabasePath = folder.File("kneeweb.db");
        File.Copy(TestFiles.PathOf(FileName), DatabasePath);
    }

    public string FolderPath => folder.Path;

    public string DatabasePath { get; }

    public DbContextOptions<KneeWebDbContext> Options => OptionsFor(DatabasePath);

    public static DbContextOptions<KneeWebDbContext> OptionsFor(string path) =>
        new DbContextOptionsBuilder<KneeWebDbContext>()
            .UseSqlite($"Data Source={path};Cache=Shared;Default Timeout=30")
            .AddInterceptors(new SqlitePragmaInterceptor())
            .Options;

    /// <summary>Starts the database the way the site does (adoption of 0.1.0, migrations, WAL).</summary>
    public static Task InitializeAsync(string path) => DatabaseInitializer.InitializeAsync(new Factory(OptionsFor(path)));

    public Task InitializeAsync() => InitializeAsync(DatabasePath);

    /// <summary>Rows per table, read with plain SQL (no model, no query filter).</summary>
    public static async Task<Dictionary<string, long>> CountRowsAsync(string path)
    {
        await using var connection = new SqliteConnection($"Data Source={path};Pooling=False");
        await connection.OpenAsync();
        var counts = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (string table in RowCounts.Keys)
        {
            await using SqliteCommand command = connection.CreateCommand();
            command.CommandText = $"SELECT COUNT(*) FROM \"{table}\"";
            counts[table] = (long)(await command.ExecuteScalarAsync())!;
        }

        return counts;
    }

    public static async Task<List<string>> HistoryAsync(string path)
    {
        await using var connection = new SqliteConnection($"Data Source={path};Pooling=False");
        await connection.OpenAsync();
        await using SqliteCommand command = connection.CreateCommand();
        command.CommandText = "SELECT MigrationId FROM __EFMigrationsHistory ORDER BY MigrationId";
        await using SqliteDataReader reader = await command.ExecuteReaderAsync();
        var ids = new List<string>();
        while (await reader.ReadAsync())
        {
            ids.Add(reader.GetString(0));
        }

        return ids;
    }

    public static async Task ExecuteAsync(string path, string sql)
    {
        await using var connection = new SqliteConnection($"Data Source={path};Pooling=False");
        await connection.OpenAsync();
        await using SqliteCommand command = connection.CreateCommand();
        command.CommandText = sql;
        await command.ExecuteNonQueryAsync();
    }

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        folder.Dispose();
    }

    private sealed class Factory(DbContextOptions<KneeWebDbContext> options) : IDbContextFactory<KneeWebDbContext>
    {
        public KneeWebDbContext CreateDbContext() => new(options);
    }
}
