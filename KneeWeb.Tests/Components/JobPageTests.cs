using AngleSharp.Dom;
using Bunit;
using KneeWeb.Components.Pages.Jobs;
using KneeWeb.Data;
using KneeWeb.Jobs;
using KneeWeb.Setup;
using KneeWeb.Tests.TestData;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Xunit;

namespace KneeWeb.Tests.Components;

/// <summary>The Job page: live progress (MudProgressLinear fed by the notifier), step timeline, cancel, failure and results.</summary>
[Trait("Category", "component")]
[Collection(ComponentHostCollection.Name)]
public sealed class JobPageTests(ComponentHostFixture fixture) : ComponentTestContext
{
    public override async Task InitializeAsync() => await UseHostAsync(fixture.Host);

    [Fact]
    public async Task A_running_job_follows_live_updates_in_its_bar_and_timeline()
    {
        Job job = await AddJobAsync(fixture.Host, j =>
        {
            j.SubjectId = "S-LIVE";
            j.Status = JobStatus.Running;
            j.Percent = 12;
            j.CurrentStep = "Preprocessing image";
            j.CurrentStepIndex = 2;
        });
        await AddEventsAsync(job.Id,
            new JobEvent { JobId = job.Id, Kind = "step-started", StepIndex = 1, Step = "Loading segmentation model", TimestampUtc = DateTime.UtcNow },
            new JobEvent { JobId = job.Id, Kind = "step-finished", StepIndex = 1, Step = "Loading segmentation model", DurationSeconds = 0.5, TimestampUtc = DateTime.UtcNow },
            new JobEvent { JobId = job.Id, Kind = "step-started", StepIndex = 2, Step = "Preprocessing image", TimestampUtc = DateTime.UtcNow });
        IRenderedComponent<JobPage> page = Render<JobPage>(new Dictionary<string, object?> { ["Id"] = job.Id });

        page.WaitForAssertion(() => Assert.Equal("S-LIVE", page.Find("h1").TextContent));
        Assert.Equal("Step 2 of 10: Preprocessing image", page.Find("[data-testid=current-step]").TextContent);
        Assert.Equal("12", page.Find("[data-testid=overall-progress]").GetAttribute("aria-valuenow"));
        Assert.Equal(["finished", "running", "pending"], page.FindAll("li.kw-step").Take(3).Select(s => s.GetAttribute("data-state")));

        fixture.Host.Services.GetRequiredService<JobNotifier>().Publish(
            new JobUpdate(job.Id, JobStatus.Running, 3, 10, "Running segmentation", "running", 0.25, 41.5, 90, null, null, DateTime.UtcNow));

        page.WaitForAssertion(() =>
        {
            Assert.Equal("Step 3 of 10: Running segmentation", page.Find("[data-testid=current-step]").TextContent);
            Assert.Equal("42%", page.Find("[data-testid=percent]").TextContent);
            Assert.Equal("41.5", page.Find("[data-testid=overall-progress]").GetAttribute("aria-valuenow"));
            Assert.Equal("running", page.Find("li.kw-step[data-step='3']").GetAttribute("data-state"));
            Assert.Equal("About 1 min 30 s left", page.Find(".kw-eta").TextContent);
        });
    }

    [Fact]
    public async Task Cancel_asks_first_then_asks_the_job_service_to_stop_the_job()
    {
        Job job = await AddJobAsync(fixture.Host, j => { j.SubjectId = "S-CANCEL"; j.Status = JobStatus.Running; j.CurrentStepIndex = 3; j.CurrentStep = "Running segmentation"; });
        IRenderedComponent<MudBlazor.MudDialogProvider> dialogs = Context.Render<MudBlazor.MudDialogProvider>();
        IRenderedComponent<JobPage> page = Render<JobPage>(new Dictionary<string, object?> { ["Id"] = job.Id });
        page.WaitForAssertion(() => Assert.Equal("Cancel job", page.Find("[data-testid=cancel]").Text()));

        // The question first: "No, let it run" leaves the job alone.
        page.Find("[data-testid=cancel]").Click();
        dialogs.WaitForAssertion(() => Assert.Equal("No, let it run", dialogs.Find("[data-testid=confirm-no]").Text()));
        dialogs.Find("[data-testid=confirm-no]").Click();
        dialogs.WaitForAssertion(() => Assert.Empty(dialogs.FindAll("[data-testid=confirm-yes]")));
        Assert.False((await fixture.Host.Services.GetRequiredService<JobStore>().FindAsync(job.Id))!.CancelRequested);
        Assert.Equal("Cancel job", page.Find("[data-testid=cancel]").Text());

        page.Find("[data-testid=cancel]").Click();
        dialogs.WaitForAssertion(() => dialogs.Find("[data-testid=confirm-yes]").Click());

        page.WaitForAssertion(() => Assert.Equal("Cancelling…", page.Find("[data-testid=cancel]").Text()));
        Assert.True(page.Find("[data-testid=cancel]").HasAttribute("disabled"));
        Job? stored = await fixture.Host.Services.GetRequiredService<JobStore>().FindAsync(job.Id);
        Assert.True(stored!.CancelRequested);
    }

    [Fact]
    public async Task A_failed_job_shows_the_error_from_the_catalog_and_no_cancel_button()
    {
        ErrorEntry entry = ErrorCatalog.Get(ErrorCode.INVALID_FORMAT);
        Job job = await AddJobAsync(fixture.Host, j =>
        {
            j.SubjectId = "S-FAIL";
            j.Status = JobStatus.Failed;
            j.ErrorCode = "INVALID_FORMAT";
            j.ErrorMessage = entry.Message;
            j.ErrorHint = entry.Hint;
        });
        IRenderedComponent<JobPage> page = Render<JobPage>(new Dictionary<string, object?> { ["Id"] = job.Id });

        page.WaitForAssertion(() => Assert.Equal("INVALID_FORMAT", page.Find("[data-testid=error-code]").TextContent));
        Assert.Equal(entry.Message, page.Find("[data-testid=error-message]").TextContent);
        Assert.Equal("The job failed", page.Find(".kw-error-title").TextContent);
        Assert.Empty(page.FindAll("[data-testid=cancel]"));
        Assert.Equal("Failed", page.Find("[data-testid=status]").Text());
    }

    [Fact]
    public async Task A_completed_job_shows_its_results_from_stats_json()
    {
        Job job = await AddJobAsync(fixture.Host, j => { j.SubjectId = "S-DONE"; j.Status = JobStatus.Completed; j.Percent = 100; j.Tags = "baseline"; });
        string jobs = fixture.Host.Services.GetRequiredService<IOptions<KneeWebOptions>>().Value.JobsPath;
        Directory.CreateDirectory(Path.Combine(jobs, job.Id.ToString("D")));
        File.Copy(TestFiles.PathOf("Results/stats-nsm.json"), Path.Combine(jobs, job.Id.ToString("D"), "stats.json"));
        IRenderedComponent<JobPage> page = Render<JobPage>(new Dictionary<string, object?> { ["Id"] = job.Id });

        page.WaitForAssertion(() => Assert.NotNull(page.Find("[data-testid=results]")));
        Assert.Equal("All 10 steps done", page.Find("[data-testid=current-step]").TextContent);
        Assert.Equal("S-DONE", page.Find("[data-testid=summary-subject]").TextContent);
        Assert.Equal("1.37", page.Find("[data-testid=bscore-scale]").GetAttribute("data-value"));
        // The upload is not stored in this job folder: the viewer says so instead of failing to load it.
        Assert.NotNull(page.Find("[data-testid=viewer-missing]"));
        Assert.NotNull(page.Find("[data-testid=no-meshes]"));
        Assert.Equal("/cohort?tag=baseline", page.Find("[data-testid=job-tags] a").GetAttribute("href"));
        Assert.Empty(page.FindAll("[data-testid=cancel]"));
    }

    [Fact]
    public void An_unknown_job_is_not_found()
    {
        IRenderedComponent<JobPage> page = Render<JobPage>(new Dictionary<string, object?> { ["Id"] = Guid.NewGuid() });
        page.WaitForAssertion(() => Assert.Equal("Job not found", page.Find("h1").TextContent));
        Assert.Equal("/jobs", page.Find("main a, a[href='/jobs']").GetAttribute("href"));
    }

    private async Task AddEventsAsync(Guid jobId, params JobEvent[] events)
    {
        using (JobVisibility.EnterSystem())
        {
            await fixture.Host.Services.GetRequiredService<JobStore>().WriteAsync(db =>
            {
                db.JobEvents.AddRange(events);
                return Task.CompletedTask;
            });
        }

        Assert.All(events, e => Assert.Equal(jobId, e.JobId));
    }
}
