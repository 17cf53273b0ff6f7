using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using KneeWeb.Tests.TestData;
using Xunit;

namespace KneeWeb.Tests.Web.Results;

/// <summary>"Try a sample" through its API route, and job tags from submission to the cohort filter and CSV.</summary>
[Trait("Category", "host")]
public sealed class SampleAndTagsApiTests : IDisposable
{
    private readonly TempFolder inputs = new("kneeweb-inputs");

    // The phantom on its coarsest grid (48x48x20): the route and the cache are under test, not the anatomy.
    private readonly KneeWebFactory factory = new(new Dictionary<string, string?> { ["KneeWeb:Samples:PhantomCoarsening"] = "8" });

    public void Dispose()
    {
        factory.Dispose();
        inputs.Dispose();
    }

    [Fact]
    public async Task A_sample_job_runs_on_the_phantom_generated_once_and_reused()
    {
        HttpClient client = factory.CreateClient();
        using HttpResponseMessage first = await client.PostAsync("/v1/samples/phantom/jobs",
            JsonContent.Create(new { subject_id = "PHANTOM-1", tags = " Baseline , knee  OA,#baseline", knee_side = "right" }));
        string body = await first.Content.ReadAsStringAsync();
        Assert.True(first.StatusCode == HttpStatusCode.Accepted, $"POST /v1/samples/phantom/jobs answered {(int)first.StatusCode}: {body}");
        Guid a = JsonDocument.Parse(body).RootElement.GetProperty("id").GetGuid();
        Assert.Equal($"/v1/jobs/{a:D}", first.Headers.Location?.OriginalString);

        string cached = Path.Combine(factory.DataRoot, "samples", "knee-phantom-seed1-c8.nii.gz");
        Assert.True(File.Exists(cached), $"The phantom was not kept at {cached}.");
        DateTime written = File.GetLastWriteTimeUtc(cached);

        JsonElement job = await ApiClient.GetJobAsync(client, a);
        Assert.Equal("knee-phantom.nii.gz", job.GetProperty("input_file_name").GetString());
        Assert.Equal("PHANTOM-1", job.GetProperty("subject_id").GetString());
        Assert.Equal(["baseline", "knee-oa"], job.GetProperty("tags").EnumerateArray().Select(t => t.GetString()));

        // A second click (no body: every option at its default) reuses the phantom as it is.
        using HttpResponseMessage second = await client.PostAsync("/v1/samples/phantom/jobs", new StringContent("", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.Accepted, second.StatusCode);
        Guid b = JsonDocument.Parse(await second.Content.ReadAsStringAsync()).RootElement.GetProperty("id").GetGuid();
        Assert.Equal(written, File.GetLastWriteTimeUtc(cached));
        Assert.Single(Directory.GetFiles(Path.Combine(factory.DataRoot, "samples"), "*.nii.gz"));

        foreach (Guid id in new[] { a, b })
        {
            JsonElement end = await ApiClient.WaitForEndAsync(client, id, TimeSpan.FromMinutes(2));
            Assert.Equal("Completed", end.GetProperty("status").GetString());
            // The job reads its own copy of the phantom, byte for byte.
            Assert.Equal(await File.ReadAllBytesAsync(cached), await client.GetByteArrayAsync($"/v1/jobs/{id}/input"));
        }

        using JsonDocument stats = JsonDocument.Parse(await client.GetStringAsync($"/v1/jobs/{a}/artifacts/stats.json"));
        JsonElement dims = stats.RootElement.GetProperty("input").GetProperty("dims");
        Assert.Equal([48, 48, 20], dims.EnumerateArray().Select(d => d.GetInt32()));
    }

    [Fact]
    public async Task Bad_tags_are_a_config_error_and_tags_filter_the_cohort_by_exact_match_and_fill_a_csv_column()
    {
        HttpClient client = factory.CreateClient();
        using HttpResponseMessage bad = await client.PostAsync("/v1/samples/phantom/jobs", JsonContent.Create(new { tags = "fine, not/fine" }));
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        using (JsonDocument problem = JsonDocument.Parse(await bad.Content.ReadAsStringAsync()))
        {
            Assert.Equal("CONFIG_ERROR", problem.RootElement.GetProperty("code").GetString());
            Assert.Contains("'not/fine'", problem.RootElement.GetProperty("detail").GetString(), StringComparison.Ordinal);
        }

        string input = TestVolumes.WriteRamp(inputs.Path, "knee.nii.gz");
        using (HttpResponseMessage tooLong = await ApiClient.PostJobAsync(client, input, new { tags = new string('x', 33) }))
        {
            Assert.Equal(HttpStatusCode.BadRequest, tooLong.StatusCode);
            Assert.Contains("longer than 32", await tooLong.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        Guid oa = await ApiClient.SubmitAsync(client, input, new { subject_id = "TAG-1", tags = (string[])["Knee OA", "visit-1"], notes = "mentions baseline in the notes only" });
        Guid baseline = await ApiClient.SubmitAsync(client, input, new { subject_id = "TAG-2", tags = "baseline,visit-1" });
        Guid none = await ApiClient.SubmitAsync(client, input, new { subject_id = "TAG-3" });
        foreach (Guid id in new[] { oa, baseline, none })
        {
            Assert.Equal("Completed", (await ApiClient.WaitForEndAsync(client, id, TimeSpan.FromMinutes(2))).GetProperty("status").GetString());
        }

        async Task<string[]> Jobs(string tag)
        {
            using JsonDocument doc = JsonDocument.Parse(await client.GetStringAsync($"/v1/cohort?tag={Uri.EscapeDataString(tag)}"));
            return [.. doc.RootElement.EnumerateArray().Select(r => r.GetProperty("job_id").GetString()!).Order()];
        }

        Assert.Equal([oa.ToString("D")], await Jobs("knee-oa"));
        Assert.Equal([oa.ToString("D")], await Jobs(" Knee OA "));
        Assert.Equal([baseline.ToString("D")], await Jobs("baseline"));
        Assert.Equal(new[] { oa.ToString("D"), baseline.ToString("D") }.Order(), await Jobs("visit-1"));
        Assert.Empty(await Jobs("visit"));
        Assert.Empty(await Jobs("knee"));

        string[] lines = (await client.GetStringAsync("/v1/cohort.csv?tag=visit-1")).TrimStart('\uFEFF').Split("\r\n", StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(3, lines.Length);
        string[] header = lines[0].Split(',');
        int column = Array.IndexOf(header, "tags");
        Assert.True(column > 0, $"No tags column in: {lines[0]}");
        string oaLine = lines.Single(l => l.StartsWith(oa.ToString("D"), StringComparison.Ordinal));
        Assert.Contains(",knee-oa; visit-1,", oaLine, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(null, "")]
    [InlineData("  ,  , ", "")]
    [InlineData("Baseline", "baseline")]
    [InlineData(" #Knee   OA , baseline,knee-oa ", "knee-oa,baseline")]
    [InlineData("v1.2,trial_7,Ärztin", "v1.2,trial_7,ärztin")]
    public void Tags_are_normalised_lower_case_dashed_and_each_kept_once(string? typed, string stored)
    {
        (IReadOnlyList<string> tags, IReadOnlyList<string> problems) = KneeWeb.Pipeline.JobTags.Parse(typed);
        Assert.Empty(problems);
        Assert.Equal(stored, string.Join(',', tags));
        Assert.Equal(stored.Length == 0 ? null : stored, KneeWeb.Pipeline.JobTags.ToStored(typed));
    }

    [Theory]
    [InlineData("a/b", "may hold only letters")]
    [InlineData("ok,<script>", "may hold only letters")]
    [InlineData("0123456789012345678901234567890123", "longer than 32")]
    [InlineData("a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q", "at most 16 tags")]
    public void Bad_tags_are_named_in_the_problem(string typed, string expected)
    {
        IReadOnlyList<string> problems = KneeWeb.Pipeline.JobTags.Parse(typed).Problems;
        Assert.Contains(problems, p => p.Contains(expected, StringComparison.Ordinal));
        Assert.Contains(new KneeWeb.Pipeline.PipelineOptions { Tags = typed }.Validate(), p => p.Contains(expected, StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_sample_needs_sign_in_and_goes_to_a_group_of_the_caller()
    {
        HttpClient admin = factory.CreateClient();
        using (HttpResponseMessage anonymous = await factory.CreateAnonymousClient().PostAsync("/v1/samples/phantom/jobs", JsonContent.Create(new { })))
        {
            Assert.True(anonymous.StatusCode is HttpStatusCode.Unauthorized or HttpStatusCode.Redirect or HttpStatusCode.Found, $"An anonymous sample request answered {(int)anonymous.StatusCode}.");
        }

        Assert.False(Directory.Exists(Path.Combine(factory.DataRoot, "samples")), "An anonymous request generated the phantom.");
        (_, string aliceToken) = await TestAccounts.CreateUserAsync(factory.Services, "alice", KneeWeb.Security.Roles.Member, "lab-a");
        (_, string bobToken) = await TestAccounts.CreateUserAsync(factory.Services, "bob", KneeWeb.Security.Roles.Member, "lab-b");
        HttpClient alice = factory.CreateClientWithToken(aliceToken);
        HttpClient bob = factory.CreateClientWithToken(bobToken);

        using (HttpResponseMessage otherGroup = await alice.PostAsync("/v1/samples/phantom/jobs?group=lab-b", JsonContent.Create(new { })))
        {
            // Answered like a group that does not exist, and audited.
            Assert.Equal(HttpStatusCode.NotFound, otherGroup.StatusCode);
            Assert.Contains(await KneeWeb.Tests.Security.SecuritySite.AuditAsync(factory.Services, KneeWeb.Data.AuditActions.AccessDenied), e => e.UserName == "alice" && e.Target == "upload to group lab-b");
        }

        using HttpResponseMessage own = await alice.PostAsync("/v1/samples/phantom/jobs?group=lab-a", JsonContent.Create(new { subject_id = "ALICE-SAMPLE" }));
        Assert.Equal(HttpStatusCode.Accepted, own.StatusCode);
        Guid id = JsonDocument.Parse(await own.Content.ReadAsStringAsync()).RootElement.GetProperty("id").GetGuid();
        Assert.Equal("alice", (await ApiClient.GetJobAsync(alice, id)).GetProperty("owner").GetString());
        Assert.Equal(HttpStatusCode.NotFound, (await bob.GetAsync($"/v1/jobs/{id}")).StatusCode);
        Assert.Equal("Completed", (await ApiClient.WaitForEndAsync(admin, id, TimeSpan.FromMinutes(2))).GetProperty("status").GetString());
    }
}
