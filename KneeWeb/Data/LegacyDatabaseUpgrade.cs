using System.Data.Common;
using System.Reflection;
using KneeWeb.Data.Migrations;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;

namespace KneeWeb.Data;

/// <summary>
/// Adopts a database written by release 0.1.0, whose schema came from four hand-written migrations,
/// into the generated migrations: the generated <see cref="Baseline"/> creates exactly that schema, so
/// when the history holds the old ids, the schema is compared with a fresh baseline and, if it matches,
/// the history is rewritten to say "Baseline applied". No table is touched; every row stays. Later
/// generated migrations then apply as usual.
/// </summary>
public static class LegacyDatabaseUpgrade
{
    /// <summary>The hand-written migrations of 0.1.0, all applied in every database it wrote.</summary>
    public static readonly IReadOnlyList<string> HandWrittenIds =
        ["20261121000000_Initial", "20261121090000_JobTags", "20261121100000_Accounts", "20261121110000_TokenLastUsed"];

    public static string BaselineId { get; } = typeof(Baseline).GetCustomAttribute<MigrationAttribute>()!.Id;

    /// <summary>True when it rewrote the history; false for a database that needs nothing (new, or already adopted).</summary>
    public static async Task<bool> AdoptAsync(KneeWebDbContext db, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(db);
        DbConnection connection = db.Database.GetDbConnection();
        bool opened = connection.State != System.Data.ConnectionState.Open;
        if (opened)
        {
            await connection.OpenAsync(ct);
        }

        try
        {
            // IMMEDIATE: a second process starting on the same file waits here, then sees the new history.
            await using DbTransaction transaction = await connection.BeginTransactionAsync(System.Data.IsolationLevel.Serializable, ct);
            List<string> applied = await AppliedIdsAsync(connection, transaction, ct);
            List<string> legacy = [.. applied.Where(HandWrittenIds.Contains)];
            if (legacy.Count == 0 || applied.Contains(BaselineId))
            {
                return false;
            }

            if (legacy.Count != HandWrittenIds.Count)
            {
                throw new InvalidOperationException(
                    $"This database was written by a KneeWeb before 0.1.0 (it has migrations {string.Join(", ", legacy)} but not {string.Join(", ", HandWrittenIds.Except(legacy))}). Open it once with KneeWeb 0.1.0, then with this version.");
            }

            IReadOnlyList<string> differences = SqliteSchema.Differences(await BaselineSchemaAsync(ct), await SqliteSchema.ReadAsync(connection, ct));
            if (differences.Count > 0)
            {
                throw new InvalidOperationException(
                    "This database's history says KneeWeb 0.1.0 wrote it, but its schema differs from 0.1.0's, so it is left as it is. Differences: " + string.Join("; ", differences));
            }

            IHistoryRepository history = db.GetService<IHistoryRepository>();
            string productVersion = typeof(DbContext).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0] ?? "";
            await ExecuteAsync(connection, transaction, string.Concat(legacy.Select(history.GetDeleteScript)) + history.GetInsertScript(new HistoryRow(BaselineId, productVersion)), ct);
            await transaction.CommitAsync(ct);
            return true;
        }
        finally
        {
            if (opened)
            {
                await connection.CloseAsync();
            }
        }
    }

    /// <summary>The schema the generated baseline creates, read from a fresh in-memory database.</summary>
    public static async Task<IReadOnlyList<string>> BaselineSchemaAsync(CancellationToken ct = default)
    {
        await using var memory = new SqliteConnection("Data Source=:memory:");
        await memory.OpenAsync(ct);
        DbContextOptions<KneeWebDbContext> options = new DbContextOptionsBuilder<KneeWebDbContext>().UseSqlite(memory).Options;
        await using (var fresh = new KneeWebDbContext(options))
        {
            await fresh.GetService<IMigrator>().MigrateAsync(BaselineId, ct);
        }

        return await SqliteSchema.ReadAsync(memory, ct);
    }

    private static async Task<List<string>> AppliedIdsAsync(DbConnection connection, DbTransaction transaction, CancellationToken ct)
    {
        await using DbCommand exists = connection.CreateCommand();
        exists.Transaction = transaction;
        exists.CommandText = "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = '__EFMigrationsHistory'";
        if (Convert.ToInt64(await exists.ExecuteScalarAsync(ct), System.Globalization.CultureInfo.InvariantCulture) == 0)
        {
            return [];
        }

        await using DbCommand select = connection.CreateCommand();
        select.Transaction = transaction;
        select.CommandText = "SELECT \"MigrationId\" FROM \"__EFMigrationsHistory\"";
        await using DbDataReader reader = await select.ExecuteReaderAsync(ct);
        var ids = new List<string>();
        while (await reader.ReadAsync(ct))
        {
            ids.Add(reader.GetString(0));
        }

        return ids;
    }

    private static async Task ExecuteAsync(DbConnection connection, DbTransaction transaction, string sql, CancellationToken ct)
    {
        await using DbCommand command = connection.CreateCommand();
        command.Transaction = transaction;
#pragma warning disable CA2100 // EF Core's own history scripts for constant migration ids.
        command.CommandText = sql;
#pragma warning restore CA2100
        await command.ExecuteNonQueryAsync(ct);
    }
}
