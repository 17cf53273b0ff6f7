using AngleSharp.Dom;
using Bunit;
using KneeWeb.Components.Pages.Jobs;
using KneeWeb.Data;
using KneeWeb.Jobs;
using Microsoft.AspNetCore.Components;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace KneeWeb.Tests.Components;

/// <summary>The Jobs list: rows from the real database, filters that apply as you type and live in the URL, live progress.</summary>
[Trait("Category", "component")]
[Collection(ComponentHostCollection.Name)]
public sealed class JobsPageTests(ComponentHostFixture fixture) : ComponentTestContext
{
    private readonly string tag = "jl" + Guid.NewGuid().ToString("N")[..8];

    public override async Task InitializeAsync() => await UseHostAsync(fixture.Host);

    [Fact]
    public async Task Lists_jobs_with_status_tags_and_progress()
    {
        Job running = await AddJobAsync(fixture.Host, j =>
        {
            j.SubjectId = $"{tag}-run";
            j.Status = JobStatus.Running;
            j.Percent = 37;
            j.CurrentStep = "Running segmentation";
            j.CurrentStepIndex = 3;
            j.Tags = "baseline,knee-oa";
        });
        NavigateTo($"/jobs?subject={tag}-run");
        IRenderedComponent<JobsPage> page = Render<JobsPage>();

        IElement row = RowOf(page, running.Id);
        Assert.Contains($"{tag}-run", row.Text(), StringComparison.Ordinal);
        Assert.Equal("Running", row.QuerySelector("[data-testid=status]")!.Text());
        Assert.Equal(["baseline", "knee-oa"], row.QuerySelectorAll(".kw-tag").Select(t => t.TextContent));
        Assert.Equal("37", row.QuerySelector(".kw-cell-progress")!.GetAttribute("data-percent"));
        Assert.Equal("Running segmentation", row.QuerySelector(".kw-cell-step")!.TextContent);
        Assert.Equal($"/jobs/{running.Id}", row.QuerySelector("a[data-job]")!.GetAttribute("href"));
    }

    [Fact]
    public async Task Typing_in_the_subject_filter_narrows_the_rows_and_writes_the_url()
    {
        Job a = await AddJobAsync(fixture.Host, j => { j.SubjectId = $"{tag}-alpha"; j.Status = JobStatus.Completed; j.Percent = 100; });
        Job b = await AddJobAsync(fixture.Host, j => { j.SubjectId = $"{tag}-beta"; j.Status = JobStatus.Failed; j.ErrorCode = "INVALID_FORMAT"; });
        NavigateTo($"/jobs?subject={tag}");
        IRenderedComponent<JobsPage> page = Render<JobsPage>();
        page.WaitForAssertion(() => Assert.Equal(2, JobRows(page).Count));

        page.Find("[data-testid=subject-filter] input, input[data-testid=subject-filter]").Input($"{tag}-be");

        page.WaitForAssertion(() => Assert.Equal([b.Id.ToString()], JobRows(page).Select(r => r.GetAttribute("data-job")!)));
        Assert.Equal("INVALID_FORMAT", RowOf(page, b.Id).QuerySelector(".kw-cell-step")!.TextContent);
        NavigationManager nav = Context.Services.GetRequiredService<NavigationManager>();
        Assert.Contains($"subject={tag}-be", nav.Uri, StringComparison.Ordinal);
        Assert.DoesNotContain(JobRows(page), r => r.GetAttribute("data-job") == a.Id.ToString());
    }

    [Fact]
    public async Task The_status_in_the_url_filters_on_first_render()
    {
        await AddJobAsync(fixture.Host, j => { j.SubjectId = $"{tag}-done"; j.Status = JobStatus.Completed; j.Percent = 100; });
        Job failed = await AddJobAsync(fixture.Host, j => { j.SubjectId = $"{tag}-bad"; j.Status = JobStatus.Failed; });
        NavigateTo($"/jobs?status=failed&subject={tag}");
        IRenderedComponent<JobsPage> page = Render<JobsPage>();

        page.WaitForAssertion(() => Assert.Equal([failed.Id.ToString()], JobRows(page).Select(r => r.GetAttribute("data-job")!)));
        Assert.Contains("Failed", page.Find("[data-testid=status-filter]").OuterHtml, StringComparison.Ordinal);
    }

    [Fact]
    public async Task No_match_says_so_with_a_way_forward()
    {
        NavigateTo($"/jobs?subject={tag}-nobody");
        IRenderedComponent<JobsPage> page = Render<JobsPage>();
        page.WaitForAssertion(() => Assert.Contains("No jobs match", page.Find("[data-testid=jobs-empty]").TextContent, StringComparison.Ordinal));
        Assert.Equal("/", page.Find("[data-testid=jobs-empty] a").GetAttribute("href"));
        await Task.CompletedTask;
    }

    [Fact]
    public async Task A_live_update_moves_the_progress_of_its_row()
    {
        Job job = await AddJobAsync(fixture.Host, j => { j.SubjectId = $"{tag}-live"; j.Status = JobStatus.Running; j.Percent = 10; j.CurrentStep = "Preprocessing image"; j.CurrentStepIndex = 2; });
        NavigateTo($"/jobs?subject={tag}-live");
        IRenderedComponent<JobsPage> page = Render<JobsPage>();
        page.WaitForAssertion(() => Assert.Single(JobRows(page)));

        fixture.Host.Services.GetRequiredService<JobNotifier>().Publish(
            new JobUpdate(job.Id, JobStatus.Running, 5, 10, "Generating 3D meshes", "running", 0.5, 64.5, 30, null, null, DateTime.UtcNow));

        page.WaitForAssertion(() =>
        {
            IElement row = RowOf(page, job.Id);
            Assert.Equal("64.5", row.QuerySelector(".kw-cell-progress")!.GetAttribute("data-percent"));
            Assert.Equal("Generating 3D meshes", row.QuerySelector(".kw-cell-step")!.TextContent);
        });
    }

    private void NavigateTo(string uri) => Context.Services.GetRequiredService<NavigationManager>().NavigateTo(uri);

    private static List<IElement> JobRows(IRenderedComponent<JobsPage> page) => [.. page.FindAll("a[data-job]")];

    private static IElement RowOf(IRenderedComponent<JobsPage> page, Guid id) =>
        page.Find($"a[data-job='{id}']").Closest("tr") ?? throw new Xunit.Sdk.XunitException($"No row for job {id}.");
}
