using System.Data.Common;
using System.Globalization;

namespace KneeWeb.Data;

/// <summary>
/// The shape of a SQLite database as lines of text, one per table column, index, foreign key and
/// trigger, sorted: two databases have the same schema when their lines are equal. Column order and
/// column defaults are left out (SQLite appends columns added later, and 0.1.0 gave Jobs.GroupId a
/// default that nothing relies on); EF Core's own bookkeeping tables are left out too.
/// </summary>
public static class SqliteSchema
{
    private static readonly HashSet<string> Bookkeeping = new(StringComparer.Ordinal) { "__EFMigrationsHistory", "__EFMigrationsLock", "sqlite_sequence" };

    public static async Task<IReadOnlyList<string>> ReadAsync(DbConnection connection, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(connection);
        var lines = new List<string>();
        var tables = new List<string>();
        foreach (string[] row in await QueryAsync(connection, "SELECT type, name, tbl_name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_autoindex_%'", ct))
        {
            (string type, string name, string table, string sql) = (row[0], row[1], row[2], row[3]);
            if (Bookkeeping.Contains(table))
            {
                continue;
            }

            switch (type)
            {
                case "table":
                    tables.Add(name);
                    lines.Add($"table {name}");
                    break;
                case "trigger":
                    lines.Add($"trigger {name} on {table}: {sql}");
                    break;
                default:
                    break; // indexes are read below, with their columns
            }
        }

        foreach (string table in tables)
        {
            string quoted = "\"" + table.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";
            foreach (string[] c in await QueryAsync(connection, $"PRAGMA table_info({quoted})", ct))
            {
                // cid, name, type, notnull, dflt_value, pk
                lines.Add($"column {table}.{c[1]} {c[2]}{(c[3] == "1" ? " NOT NULL" : "")}{(c[5] != "0" ? " PK" + c[5] : "")}");
            }

            foreach (string[] fk in await QueryAsync(connection, $"PRAGMA foreign_key_list({quoted})", ct))
            {
                // id, seq, table, from, to, on_update, on_delete, match
                lines.Add($"foreign key {table}.{fk[3]} -> {fk[2]}.{fk[4]} on delete {fk[6]}");
            }

            foreach (string[] ix in await QueryAsync(connection, $"PRAGMA index_list({quoted})", ct))
            {
                // seq, name, unique, origin, partial
                string index = ix[1];
                IEnumerable<string> columns = (await QueryAsync(connection, $"PRAGMA index_info(\"{index.Replace("\"", "\"\"", StringComparison.Ordinal)}\")", ct))
                    .OrderBy(r => int.Parse(r[0], CultureInfo.InvariantCulture)).Select(r => r[2]);
                string name = index.StartsWith("sqlite_autoindex_", StringComparison.Ordinal) ? "(automatic)" : index;
                lines.Add($"index {table} {name}{(ix[2] == "1" ? " UNIQUE" : "")} ({string.Join(", ", columns)}) origin {ix[3]}");
            }
        }

        lines.Sort(StringComparer.Ordinal);
        return lines;
    }

    /// <summary>Lines only in <paramref name="expected"/> ("missing: ...") or only in <paramref name="actual"/> ("extra: ...").</summary>
    public static IReadOnlyList<string> Differences(IReadOnlyList<string> expected, IReadOnlyList<string> actual)
    {
        ArgumentNullException.ThrowIfNull(expected);
        ArgumentNullException.ThrowIfNull(actual);
        return [.. expected.Except(actual, StringComparer.Ordinal).Select(l => "missing: " + l),
                .. actual.Except(expected, StringComparer.Ordinal).Select(l => "extra: " + l)];
    }

    private static async Task<List<string[]>> QueryAsync(DbConnection connection, string sql, CancellationToken ct)
    {
        await using DbCommand command = connection.CreateCommand();
#pragma warning disable CA2100 // Table and index names come from sqlite_master of the same database, quoted.
        command.CommandText = sql;
#pragma warning restore CA2100
        await using DbDataReader reader = await command.ExecuteReaderAsync(ct);
        var rows = new List<string[]>();
        while (await reader.ReadAsync(ct))
        {
            var row = new string[reader.FieldCount];
            for (int i = 0; i < row.Length; i++)
            {
                row[i] = reader.IsDBNull(i) ? "" : Convert.ToString(reader.GetValue(i), CultureInfo.InvariantCulture) ?? "";
            }

            rows.Add(row);
        }

        return rows;
    }
}
