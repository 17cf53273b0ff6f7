using System.Data.Common;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Diagnostics;

namespace KneeWeb.Data;

/// <summary>Applies migrations and puts SQLite in the mode KneeWeb relies on (WAL, busy timeout).</summary>
public static class DatabaseInitializer
{
    public const int BusyTimeoutMs = 10_000;

    public static async Task InitializeAsync(IDbContextFactory<KneeWebDbContext> factory, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(factory);
        await using KneeWebDbContext db = await factory.CreateDbContextAsync(ct);
        // A database from 0.1.0 (hand-written migrations) is adopted in place; then generated migrations apply.
        await LegacyDatabaseUpgrade.AdoptAsync(db, ct);
        await db.Database.MigrateAsync(ct);
        // WAL lets the UI read while the worker writes; it is a property of the file, so set and check it once.
        string? mode = await ScalarAsync(db, "PRAGMA journal_mode=WAL;", ct);
        if (!string.Equals(mode, "wal", StringComparison.OrdinalIgnoreCase))
        {
            throw new InvalidOperationException($"SQLite refused WAL journal mode (got '{mode}'); the data folder may be on a file system without shared memory support.");
        }
    }

    public static async Task<string?> ScalarAsync(KneeWebDbContext db, string sql, CancellationToken ct = default)
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
            await using DbCommand command = connection.CreateCommand();
#pragma warning disable CA2100 // Only constant PRAGMA text from this assembly reaches here.
            command.CommandText = sql;
#pragma warning restore CA2100
            return (await command.ExecuteScalarAsync(ct))?.ToString();
        }
        finally
        {
            if (opened)
            {
                await connection.CloseAsync();
            }
        }
    }
}

/// <summary>Sets the busy timeout on every connection so concurrent readers wait instead of failing.</summary>
public sealed class SqlitePragmaInterceptor : DbConnectionInterceptor
{
    public override void ConnectionOpened(DbConnection connection, ConnectionEndEventData eventData)
    {
        ArgumentNullException.ThrowIfNull(connection);
        using DbCommand command = connection.CreateCommand();
        command.CommandText = $"PRAGMA busy_timeout={DatabaseInitializer.BusyTimeoutMs}; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;";
        command.ExecuteNonQuery();
    }

    public override async Task ConnectionOpenedAsync(DbConnection connection, ConnectionEndEventData eventData, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(connection);
        await using DbCommand command = connection.CreateCommand();
        command.CommandText = $"PRAGMA busy_timeout={DatabaseInitializer.BusyTimeoutMs}; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;";
        await command.ExecuteNonQueryAsync(cancellationToken);
    }
}
