namespace KneeWeb.Data.Migrations;

/// <summary>
/// SQL the generated <see cref="Baseline"/> migration runs beside its tables, word for word as the
/// hand-written migrations of release 0.1.0 ran it, so a fresh database and an upgraded one match.
/// </summary>
internal static class BaselineSql
{
    public const string DefaultGroup =
        "INSERT INTO \"Groups\" (\"Id\", \"Name\", \"Description\", \"CreatedUtc\") VALUES (1, 'default', 'Everyone''s first group', strftime('%Y-%m-%d %H:%M:%f', 'now'));";

    public const string AuditNoUpdate =
        "CREATE TRIGGER \"AuditEvents_NoUpdate\" BEFORE UPDATE ON \"AuditEvents\" BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;";

    public const string AuditNoDelete =
        "CREATE TRIGGER \"AuditEvents_NoDelete\" BEFORE DELETE ON \"AuditEvents\" BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;";
}
