using AngleSharp.Dom;
using Bunit;
using KneeWeb.Components.Pages.Jobs;
using KneeWeb.Data;
using KneeWeb.Jobs;
using KneeWeb.Security;
using KneeWeb.Setup;
using KneeWeb.Tests.Web;
using Microsoft.AspNetCore.Components;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using MudBlazor;
using Xunit;

namespace KneeWeb.Tests.Components;

/// <summary>
/// The job page's status line with the QC verdict, and job management from the job page and the jobs list:
/// every delete, exclude, include and cancel asks in a dialog first; "keep it" changes nothing, "yes" calls the
/// real job service against the real database and job folder, and audits.
/// </summary>
[Trait("Category", "component")]
[Collection(ComponentHostCollection.Name)]
public sealed class JobManagementComponentTests(ComponentHostFixture fixture) : ComponentTestContext
{
    /// <summary>One warning, no error: review.</summary>
    private const string ReviewStats = """
        { "volumes_mm3": { "femur": 51234.5 },
          "qc": { "flags": [ { "code": "HOLES_FILLED", "severity": "info", "structure": "femur", "message": "Filled 12 voxels." },
                             { "code": "NSM_HIGH_ASSD", "severity": "warning", "structure": "femur", "message": "The reconstruction is far from the bone." } ] } }
        """;

    private IRenderedComponent<MudDialogProvider> dialogs = null!;

    /// <summary>Signs the circuit in (the admin unless told) and renders the dialog host, as the layout does.</summary>
    private async Task SignInAsync(string userName = TestAccounts.AdminName, string role = Roles.Admin)
    {
        await UseHostAsync(fixture.Host, userName, role);
        dialogs = Context.Render<MudDialogProvider>();
    }

    private JobStore Store => fixture.Host.Services.GetRequiredService<JobStore>();

    private string JobsPath => fixture.Host.Services.GetRequiredService<IOptions<KneeWebOptions>>().Value.JobsPath;

    [Theory]
    [InlineData(ReviewStats, "review", "QC: review, 1 warning", "mud-chip-color-warning")]
    [InlineData("Results/stats-pipeline-phantom.json", "fail", "QC: fail, 4 errors, 7 warnings", "mud-chip-color-error")]
    [InlineData("""{ "qc": { "flags": [] } }""", "pass", "QC: pass", "mud-chip-color-success")]
    public async Task The_status_line_says_completed_and_the_qc_verdict_in_its_colour(string stats, string verdict, string text, string colour)
    {
        Job job = await CompletedJobAsync("S-QC", stats);
        await SignInAsync();
        IRenderedComponent<JobPage> page = Render<JobPage>(new Dictionary<string, object?> { ["Id"] = job.Id });

        page.WaitForAssertion(() => Assert.NotNull(page.Find("[data-testid=job-status-line] [data-testid=qc-verdict]")));
        IElement line = page.Find("[data-testid=job-status-line]");
        Assert.StartsWith($"Completed - {text}", line.Text(), StringComparison.Ordinal);
        IElement chip = line.QuerySelector("[data-testid=qc-verdict]")!;
        Assert.Equal(verdict, chip.GetAttribute("data-verdict"));
        Assert.Contains(colour, chip.ClassName, StringComparison.Ordinal);
        // The same verdict heads the results, before the key numbers.
        Assert.Equal(verdict, page.Find("[data-testid=result-top] [data-testid=qc-verdict]").GetAttribute("data-verdict"));
    }

    [Fact]
    public async Task A_job_without_a_qc_section_says_qc_was_not_computed()
    {
        Job job = await CompletedJobAsync("S-NOQC", """{ "volumes_mm3": { "femur": 1000 } }""");
        await SignInAsync();
        IRenderedComponent<JobPage> page = Render<JobPage>(new Dictionary<string, object?> { ["Id"] = job.Id });
        page.WaitForAssertion(() => Assert.Equal("none", page.Find("[data-testid=job-status-line] [data-testid=qc-verdict]").GetAttribute("data-verdict")));
        Assert.Contains("QC: not computed", page.Find("[data-testid=job-status-line]").Text(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Delete_on_the_job_page_asks_keeps_the_job_on_no_and_deletes_it_and_its_folder_on_yes()
    {
        Job job = await CompletedJobAsync("S-DEL", ReviewStats);
        string folder = Path.Combine(JobsPath, job.Id.ToString("D"));
        await SignInAsync();
        IRenderedComponent<JobPage> page = Render<JobPage>(new Dictionary<string, object?> { ["Id"] = job.Id });
        page.WaitForAssertion(() => Assert.NotNull(page.Find("[data-testid=job-status-line] [data-testid=delete]")));

        page.Find("[data-testid=job-status-line] [data-testid=delete]").Click();
        dialogs.WaitForAssertion(() => Assert.Contains("cannot be undone", dialogs.Find("[data-testid=confirm-message]").TextContent, StringComparison.Ordinal));
        dialogs.Find("[data-testid=confirm-no]").Click();
        dialogs.WaitForAssertion(() => Assert.Empty(dialogs.FindAll("[data-testid=confirm-message]")));
        Assert.NotNull(await FindAsync(job.Id));
        Assert.True(Directory.Exists(folder));

        page.Find("[data-testid=job-status-line] [data-testid=delete]").Click();
        dialogs.WaitForAssertion(() => dialogs.Find("[data-testid=confirm-yes]").Click());

        NavigationManager nav = Context.Services.GetRequiredService<NavigationManager>();
        page.WaitForAssertion(() => Assert.EndsWith("/jobs", nav.Uri, StringComparison.Ordinal));
        Assert.Null(await FindAsync(job.Id));
        Assert.False(Directory.Exists(folder));
        Assert.Contains(await AuditAsync(AuditActions.Delete), e => e.JobId == job.Id && e.UserName == TestAccounts.AdminName);
    }

    [Fact]
    public async Task Exclude_asks_for_a_reason_marks_the_job_and_include_puts_it_back()
    {
        Job job = await CompletedJobAsync("S-EXC", ReviewStats);
        await SignInAsync();
        IRenderedComponent<JobPage> page = Render<JobPage>(new Dictionary<string, object?> { ["Id"] = job.Id });
        page.WaitForAssertion(() => Assert.NotNull(page.Find("[data-testid=exclude]")));

        // "No, keep it": nothing is marked, nothing audited.
        page.Find("[data-testid=exclude]").Click();
        dialogs.WaitForAssertion(() => dialogs.Find("[data-testid=confirm-no]").Click());
        dialogs.WaitForAssertion(() => Assert.Empty(dialogs.FindAll("[data-testid=confirm-message]")));
        Assert.False((await FindAsync(job.Id))!.IsExcludedFromCohort);
        Assert.DoesNotContain(await AuditAsync(AuditActions.ExcludeFromCohort), e => e.JobId == job.Id);

        page.Find("[data-testid=exclude]").Click();
        dialogs.WaitForAssertion(() => dialogs.Find("[data-testid=confirm-reason] input, input[data-testid=confirm-reason]").Input("scanned twice"));
        dialogs.Find("[data-testid=confirm-yes]").Click();

        page.WaitForAssertion(() => Assert.Contains("scanned twice", page.Find("[data-testid=excluded-note]").TextContent, StringComparison.Ordinal));
        Assert.NotNull(page.Find("[data-testid=excluded]"));
        Job stored = (await FindAsync(job.Id))!;
        Assert.True(stored.IsExcludedFromCohort);
        Assert.Equal(TestAccounts.AdminName, stored.ExcludedBy);
        Assert.Equal("scanned twice", stored.ExclusionReason);
        Assert.Contains(await AuditAsync(AuditActions.ExcludeFromCohort), e => e.JobId == job.Id && e.Detail == "scanned twice");

        page.Find("[data-testid=include]").Click();
        dialogs.WaitForAssertion(() => dialogs.Find("[data-testid=confirm-yes]").Click());
        page.WaitForAssertion(() => Assert.Empty(page.FindAll("[data-testid=excluded-note]")));
        Assert.False((await FindAsync(job.Id))!.IsExcludedFromCohort);
        Assert.Contains(await AuditAsync(AuditActions.IncludeInCohort), e => e.JobId == job.Id);
    }

    [Fact]
    public async Task A_running_job_cannot_be_deleted_until_it_is_cancelled()
    {
        Job job = await AddJobAsync(fixture.Host, j => { j.SubjectId = "S-RUN"; j.Status = JobStatus.Running; j.CurrentStepIndex = 3; j.CurrentStep = "Running segmentation"; });
        await SignInAsync();
        IRenderedComponent<JobPage> page = Render<JobPage>(new Dictionary<string, object?> { ["Id"] = job.Id });
        page.WaitForAssertion(() => Assert.True(page.Find("[data-testid=delete]").HasAttribute("disabled")));
        Assert.Empty(page.FindAll("[data-testid=exclude]"));
        Assert.Contains("Running", page.Find("[data-testid=job-status-line]").Text(), StringComparison.Ordinal);
        Assert.Empty(page.FindAll("[data-testid=job-status-line] [data-testid=qc-verdict]"));
    }

    [Fact]
    public async Task A_group_member_who_did_not_submit_the_job_is_refused_after_confirming()
    {
        string name = "jm" + Guid.NewGuid().ToString("N")[..6];
        await using (AsyncServiceScope scope = fixture.Host.Services.CreateAsyncScope())
        {
            await scope.ServiceProvider.GetRequiredService<AccountAdmin>().AddUserAsync(name, Roles.Member, groups: [Group.DefaultName]);
        }

        Job job = await CompletedJobAsync("S-NOTYOURS", ReviewStats);
        await SignInAsync(name, Roles.Member);
        IRenderedComponent<JobPage> page = Render<JobPage>(new Dictionary<string, object?> { ["Id"] = job.Id });
        page.WaitForAssertion(() => Assert.NotNull(page.Find("[data-testid=job-status-line] [data-testid=delete]")));

        page.Find("[data-testid=job-status-line] [data-testid=delete]").Click();
        dialogs.WaitForAssertion(() => dialogs.Find("[data-testid=confirm-yes]").Click());

        page.WaitForAssertion(() => Assert.Contains("Only the submitter", page.Find("[data-testid=action-refused]").TextContent, StringComparison.Ordinal));
        Assert.NotNull(await FindAsync(job.Id));
        Assert.Contains(await AuditAsync(AuditActions.AccessDenied), e => e.JobId == job.Id && e.UserName == name);
    }

    [Fact]
    public async Task The_jobs_list_shows_each_verdict_and_excludes_from_its_row_after_asking()
    {
        string tag = "jv" + Guid.NewGuid().ToString("N")[..8];
        Job fail = await CompletedJobAsync($"{tag}-fail", "Results/stats-pipeline-phantom.json");
        Job review = await CompletedJobAsync($"{tag}-review", ReviewStats);
        Job running = await AddJobAsync(fixture.Host, j => { j.SubjectId = $"{tag}-run"; j.Status = JobStatus.Running; });
        await SignInAsync();
        Context.Services.GetRequiredService<NavigationManager>().NavigateTo($"/jobs?subject={tag}");
        IRenderedComponent<JobsPage> page = Render<JobsPage>();
        page.WaitForAssertion(() => Assert.Equal(3, page.FindAll("a[data-job]").Count));

        Assert.Equal("fail", Row(page, fail.Id).QuerySelector("[data-testid=qc-verdict]")!.GetAttribute("data-verdict"));
        Assert.Equal("fail", Row(page, fail.Id).QuerySelector("[data-testid=qc-verdict]")!.Text());
        Assert.Contains("mud-chip-color-error", Row(page, fail.Id).QuerySelector("[data-testid=qc-verdict]")!.ClassName, StringComparison.Ordinal);
        Assert.Equal("review", Row(page, review.Id).QuerySelector("[data-testid=qc-verdict]")!.GetAttribute("data-verdict"));
        Assert.Null(Row(page, running.Id).QuerySelector("[data-testid=qc-verdict]"));
        Assert.True(Row(page, running.Id).QuerySelector("[data-testid=delete]")!.HasAttribute("disabled"));

        Row(page, review.Id).QuerySelector("[data-testid=exclude]")!.Click();
        dialogs.WaitForAssertion(() => dialogs.Find("[data-testid=confirm-no]").Click());
        dialogs.WaitForAssertion(() => Assert.Empty(dialogs.FindAll("[data-testid=confirm-message]")));
        Assert.False((await FindAsync(review.Id))!.IsExcludedFromCohort);

        Row(page, review.Id).QuerySelector("[data-testid=exclude]")!.Click();
        dialogs.WaitForAssertion(() => dialogs.Find("[data-testid=confirm-yes]").Click());
        page.WaitForAssertion(() => Assert.NotNull(Row(page, review.Id).QuerySelector("[data-testid=job-row-excluded]")));
        Assert.True((await FindAsync(review.Id))!.IsExcludedFromCohort);
        Assert.NotNull(Row(page, review.Id).QuerySelector("[data-testid=include]"));

        Row(page, fail.Id).QuerySelector("[data-testid=delete]")!.Click();
        dialogs.WaitForAssertion(() => dialogs.Find("[data-testid=confirm-yes]").Click());
        page.WaitForAssertion(() => Assert.Equal(2, page.FindAll("a[data-job]").Count));
        Assert.Null(await FindAsync(fail.Id));
    }

    /// <summary>A completed job (owned by the test's admin, default group) with the given stats.json (inline JSON or a TestData file).</summary>
    private async Task<Job> CompletedJobAsync(string subject, string stats)
    {
        Job job = await AddJobAsync(fixture.Host, j => { j.SubjectId = subject; j.Status = JobStatus.Completed; j.Percent = 100; });
        string folder = Path.Combine(JobsPath, job.Id.ToString("D"));
        Directory.CreateDirectory(folder);
        string json = stats.TrimStart().StartsWith('{') ? stats : File.ReadAllText(TestData.TestFiles.PathOf(stats));
        await File.WriteAllTextAsync(Path.Combine(folder, "stats.json"), json);
        return job;
    }

    private static IElement Row(IRenderedComponent<JobsPage> page, Guid id) =>
        page.Find($"a[data-job='{id}']").Closest("tr") ?? throw new Xunit.Sdk.XunitException($"No row for job {id}.");

    private async Task<Job?> FindAsync(Guid id)
    {
        using (JobVisibility.EnterSystem())
        {
            return await Store.FindAsync(id);
        }
    }

    private async Task<List<AuditEvent>> AuditAsync(string action) =>
        await fixture.Host.Services.GetRequiredService<AuditLog>().QueryAsync(new AuditFilter(Action: action, Limit: 10_000));
}
