using System.Text.RegularExpressions;
using Bunit;
using KneeWeb.Components.Pages.Jobs;
using KneeWeb.Data;
using KneeWeb.Jobs;
using Microsoft.AspNetCore.Components;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Xunit;

namespace KneeWeb.Tests.Components;

/// <summary>The job page's live panel: bar, step, elapsed time beside the ETA, the page's actions, and the preview from the notifier.</summary>
[Trait("Category", "component")]
public sealed class JobProgressPanelTests : ComponentTestContext
{
    private readonly JobNotifier notifier = new(NullLogger<JobNotifier>.Instance);

    public JobProgressPanelTests()
    {
        Context.Services.AddSingleton(notifier);
    }

    private static readonly string Png = Convert.ToBase64String([0x89, (byte)'P', (byte)'N', (byte)'G']);

    [Fact]
    public void A_running_job_shows_elapsed_time_beside_the_eta_and_the_page_actions()
    {
        var job = Guid.NewGuid();
        IRenderedComponent<JobProgressPanel> panel = Render<JobProgressPanel>(new Dictionary<string, object?>
        {
            ["JobId"] = job,
            ["Status"] = JobStatus.Running,
            ["Step"] = "Running segmentation",
            ["StepIndex"] = 3,
            ["Percent"] = 41.5,
            ["EtaSeconds"] = 90.0,
            ["StartedUtc"] = DateTime.UtcNow.AddSeconds(-65),
            ["ChildContent"] = (RenderFragment)(b => b.AddMarkupContent(0, "<button data-testid=\"cancel\">Cancel job</button>")),
        });

        Assert.Equal("Step 3 of 10: Running segmentation", panel.Find("[data-testid=current-step]").TextContent);
        Assert.Equal("41.5", panel.Find("[data-testid=overall-progress]").GetAttribute("aria-valuenow"));
        Assert.Equal("About 1 min 30 s left", panel.Find("[data-testid=eta]").TextContent);
        Assert.Matches(new Regex("^1 min \\d+ s elapsed$"), panel.Find("[data-testid=elapsed]").TextContent);
        // Both on one line, elapsed first.
        Assert.Equal(["kw-elapsed", "kw-eta"], panel.Find(".kw-timing").Children.Select(c => c.ClassName));
        Assert.NotNull(panel.Find("[data-testid=cancel]"));
        Assert.Empty(panel.FindAll("[data-testid=preview]"));
    }

    [Fact]
    public void The_elapsed_time_ticks_between_reports()
    {
        IRenderedComponent<JobProgressPanel> panel = Render<JobProgressPanel>(new Dictionary<string, object?>
        {
            ["JobId"] = Guid.NewGuid(),
            ["Status"] = JobStatus.Running,
            ["Step"] = "Running segmentation",
            ["StepIndex"] = 3,
            ["Percent"] = 8.0,
            ["StartedUtc"] = DateTime.UtcNow.AddSeconds(-5.5),
        });
        string first = panel.Find("[data-testid=elapsed]").TextContent;

        // No new parameters, no report: the panel's own clock moves it.
        panel.WaitForAssertion(() => Assert.NotEqual(first, panel.Find("[data-testid=elapsed]").TextContent), TimeSpan.FromMinutes(2));
    }

    [Fact]
    public async Task A_published_preview_appears_named_by_its_plane_and_goes_when_the_job_ends()
    {
        var job = Guid.NewGuid();
        var parameters = new Dictionary<string, object?>
        {
            ["JobId"] = job,
            ["Status"] = JobStatus.Running,
            ["Step"] = "Running segmentation",
            ["StepIndex"] = 3,
            ["Percent"] = 20.0,
        };
        IRenderedComponent<JobProgressPanel> panel = Render<JobProgressPanel>(parameters);
        Assert.Empty(panel.FindAll("[data-testid=preview]"));

        // Another job's preview is not this one's.
        notifier.Publish(new JobPreview(Guid.NewGuid(), "axial", 0, 0.5, Png, DateTime.UtcNow));
        notifier.Publish(new JobPreview(job, "sagittal", 0, 0.25, Png, DateTime.UtcNow));

        panel.WaitForAssertion(() => Assert.Equal("sagittal", panel.Find("[data-testid=preview-plane]").TextContent));
        Assert.Equal("sagittal", panel.Find("[data-testid=preview]").GetAttribute("data-plane"));
        string caption = panel.Find("[data-testid=preview] figcaption").TextContent;
        Assert.Contains("superior up, anterior on the right", caption, StringComparison.Ordinal);
        Assert.Contains("25% of the model's tiles", caption, StringComparison.Ordinal);
        Assert.DoesNotContain("slice 0", caption, StringComparison.Ordinal);
        Assert.Equal($"data:image/png;base64,{Png}", panel.Find("[data-testid=preview] img").GetAttribute("src"));
        Assert.Contains("kw-live-with-preview", panel.Find("[data-testid=progress-panel]").ClassName, StringComparison.Ordinal);

        await panel.InvokeAsync(() => panel.Render(p => p.Add(c => c.Status, JobStatus.Completed).Add(c => c.Percent, 100.0)));
        Assert.Empty(panel.FindAll("[data-testid=preview]"));
        Assert.Empty(panel.FindAll("[data-testid=elapsed]"));
    }

    [Fact]
    public void A_page_opened_mid_run_shows_the_latest_preview_at_once()
    {
        var job = Guid.NewGuid();
        notifier.Publish(new JobPreview(job, "coronal", 0, 0.5, Png, DateTime.UtcNow));
        IRenderedComponent<JobProgressPanel> panel = Render<JobProgressPanel>(new Dictionary<string, object?>
        {
            ["JobId"] = job,
            ["Status"] = JobStatus.Running,
            ["StepIndex"] = 3,
            ["Step"] = "Running segmentation",
        });
        Assert.Equal("coronal", panel.Find("[data-testid=preview-plane]").TextContent);
        Assert.Contains("patient's right on the left", panel.Find("[data-testid=preview] figcaption").TextContent, StringComparison.Ordinal);
    }
}
