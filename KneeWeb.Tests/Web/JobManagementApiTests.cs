using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using KneeWeb.Data;
using KneeWeb.Jobs;
using KneeWeb.Security;
using KneeWeb.Setup;
using KneeWeb.Tests.Security;
using KneeWeb.Tests.TestData;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Xunit;

namespace KneeWeb.Tests.Web;

/// <summary>
/// Job management over the real API: exclude from the cohort and include again (kept, marked, audited),
/// delete with the job's files, who may do each (the submitter, a lead of the group, an Admin; another
/// group gets the 404 of a missing job), and the Accounts page's confirmation before a lock.
/// </summary>
[Trait("Category", "host")]
public sealed class JobManagementApiTests : IClassFixture<JobManagementApiTests.Site>
{
    private readonly Site site;

    public JobManagementApiTests(Site site) => this.site = site;

    public sealed class Site : IAsyncLifetime
    {
        private readonly TempFolder inputs = new("kneeweb-manage");

        public KneeWebFactory Factory { get; } = new();

        public string AliceToken { get; private set; } = "";

        public string CarolToken { get; private set; } = "";

        public string PiaToken { get; private set; } = "";

        public string BobToken { get; private set; } = "";

        public string InputPath { get; private set; } = "";

        public async Task InitializeAsync()
        {
            IServiceProvider services = Factory.Services;
            (_, AliceToken) = await TestAccounts.CreateUserAsync(services, "alice", Roles.Member, "lab-a");
            (_, CarolToken) = await TestAccounts.CreateUserAsync(services, "carol", Roles.Member, "lab-a");
            (_, PiaToken) = await TestAccounts.CreateUserAsync(services, "pia", Roles.PI, "lab-a");
            (_, BobToken) = await TestAccounts.CreateUserAsync(services, "bob", Roles.Member, "lab-b");
            InputPath = TestVolumes.WriteRamp(inputs.Path);
        }

        /// <summary>A completed job of Alice's in lab-a, run by the real pipeline.</summary>
        public async Task<Guid> CompletedAliceJobAsync()
        {
            using HttpClient alice = Factory.CreateClientWithToken(AliceToken);
            Guid id = await ApiClient.SubmitAsync(alice, InputPath);
            Assert.Equal("Completed", (await ApiClient.WaitForEndAsync(alice, id)).GetProperty("status").GetString());
            return id;
        }

        public Task DisposeAsync()
        {
            Factory.Dispose();
            inputs.Dispose();
            return Task.CompletedTask;
        }
    }

    [Fact]
    public async Task The_owner_excludes_a_job_with_a_reason_then_includes_it_again_and_both_are_audited()
    {
        Guid id = await site.CompletedAliceJobAsync();
        using HttpClient alice = site.Factory.CreateClientWithToken(site.AliceToken);

        using HttpResponseMessage excluded = await alice.PostAsJsonAsync($"/v1/jobs/{id}/exclude", new { reason = "  motion artefacts  " });
        Assert.Equal(HttpStatusCode.OK, excluded.StatusCode);
        JsonElement view = await excluded.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("alice", view.GetProperty("cohort_exclusion").GetProperty("excluded_by").GetString());
        Assert.Equal("motion artefacts", view.GetProperty("cohort_exclusion").GetProperty("reason").GetString());

        // Kept and marked: the row says so, the files are all still there, GET shows the mark.
        Job stored = (await JobAsync(id))!;
        Assert.True(stored.IsExcludedFromCohort);
        Assert.Equal("alice", stored.ExcludedBy);
        Assert.Equal("motion artefacts", stored.ExclusionReason);
        Assert.True(File.Exists(Path.Combine(JobFolder(id), "stats.json")));
        Assert.Equal("motion artefacts", (await ApiClient.GetJobAsync(alice, id)).GetProperty("cohort_exclusion").GetProperty("reason").GetString());
        AuditEvent exclusion = Assert.Single(await SecuritySite.AuditAsync(site.Factory.Services, AuditActions.ExcludeFromCohort), e => e.JobId == id);
        Assert.Equal("alice", exclusion.UserName);
        Assert.Equal("motion artefacts", exclusion.Detail);

        using HttpResponseMessage included = await alice.PostAsync($"/v1/jobs/{id}/include", null);
        Assert.Equal(HttpStatusCode.OK, included.StatusCode);
        Assert.Equal(JsonValueKind.Null, (await included.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("cohort_exclusion").ValueKind);
        stored = (await JobAsync(id))!;
        Assert.False(stored.IsExcludedFromCohort);
        Assert.Null(stored.ExcludedBy);
        Assert.Null(stored.ExclusionReason);
        Assert.Single(await SecuritySite.AuditAsync(site.Factory.Services, AuditActions.IncludeInCohort), e => e.JobId == id && e.UserName == "alice");
    }

    [Fact]
    public async Task Exclude_without_a_body_has_no_reason()
    {
        Guid id = await site.CompletedAliceJobAsync();
        using HttpClient alice = site.Factory.CreateClientWithToken(site.AliceToken);
        using HttpResponseMessage response = await alice.PostAsync($"/v1/jobs/{id}/exclude", null);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Job stored = (await JobAsync(id))!;
        Assert.True(stored.IsExcludedFromCohort);
        Assert.Null(stored.ExclusionReason);
    }

    [Fact]
    public async Task Only_the_submitter_a_lead_of_the_group_or_an_admin_may_exclude_or_include()
    {
        Guid id = await site.CompletedAliceJobAsync();
        using HttpClient bob = site.Factory.CreateClientWithToken(site.BobToken);
        using HttpClient carol = site.Factory.CreateClientWithToken(site.CarolToken);
        using HttpClient pia = site.Factory.CreateClientWithToken(site.PiaToken);
        using HttpClient admin = site.Factory.CreateClientWithToken(TestAccounts.AdminToken);
        using HttpClient anonymous = site.Factory.CreateAnonymousClient();

        foreach (string action in new[] { "exclude", "include" })
        {
            // Another group: exactly the answer for a job that does not exist, and audited.
            using HttpResponseMessage foreign = await bob.PostAsync($"/v1/jobs/{id}/{action}", null);
            using HttpResponseMessage missing = await bob.PostAsync($"/v1/jobs/{Guid.NewGuid()}/{action}", null);
            Assert.Equal(HttpStatusCode.NotFound, foreign.StatusCode);
            Assert.Equal(await WithoutTraceAsync(missing), await WithoutTraceAsync(foreign));

            // Same group, not the submitter nor a lead: may see it, may not change it.
            using HttpResponseMessage member = await carol.PostAsync($"/v1/jobs/{id}/{action}", null);
            Assert.Equal(HttpStatusCode.Forbidden, member.StatusCode);
            Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.PostAsync($"/v1/jobs/{id}/{action}", null)).StatusCode);
        }

        Assert.False((await JobAsync(id))!.IsExcludedFromCohort);
        List<AuditEvent> denied = await SecuritySite.AuditAsync(site.Factory.Services, AuditActions.AccessDenied);
        Assert.Contains(denied, e => e.JobId == id && e.UserName == "bob");
        Assert.Contains(denied, e => e.JobId == id && e.UserName == "carol" && e.Target!.Contains("exclude", StringComparison.Ordinal));

        Assert.Equal(HttpStatusCode.OK, (await pia.PostAsync($"/v1/jobs/{id}/exclude", null)).StatusCode);
        Assert.Equal("pia", (await JobAsync(id))!.ExcludedBy);
        Assert.Equal(HttpStatusCode.OK, (await admin.PostAsync($"/v1/jobs/{id}/include", null)).StatusCode);
        Assert.False((await JobAsync(id))!.IsExcludedFromCohort);
    }

    [Fact]
    public async Task Deleting_a_finished_job_removes_its_row_its_upload_and_its_folder_and_is_audited()
    {
        Guid id = await site.CompletedAliceJobAsync();
        KneeWebOptions settings = site.Factory.Services.GetRequiredService<IOptions<KneeWebOptions>>().Value;
        string upload = Path.Combine(settings.UploadsPath, id.ToString("D"));
        Assert.True(File.Exists(Path.Combine(JobFolder(id), "stats.json")));
        using HttpClient carol = site.Factory.CreateClientWithToken(site.CarolToken);
        Assert.Equal(HttpStatusCode.Forbidden, (await carol.DeleteAsync($"/v1/jobs/{id}")).StatusCode);
        Assert.True(Directory.Exists(JobFolder(id)));

        using HttpClient alice = site.Factory.CreateClientWithToken(site.AliceToken);
        using HttpResponseMessage deleted = await alice.DeleteAsync($"/v1/jobs/{id}");

        Assert.Equal(HttpStatusCode.NoContent, deleted.StatusCode);
        Assert.False(Directory.Exists(JobFolder(id)));
        Assert.False(Directory.Exists(upload));
        Assert.Null(await JobAsync(id));
        Assert.Equal(HttpStatusCode.NotFound, (await alice.GetAsync($"/v1/jobs/{id}")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await alice.PostAsync($"/v1/jobs/{id}/exclude", null)).StatusCode);
        Assert.Single(await SecuritySite.AuditAsync(site.Factory.Services, AuditActions.Delete), e => e.JobId == id && e.UserName == "alice");
    }

    [Fact]
    public async Task Lock_on_the_accounts_page_asks_first_and_locks_only_on_the_second_submit()
    {
        (_, string token) = await TestAccounts.CreateUserAsync(site.Factory.Services, "lena", Roles.Member, Group.DefaultName);
        using HttpClient lena = site.Factory.CreateClientWithToken(token);
        using HttpClient admin = await SecuritySite.SignInWithCookieAsync(site.Factory, TestAccounts.AdminName, TestAccounts.AdminPassword);

        using (HttpResponseMessage asked = await SecuritySite.PostPageFormAsync(admin, "/admin/users", "user-state", [new("StateOp", "ask-lock:lena")]))
        {
            string html = await asked.Content.ReadAsStringAsync();
            Assert.Contains("data-testid=\"confirm-lock\"", html, StringComparison.Ordinal);
            Assert.Contains("value=\"lock:lena\"", html, StringComparison.Ordinal);
        }

        // Asked, not done: the account still works and nothing was audited as a lock.
        Assert.Equal(HttpStatusCode.OK, (await lena.GetAsync("/v1/jobs")).StatusCode);
        Assert.DoesNotContain(await SecuritySite.AuditAsync(site.Factory.Services, AuditActions.UserLocked), e => e.Target == "user lena");

        using (HttpResponseMessage locked = await SecuritySite.PostPageFormAsync(admin, "/admin/users", "user-state", [new("StateOp", "lock:lena")]))
        {
            Assert.Contains("Locked lena.", await locked.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        Assert.Equal(HttpStatusCode.Unauthorized, (await lena.GetAsync("/v1/jobs")).StatusCode);
    }

    /// <summary>A problem body without its per-request trace id.</summary>
    private static async Task<string> WithoutTraceAsync(HttpResponseMessage response)
    {
        JsonElement body = await response.Content.ReadFromJsonAsync<JsonElement>();
        return string.Join(";", body.EnumerateObject().Where(p => p.Name is not ("traceId" or "trace_id")).Select(p => $"{p.Name}={p.Value.GetRawText()}"));
    }

    private string JobFolder(Guid id) =>
        Path.Combine(site.Factory.Services.GetRequiredService<IOptions<KneeWebOptions>>().Value.JobsPath, id.ToString("D"));

    private async Task<Job?> JobAsync(Guid id)
    {
        using (JobVisibility.EnterSystem())
        {
            return await site.Factory.Services.GetRequiredService<JobStore>().FindAsync(id);
        }
    }
}
