using KneeWeb.Data;
using KneeWeb.Security;
using KneeWeb.Tests.TestData;
using KneeWeb.Tests.Web;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace KneeWeb.Tests.Security;

/// <summary>The audit log records uploads, views, downloads and deletes, and nobody can change it.</summary>
[Trait("Category", "host")]
public sealed class AuditLogTests : IDisposable
{
    private readonly TempFolder inputs = new("kneeweb-audit");

    public void Dispose() => inputs.Dispose();

    [Fact]
    public async Task A_jobs_life_is_in_the_log_with_user_time_and_address_and_the_log_cannot_be_edited()
    {
        using var factory = new KneeWebFactory();
        HttpClient client = factory.CreateClient();
        DateTime before = DateTime.UtcNow.AddSeconds(-1);
        Guid id = await ApiClient.SubmitAsync(client, TestVolumes.WriteRamp(inputs.Path));
        await ApiClient.WaitForEndAsync(client, id);
        Assert.True((await client.GetAsync($"/v1/jobs/{id}/artifacts/stats.json")).IsSuccessStatusCode);
        Assert.True((await client.DeleteAsync($"/v1/jobs/{id}")).IsSuccessStatusCode);

        List<AuditEvent> events = await SecuritySite.AuditAsync(factory.Services);
        string[] actions = [.. events.Where(e => e.JobId == id).OrderBy(e => e.Id).Select(e => e.Action)];
        Assert.Equal([AuditActions.Upload, AuditActions.View, AuditActions.Download, AuditActions.Delete], actions);
        foreach (AuditEvent e in events.Where(e => e.JobId == id))
        {
            Assert.Equal(TestAccounts.AdminName, e.UserName);
            Assert.Equal(DateTimeKind.Utc, e.TimestampUtc.Kind);
            Assert.InRange(e.TimestampUtc, before, DateTime.UtcNow.AddSeconds(1));
        }

        // The admin API exports the same lines.
        string csv = await client.GetStringAsync($"/v1/audit.csv?job={id}");
        Assert.Equal(5, csv.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
        Assert.Contains($"{TestAccounts.AdminName},{AuditActions.Download},{id:D},stats.json", csv, StringComparison.Ordinal);

        // The database itself refuses to change or remove a line, whoever asks.
        await using AsyncServiceScope scope = factory.Services.CreateAsyncScope();
        KneeWebDbContext db = scope.ServiceProvider.GetRequiredService<KneeWebDbContext>();
        SqliteException update = await Assert.ThrowsAsync<SqliteException>(() => db.Database.ExecuteSqlRawAsync("UPDATE AuditEvents SET UserName = 'someone else'"));
        Assert.Contains("append-only", update.Message, StringComparison.Ordinal);
        SqliteException delete = await Assert.ThrowsAsync<SqliteException>(() => db.Database.ExecuteSqlRawAsync("DELETE FROM AuditEvents"));
        Assert.Contains("append-only", delete.Message, StringComparison.Ordinal);

        AuditEvent tracked = await db.AuditEvents.FirstAsync();
        tracked.UserName = "someone else";
        await Assert.ThrowsAsync<DbUpdateException>(() => db.SaveChangesAsync());
        Assert.DoesNotContain(await SecuritySite.AuditAsync(factory.Services), e => e.UserName == "someone else");
    }

    [Fact]
    public void Csv_cells_cannot_become_spreadsheet_formulas()
    {
        string csv = AuditLog.ToCsv([new AuditEvent { Id = 1, Action = "sign-in-failed", Target = "=HYPERLINK(\"x\")", TimestampUtc = DateTime.UtcNow }]);
        Assert.Contains(",\"'=HYPERLINK(\"\"x\"\")\",", csv, StringComparison.Ordinal);
    }
}
