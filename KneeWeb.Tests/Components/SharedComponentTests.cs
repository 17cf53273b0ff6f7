using AngleSharp.Dom;
using Bunit;
using KneeWeb.Components.Shared;
using KneeWeb.Data;
using KneeWeb.Jobs;
using Xunit;

namespace KneeWeb.Tests.Components;

/// <summary>The job components (progress, error panel, timeline, badge) rendered by bUnit with MudBlazor.</summary>
[Trait("Category", "component")]
public sealed class SharedComponentTests : ComponentTestContext
{
    [Fact]
    public async Task Progress_shows_the_step_the_percent_and_an_accessible_bar()
    {
        var doc = Render<JobProgressView>(new Dictionary<string, object?>
        {
            ["Status"] = JobStatus.Running,
            ["Step"] = "Running segmentation",
            ["StepIndex"] = 3,
            ["StepCount"] = 10,
            ["Percent"] = 42.4,
            ["EtaSeconds"] = 75.0,
        });
        Assert.Equal("Step 3 of 10: Running segmentation", doc.QuerySelector("[data-testid=current-step]")!.TextContent);
        Assert.Equal("42%", doc.QuerySelector("[data-testid=percent]")!.TextContent);
        IElement bar = doc.QuerySelector("[data-testid=overall-progress]")!;
        Assert.Equal("progressbar", bar.GetAttribute("role"));
        Assert.Equal("Overall progress", bar.GetAttribute("aria-label"));
        Assert.Equal("42.4", bar.GetAttribute("aria-valuenow"));
        Assert.Contains("mud-progress-linear-color-info", bar.ClassName, StringComparison.Ordinal);
        // MudProgressLinear draws the fill by moving the bar left by what is left to do (whole percent).
        Assert.Contains("translateX(-58%)", bar.QuerySelector(".mud-progress-linear-bar")!.GetAttribute("style"), StringComparison.Ordinal);
        Assert.Equal("About 1 min 15 s left", doc.QuerySelector(".kw-eta")!.TextContent);
        Assert.Equal("Running", doc.QuerySelector("[data-testid=status]")!.Text());
    }

    [Fact]
    public async Task Progress_of_a_queued_or_finished_job_says_so_without_an_eta()
    {
        var queued = Render<JobProgressView>(new Dictionary<string, object?> { ["Status"] = JobStatus.Queued, ["EtaSeconds"] = 5.0 });
        Assert.Equal("Waiting in the queue", queued.QuerySelector("[data-testid=current-step]")!.TextContent);
        Assert.Null(queued.QuerySelector(".kw-eta"));
        var done = Render<JobProgressView>(new Dictionary<string, object?> { ["Status"] = JobStatus.Completed, ["Percent"] = 100.0 });
        Assert.Equal("All 10 steps done", done.QuerySelector("[data-testid=current-step]")!.TextContent);
        Assert.NotNull(done.QuerySelector(".kw-bar-completed"));
    }

    [Fact]
    public void The_reconnect_notice_carries_the_ids_blazor_drives_and_a_line_for_each_state()
    {
        // Blazor finds the notice by these ids and only toggles classes on it; reconnect.js fills the attempt
        // and wires Retry. A banner that announces itself politely, never a modal over the viewers.
        var doc = Render<ReconnectNotice>();
        IElement notice = doc.QuerySelector("#components-reconnect-modal")!;
        Assert.Equal("status", notice.GetAttribute("role"));
        Assert.Equal("polite", notice.GetAttribute("aria-live"));
        Assert.NotNull(notice.QuerySelector("#components-reconnect-attempt"));
        Assert.Equal("Retry", notice.QuerySelector("#components-reconnect-button")!.Text().Trim());
        Assert.Contains("reconnecting", string.Join(" ", notice.QuerySelectorAll("[data-when=show]").Select(e => e.TextContent)), StringComparison.Ordinal);
        Assert.Contains("could not be restored", string.Join(" ", notice.QuerySelectorAll("[data-when=failed]").Select(e => e.TextContent)), StringComparison.Ordinal);
        Assert.Contains("reloading", string.Join(" ", notice.QuerySelectorAll("[data-when=rejected]").Select(e => e.TextContent)), StringComparison.Ordinal);
        Assert.Null(notice.QuerySelector(".mud-overlay"));
    }

    [Fact]
    public async Task The_error_panel_shows_code_message_detail_and_hint_as_an_alert()
    {
        ErrorEntry entry = ErrorCatalog.Get(ErrorCode.DICOM_ERROR);
        var doc = Render<ErrorPanel>(new Dictionary<string, object?>
        {
            ["Code"] = "DICOM_ERROR",
            ["Message"] = entry.Message,
            ["Detail"] = "The zip holds 2 series: 'T1 SAG' (160 images), 'DESS' (160 images).",
            ["Hint"] = entry.Hint,
        });
        IElement panel = doc.QuerySelector("[role=alert]")!;
        Assert.Equal("DICOM_ERROR", panel.GetAttribute("data-code"));
        Assert.Equal(entry.Message, doc.QuerySelector("[data-testid=error-message]")!.TextContent);
        Assert.Contains("'DESS' (160 images)", doc.QuerySelector("[data-testid=error-detail]")!.TextContent, StringComparison.Ordinal);
        Assert.Contains(entry.Hint, doc.QuerySelector("[data-testid=error-hint]")!.TextContent, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_timeline_lists_ten_steps_with_states_durations_and_skip_reasons()
    {
        Guid id = Guid.NewGuid();
        JobEvent[] events =
        [
            new() { JobId = id, Kind = "step-skipped", StepIndex = 1, Step = "Loading segmentation model", Message = "No segmentation model is installed on this server." },
            new() { JobId = id, Kind = "step-started", StepIndex = 2, Step = "Preprocessing image", Message = "" },
            new() { JobId = id, Kind = "step-finished", StepIndex = 2, Step = "Preprocessing image", Message = "", DurationSeconds = 1.25 },
            new() { JobId = id, Kind = "step-started", StepIndex = 3, Step = "Running segmentation", Message = "" },
        ];
        IReadOnlyList<StepRow> rows = StepTimeline.Build(events, null, JobStatus.Running, 3);
        var doc = Render<StepTimelineView>(new Dictionary<string, object?> { ["Steps"] = rows });

        IHtmlCollection<IElement> items = doc.QuerySelectorAll("li.kw-step");
        Assert.Equal(10, items.Length);
        Assert.Equal(["skipped", "finished", "running", "pending"], items.Take(4).Select(i => i.GetAttribute("data-state")));
        Assert.Equal("No segmentation model is installed on this server.", items[0].QuerySelector(".kw-step-note")!.TextContent);
        Assert.Equal("1.3 s", items[1].QuerySelector(".kw-step-duration")!.TextContent);
        Assert.Equal("Complete", items[9].QuerySelector(".kw-step-name")!.TextContent);
    }

    [Fact]
    public void A_retry_restarts_the_timeline_and_a_failure_marks_the_running_step()
    {
        Guid id = Guid.NewGuid();
        JobEvent[] events =
        [
            new() { JobId = id, Kind = "step-started", StepIndex = 2, Message = "" },
            new() { JobId = id, Kind = "step-finished", StepIndex = 2, Message = "", DurationSeconds = 2 },
            new() { JobId = id, Kind = "retry", Message = "Retrying: interrupted by a restart" },
            new() { JobId = id, Kind = "step-started", StepIndex = 2, Message = "" },
        ];
        IReadOnlyList<StepRow> rows = StepTimeline.Build(events, null, JobStatus.Failed, 2);
        Assert.Equal("failed", rows[1].State);
        Assert.Null(rows[1].DurationSeconds);
        IReadOnlyList<StepRow> cancelled = StepTimeline.Build(events, null, JobStatus.Cancelled, 2);
        Assert.Equal("cancelled", cancelled[1].State);
    }
}
