using System.Net;
using KneeWeb.Data;
using KneeWeb.Jobs;
using KneeWeb.Tests.TestData;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace KneeWeb.Tests.Web;

[Trait("Category", "host")]
public sealed class RetentionAndDiskTests : IDisposable
{
    private readonly TempFolder inputs = new("kneeweb-inputs");

    public void Dispose() => inputs.Dispose();

    [Fact]
    public async Task An_upload_that_would_leave_too_little_disk_is_refused_before_it_is_stored()
    {
        using var factory = new KneeWebFactory(new Dictionary<string, string?> { ["KneeWeb:MinFreeDiskBytes"] = "900000000000000000" });
        HttpClient client = factory.CreateClient();
        using HttpResponseMessage response = await ApiClient.PostJobAsync(client, TestVolumes.WriteRamp(inputs.Path));
        Assert.Equal(HttpStatusCode.InsufficientStorage, response.StatusCode);
        string body = await response.Content.ReadAsStringAsync();
        Assert.Contains("DISK_FULL", body, StringComparison.Ordinal);
        Assert.Contains("GB free", body, StringComparison.Ordinal);
        Assert.Empty(Directory.GetFileSystemEntries(Path.Combine(factory.DataRoot, "uploads")));
    }

    [Fact]
    public async Task Retention_deletes_expired_jobs_and_originals_of_completed_ones_but_keeps_results()
    {
        using var factory = new KneeWebFactory(new Dictionary<string, string?>
        {
            ["KneeWeb:Retention:ResultsDays"] = "30",
            ["KneeWeb:Retention:DeleteOriginalsAfterProcessing"] = "true",
            ["KneeWeb:Retention:SweepInterval"] = "01:00:00",
        });
        HttpClient client = factory.CreateClient();
        string input = TestVolumes.WriteRamp(inputs.Path);
        Guid old = await ApiClient.SubmitAsync(client, input);
        Guid recent = await ApiClient.SubmitAsync(client, input);
        await ApiClient.WaitForEndAsync(client, old);
        await ApiClient.WaitForEndAsync(client, recent);

        var dbFactory = factory.Services.GetRequiredService<IDbContextFactory<KneeWebDbContext>>();
        await using (KneeWebDbContext db = await dbFactory.CreateDbContextAsync())
        {
            Job job = await db.Jobs.SingleAsync(j => j.Id == old);
            job.FinishedUtc = DateTime.UtcNow.AddDays(-40);
            await db.SaveChangesAsync();
        }

        (int jobs, int originals) = await factory.Services.GetRequiredService<RetentionService>().SweepAsync(CancellationToken.None);
        Assert.Equal((1, 1), (jobs, originals));

        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync($"/v1/jobs/{old}")).StatusCode);
        Assert.False(Directory.Exists(Path.Combine(factory.DataRoot, "jobs", old.ToString())));
        Assert.False(Directory.Exists(Path.Combine(factory.DataRoot, "uploads", old.ToString())));
        Assert.False(Directory.Exists(Path.Combine(factory.DataRoot, "uploads", recent.ToString())));
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync($"/v1/jobs/{recent}/artifacts/stats.json")).StatusCode);
        Assert.Contains("retention", await client.GetStringAsync($"/v1/jobs/{recent}/events"), StringComparison.Ordinal);
    }
}
