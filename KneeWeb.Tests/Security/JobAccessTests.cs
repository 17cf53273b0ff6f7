using System.Net;
using System.Text.Json;
using KneeWeb.Data;
using KneeWeb.Security;
using KneeWeb.Tests.TestData;
using KneeWeb.Tests.Web;
using Microsoft.AspNetCore.Identity;
using Xunit;
using Microsoft.AspNetCore.Http.Connections;

namespace KneeWeb.Tests.Security;

/// <summary>
/// Groups and job access over the real API and hub: a job of lab A is invisible to lab B (the same 404
/// as a missing job, and audited), visible to lab A's members, changeable by its submitter, lab A's PI
/// and Admins.
/// </summary>
[Trait("Category", "host")]
public sealed class JobAccessTests : IClassFixture<JobAccessTests.Site>
{
    private readonly Site site;

    public JobAccessTests(Site site) => this.site = site;

    public sealed class Site : IAsyncLifetime
    {
        private readonly TempFolder inputs = new("kneeweb-access");

        public KneeWebFactory Factory { get; } = new();

        public string AliceToken { get; private set; } = "";

        public string CarolToken { get; private set; } = "";

        public string PiaToken { get; private set; } = "";

        public string BobToken { get; private set; } = "";

        public IdentityUser Bob { get; private set; } = null!;

        /// <summary>A finished job of Alice's, in lab-a.</summary>
        public Guid AliceJob { get; private set; }

        public string InputPath { get; private set; } = "";

        public async Task InitializeAsync()
        {
            IServiceProvider services = Factory.Services;
            (_, AliceToken) = await TestAccounts.CreateUserAsync(services, "alice", Roles.Member, "lab-a");
            (_, CarolToken) = await TestAccounts.CreateUserAsync(services, "carol", Roles.Member, "lab-a");
            (_, PiaToken) = await TestAccounts.CreateUserAsync(services, "pia", Roles.PI, "lab-a");
            (Bob, BobToken) = await TestAccounts.CreateUserAsync(services, "bob", Roles.Member, "lab-b");
            InputPath = TestVolumes.WriteRamp(inputs.Path);
            using HttpClient alice = Factory.CreateClientWithToken(AliceToken);
            AliceJob = await ApiClient.SubmitAsync(alice, InputPath);
            Assert.Equal("Completed", (await ApiClient.WaitForEndAsync(alice, AliceJob)).GetProperty("status").GetString());
        }

        public Task DisposeAsync()
        {
            Factory.Dispose();
            inputs.Dispose();
            return Task.CompletedTask;
        }
    }

    public static TheoryData<string> JobReads => new()
    {
        "/v1/jobs/{0}",
        "/v1/jobs/{0}/events",
        "/v1/jobs/{0}/artifacts",
        "/v1/jobs/{0}/artifacts/stats.json",
        "/v1/jobs/{0}/input",
        "/v1/jobs/{0}/input?as=nifti",
    };

    [Theory]
    [MemberData(nameof(JobReads))]
    public async Task Another_groups_job_gets_exactly_the_404_of_a_missing_job_and_is_audited(string template)
    {
        using HttpClient bob = site.Factory.CreateClientWithToken(site.BobToken);
        using HttpClient alice = site.Factory.CreateClientWithToken(site.AliceToken);
        string foreignPath = string.Format(System.Globalization.CultureInfo.InvariantCulture, template, site.AliceJob);
        string missingPath = string.Format(System.Globalization.CultureInfo.InvariantCulture, template, Guid.NewGuid());

        Assert.Equal(HttpStatusCode.OK, (await alice.GetAsync(foreignPath)).StatusCode);
        using HttpResponseMessage foreign = await bob.GetAsync(foreignPath);
        using HttpResponseMessage missing = await bob.GetAsync(missingPath);
        Assert.Equal(HttpStatusCode.NotFound, foreign.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        Assert.Equal(WithoutTrace(await missing.Content.ReadAsStringAsync()), WithoutTrace(await foreign.Content.ReadAsStringAsync()));

        List<AuditEvent> denied = await SecuritySite.AuditAsync(site.Factory.Services, AuditActions.AccessDenied);
        Assert.Contains(denied, e => e.UserId == site.Bob.Id && e.JobId == site.AliceJob);
    }

    [Fact]
    public async Task Another_groups_job_cannot_be_cancelled_or_deleted_and_is_missing_from_lists()
    {
        using HttpClient bob = site.Factory.CreateClientWithToken(site.BobToken);
        Assert.Equal(HttpStatusCode.NotFound, (await bob.DeleteAsync($"/v1/jobs/{site.AliceJob}")).StatusCode);
        Assert.DoesNotContain(site.AliceJob.ToString(), await bob.GetStringAsync("/v1/jobs"), StringComparison.Ordinal);
        Assert.DoesNotContain(site.AliceJob.ToString(), await bob.GetStringAsync("/v1/cohort?status=any"), StringComparison.Ordinal);
        Assert.DoesNotContain(site.AliceJob.ToString(), await bob.GetStringAsync("/v1/cohort.csv?status=any"), StringComparison.Ordinal);

        using HttpClient carol = site.Factory.CreateClientWithToken(site.CarolToken);
        Assert.Contains(site.AliceJob.ToString(), await carol.GetStringAsync("/v1/jobs"), StringComparison.Ordinal);
        Assert.Contains(site.AliceJob.ToString(), await carol.GetStringAsync("/v1/cohort?status=any"), StringComparison.Ordinal);
        using HttpClient admin = site.Factory.CreateClient();
        Assert.Contains(site.AliceJob.ToString(), await admin.GetStringAsync("/v1/jobs"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_group_member_may_look_but_only_the_submitter_a_PI_of_the_group_or_an_Admin_may_delete()
    {
        using HttpClient alice = site.Factory.CreateClientWithToken(site.AliceToken);
        Guid mine = await ApiClient.SubmitAsync(alice, site.InputPath);
        Guid piTarget = await ApiClient.SubmitAsync(alice, site.InputPath);
        await ApiClient.WaitForEndAsync(alice, mine);
        await ApiClient.WaitForEndAsync(alice, piTarget);

        using HttpClient carol = site.Factory.CreateClientWithToken(site.CarolToken);
        Assert.Equal(HttpStatusCode.OK, (await carol.GetAsync($"/v1/jobs/{mine}")).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await carol.DeleteAsync($"/v1/jobs/{mine}")).StatusCode);

        Assert.Equal(HttpStatusCode.NoContent, (await alice.DeleteAsync($"/v1/jobs/{mine}")).StatusCode);
        using HttpClient pia = site.Factory.CreateClientWithToken(site.PiaToken);
        Assert.Equal(HttpStatusCode.NoContent, (await pia.DeleteAsync($"/v1/jobs/{piTarget}")).StatusCode);

        List<AuditEvent> deletes = await SecuritySite.AuditAsync(site.Factory.Services, AuditActions.Delete);
        Assert.Contains(deletes, e => e.JobId == mine && e.UserName == "alice");
        Assert.Contains(deletes, e => e.JobId == piTarget && e.UserName == "pia");
    }

    [Fact]
    public async Task Uploads_go_to_a_group_of_the_uploader_and_never_to_someone_elses()
    {
        using HttpClient alice = site.Factory.CreateClientWithToken(site.AliceToken);
        using HttpResponseMessage refused = await ApiClient.PostJobAsync(alice, site.InputPath, fileName: null, group: "lab-b");
        using HttpResponseMessage missing = await ApiClient.PostJobAsync(alice, site.InputPath, fileName: null, group: "no-such-lab");
        Assert.Equal(HttpStatusCode.NotFound, refused.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        Assert.Contains(await SecuritySite.AuditAsync(site.Factory.Services, AuditActions.AccessDenied), e => e.UserName == "alice" && e.Target == "upload to group lab-b");

        List<AuditEvent> uploads = await SecuritySite.AuditAsync(site.Factory.Services, AuditActions.Upload);
        AuditEvent upload = Assert.Single(uploads, e => e.JobId == site.AliceJob);
        Assert.Equal("alice", upload.UserName);
        Assert.Equal("ramp.nii.gz", upload.Target);
    }

    [Fact]
    public async Task The_query_filter_alone_hides_other_groups_jobs()
    {
        IServiceProvider services = site.Factory.Services;
        AccessSubject bob = await services.GetRequiredServiceOf<JobAccess>().SubjectAsync(Principal(site.Bob.Id, "bob"));
        Assert.DoesNotContain(site.AliceJob, await SecuritySite.JobIdsUnderAsync(services, bob.Visibility));
        Assert.Empty(await SecuritySite.JobIdsUnderAsync(services, JobVisibility.Nobody));
        Assert.Contains(site.AliceJob, await SecuritySite.JobIdsUnderAsync(services, JobVisibility.System));
    }

    [Fact]
    public async Task The_hub_joins_only_visible_jobs_and_JoinAll_carries_only_visible_events()
    {
        // Both transports: what a connection may see must not depend on how it is carried.
        await using JobHubClient bob = await JobHubClient.ConnectAsync(site.Factory.Server, HttpTransportType.WebSockets, site.BobToken);
        await using JobHubClient carol = await JobHubClient.ConnectAsync(site.Factory.Server, HttpTransportType.LongPolling, site.CarolToken);
        await using JobHubClient admin = await JobHubClient.ConnectAsync(site.Factory.Server, HttpTransportType.WebSockets);

        Assert.False(await bob.InvokeAsync<bool>("Join", site.AliceJob.ToString()));
        Assert.True(await carol.InvokeAsync<bool>("Join", site.AliceJob.ToString()));
        List<AuditEvent> denied = await SecuritySite.AuditAsync(site.Factory.Services, AuditActions.AccessDenied);
        Assert.Contains(denied, e => e.UserId == site.Bob.Id && e.JobId == site.AliceJob && e.Target == "hub join");

        await bob.InvokeAsync("JoinAll");
        await carol.InvokeAsync("JoinAll");
        await admin.InvokeAsync("JoinAll");
        using HttpClient alice = site.Factory.CreateClientWithToken(site.AliceToken);
        Guid job = await ApiClient.SubmitAsync(alice, site.InputPath);
        await admin.NextEventAsync(TimeSpan.FromMinutes(5), m => m.Target == "completed" && m.IsAbout(job));
        await carol.NextEventAsync(TimeSpan.FromMinutes(5), m => m.Target == "completed" && m.IsAbout(job));
        await Assert.ThrowsAsync<TimeoutException>(() => bob.NextEventAsync(TimeSpan.FromSeconds(1), m => m.IsAbout(job)));
    }

    private static string WithoutTrace(string problemJson)
    {
        using JsonDocument doc = JsonDocument.Parse(problemJson);
        var fields = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (JsonProperty p in doc.RootElement.EnumerateObject())
        {
            // .NET 10 writes the trace id with the API's snake_case naming policy ("trace_id").
            if (p.Name is not ("traceId" or "trace_id"))
            {
                fields[p.Name] = p.Value.GetRawText();
            }
        }

        return string.Join("|", fields.Select(kv => kv.Key + "=" + kv.Value));
    }

    private static System.Security.Claims.ClaimsPrincipal Principal(string id, string name) =>
        new(new System.Security.Claims.ClaimsIdentity(
            [new(System.Security.Claims.ClaimTypes.NameIdentifier, id), new(System.Security.Claims.ClaimTypes.Name, name)], "test"));
}

internal static class ServiceProviderExtensions
{
    public static T GetRequiredServiceOf<T>(this IServiceProvider services)
        where T : notnull => Microsoft.Extensions.DependencyInjection.ServiceProviderServiceExtensions.GetRequiredService<T>(services);
}
