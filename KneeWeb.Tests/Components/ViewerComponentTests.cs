using Bunit;
using KneeWeb.Components.Pages.Results;
using KneeWeb.Components.Shared;
using Xunit;

namespace KneeWeb.Tests.Components;

/// <summary>
/// The NiiVue viewers' Blazor side: states, controls and what the JS reports back (the WebGL drawing itself is
/// checked in the browser tests). JS interop is the fake edge here: calls succeed and return nothing.
/// </summary>
[Trait("Category", "component")]
public sealed class ViewerComponentTests : ComponentTestContext
{
    [Fact]
    public async Task The_volume_viewer_keeps_its_controls_live_while_loading_and_follows_the_js_when_ready()
    {
        IRenderedComponent<VolumeViewer> viewer = Render<VolumeViewer>(new Dictionary<string, object?>
        {
            ["ImageUrl"] = "/v1/jobs/x/input",
            ["ImageName"] = "input.nii.gz",
            ["SegmentationUrl"] = "/v1/jobs/x/artifacts/segmentation.nii.gz",
        });
        Assert.Equal("loading", viewer.Find("[data-testid=volume-viewer]").GetAttribute("data-state"));
        // The JS module hears the controls and applies them once loaded: they are never disabled, so a click while
        // loading (or while the live connection is down) is not lost.
        Assert.False(viewer.Find("[data-testid=view-multiplanar]").HasAttribute("disabled"));
        Assert.Equal("axial", viewer.Find("[data-testid=view-axial]").GetAttribute("data-view-mode"));
        Assert.Equal("reset", viewer.Find("[data-testid=view-reset]").GetAttribute("data-view-action"));
        Assert.Equal(LabelLegend.Structures.Count, viewer.FindAll("[data-testid=label-toggles] input[type=checkbox]").Count);
        Assert.All(viewer.FindAll("[data-testid=label-toggles] input[type=checkbox]"), c => Assert.True(c.HasAttribute("data-label-value")));
        Assert.Equal("range", viewer.Find("[data-testid=opacity]").GetAttribute("type"));
        Assert.True(viewer.Find("[data-testid=opacity]").HasAttribute("data-viewer-opacity"));
        Assert.Empty(viewer.FindAll("[data-testid=window-min]"));
        // The status element belongs to the JS module (progress, failure, Retry): Blazor renders it empty.
        Assert.Empty(viewer.Find("[data-testid=viewer-status]").Children);
        // MudBlazor controls, no native ones of Blazor's own.
        Assert.Empty(viewer.FindAll("[data-testid=volume-viewer] input:not(.mud-checkbox-input):not(.mud-slider-input):not(.mud-input-root)"));

        // Settings changed in the browser while the circuit was down come back with "ready".
        await viewer.InvokeAsync(() => viewer.Instance.OnViewerReady(10, 200, 0, 255, null, new ViewerSettings("coronal", [1], 0.75)));

        Assert.Equal("ready", viewer.Find("[data-testid=volume-viewer]").GetAttribute("data-state"));
        Assert.Equal("200", viewer.Find("input[data-testid=window-max]").GetAttribute("value"));
        Assert.Equal("max", viewer.Find("input[data-testid=window-max]").GetAttribute("data-window"));
        Assert.Contains("Intensities 0 to 255", viewer.Find(".kw-window").TextContent, StringComparison.Ordinal);
        Assert.Equal("true", viewer.Find("[data-testid=view-coronal]").GetAttribute("aria-pressed"));
        Assert.False(viewer.Find("[data-testid=label-toggle-1]").HasAttribute("checked"));
        Assert.True(viewer.Find("[data-testid=label-toggle-2]").HasAttribute("checked"));
        Assert.Equal("75%", viewer.Find("[data-testid=opacity-value]").TextContent);

        await viewer.InvokeAsync(() => viewer.Instance.OnLocation(4, 87.5, [1.04, -2, 30.25]));
        Assert.Equal("4", viewer.Find("[data-testid=crosshair-label]").GetAttribute("data-label"));
        Assert.Equal("Femoral cartilage", viewer.Find("[data-testid=crosshair-label]").TextContent);
        Assert.Contains("(1.0, -2.0, 30.3) mm", viewer.Find("[data-testid=crosshair]").TextContent, StringComparison.Ordinal);

        viewer.Find("[data-testid=view-axial]").Click();
        Assert.Equal("true", viewer.Find("[data-testid=view-axial]").GetAttribute("aria-pressed"));
        Assert.Equal("false", viewer.Find("[data-testid=view-coronal]").GetAttribute("aria-pressed"));

        // A change the module made while the circuit was down catches up when its call lands.
        await viewer.InvokeAsync(() => viewer.Instance.OnViewerSettings(new ViewerSettings("render", [], 0.2)));
        Assert.Equal("true", viewer.Find("[data-testid=view-render]").GetAttribute("aria-pressed"));
        Assert.True(viewer.Find("[data-testid=label-toggle-1]").HasAttribute("checked"));
        Assert.Equal("20%", viewer.Find("[data-testid=opacity-value]").TextContent);
    }

    [Fact]
    public async Task The_volume_viewer_marks_a_failed_load_and_leaves_its_reason_and_retry_to_the_module()
    {
        IRenderedComponent<VolumeViewer> viewer = Render<VolumeViewer>(new Dictionary<string, object?> { ["ImageUrl"] = "/nowhere", ["ImageName"] = "input.nii.gz" });
        await viewer.InvokeAsync(() => viewer.Instance.OnViewerError("image", "The MRI could not be downloaded (HTTP 404)."));
        Assert.Equal("error", viewer.Find("[data-testid=volume-viewer]").GetAttribute("data-state"));
        // The sentence and its Retry are drawn by the module into its status element, which works without the circuit.
        Assert.Empty(viewer.Find("[data-testid=viewer-status]").Children);
        // Without a segmentation there are no label toggles to offer.
        Assert.Empty(viewer.FindAll("[data-testid=label-toggles]"));

        // A Retry that then succeeds.
        await viewer.InvokeAsync(() => viewer.Instance.OnViewerReady(0, 1, 0, 1, null, null));
        Assert.Equal("ready", viewer.Find("[data-testid=volume-viewer]").GetAttribute("data-state"));
    }

    [Fact]
    public async Task The_mesh_viewer_lists_structures_and_shows_the_thickness_legend_once_meshes_are_coloured()
    {
        IRenderedComponent<MeshViewer> viewer = Render<MeshViewer>(new Dictionary<string, object?>
        {
            ["JobId"] = Guid.NewGuid(),
            ["Meshes"] = (string[])["meshes/femur.vtk", "meshes/femoral_cartilage.vtk"],
            ["ThicknessMaxMm"] = 4.0,
            ["NsmNote"] = "the neural shape model did not run in this job",
        });
        Assert.Equal(["Femur", "Femoral cartilage"], viewer.FindAll(".kw-mesh-list li").Select(li => li.Text()));
        // Cartilage starts hidden: it covers the bone's thickness colours.
        Assert.True(viewer.Find("input[data-testid=mesh-toggle-0]").HasAttribute("checked"));
        Assert.False(viewer.Find("input[data-testid=mesh-toggle-1]").HasAttribute("checked"));
        Assert.True(viewer.Find("[data-testid=mesh-reset]").HasAttribute("disabled"));
        Assert.Contains("did not run", viewer.Find("[data-testid=nsm-overlay-note]").TextContent, StringComparison.Ordinal);

        await viewer.InvokeAsync(() => viewer.Instance.OnMeshesReady(1));

        Assert.False(viewer.Find("[data-testid=mesh-reset]").HasAttribute("disabled"));
        Assert.Contains("4 mm", viewer.Find("[data-testid=thickness-legend]").TextContent, StringComparison.Ordinal);
        Assert.Contains("2 mm", viewer.Find("[data-testid=thickness-legend]").TextContent, StringComparison.Ordinal);
        Assert.NotNull(viewer.Find("[data-testid=thickness-legend] .kw-legend-viridis"));
        Assert.True(viewer.Find("input[data-testid=thickness-toggle]").HasAttribute("checked"));
        Assert.Empty(viewer.FindAll("[data-testid=mesh-viewer] input:not(.mud-checkbox-input)"));

        await viewer.InvokeAsync(() => viewer.Instance.OnMeshesError("The femur mesh could not be read."));
        Assert.Equal("The femur mesh could not be read.", viewer.Find("[data-testid=mesh-error]").TextContent);
    }

    [Fact]
    public void The_mesh_viewer_without_meshes_says_so_and_names_what_is_missing()
    {
        IRenderedComponent<MeshViewer> viewer = Render<MeshViewer>(new Dictionary<string, object?>
        {
            ["JobId"] = Guid.NewGuid(),
            ["Missing"] = (string[])["meshes/tibia.vtk"],
        });
        Assert.NotNull(viewer.Find("[data-testid=no-meshes]"));
        Assert.Contains("meshes/tibia.vtk", viewer.Find("[data-testid=meshes-missing]").TextContent, StringComparison.Ordinal);
    }

    [Fact]
    public void Small_parts_status_badge_and_not_computed()
    {
        IRenderedComponent<StatusBadge> badge = Render<StatusBadge>(new Dictionary<string, object?> { ["Status"] = KneeWeb.Data.JobStatus.Completed });
        Assert.Equal("Completed", badge.Find("[data-testid=status]").Text());
        Assert.Contains("mud-chip-color-success", badge.Find("[data-testid=status]").ClassName, StringComparison.Ordinal);
        IRenderedComponent<NotComputed> none = Render<NotComputed>(new Dictionary<string, object?> { ["What"] = "Volumes", ["Why"] = "no segmentation ran" });
        Assert.Equal("Volumes: not computed in this job (no segmentation ran).", none.Find("[data-testid=not-computed]").TextContent);
    }
}
