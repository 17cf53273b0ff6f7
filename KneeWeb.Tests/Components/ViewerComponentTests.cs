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
    public async Task The_volume_viewer_enables_its_controls_when_the_js_says_ready_and_reads_the_crosshair()
    {
        IRenderedComponent<VolumeViewer> viewer = Render<VolumeViewer>(new Dictionary<string, object?>
        {
            ["ImageUrl"] = "/v1/jobs/x/input",
            ["ImageName"] = "input.nii.gz",
            ["SegmentationUrl"] = "/v1/jobs/x/artifacts/segmentation.nii.gz",
        });
        Assert.Equal("loading", viewer.Find("[data-testid=volume-viewer]").GetAttribute("data-state"));
        Assert.True(viewer.Find("[data-testid=view-multiplanar]").HasAttribute("disabled"));
        Assert.Equal(LabelLegend.Structures.Count, viewer.FindAll("[data-testid=label-toggles] input[type=checkbox]").Count);
        Assert.Empty(viewer.FindAll("[data-testid=window-min]"));

        await viewer.InvokeAsync(() => viewer.Instance.OnViewerReady(10, 200, 0, 255, null));

        Assert.Equal("ready", viewer.Find("[data-testid=volume-viewer]").GetAttribute("data-state"));
        Assert.False(viewer.Find("[data-testid=view-multiplanar]").HasAttribute("disabled"));
        Assert.Equal("200", viewer.Find("[data-testid=window-max]").GetAttribute("value"));
        Assert.Contains("Intensities 0 to 255", viewer.Find(".kw-window").TextContent, StringComparison.Ordinal);

        await viewer.InvokeAsync(() => viewer.Instance.OnLocation(4, 87.5, [1.04, -2, 30.25]));
        Assert.Equal("4", viewer.Find("[data-testid=crosshair-label]").GetAttribute("data-label"));
        Assert.Equal("Femoral cartilage", viewer.Find("[data-testid=crosshair-label]").TextContent);
        Assert.Contains("(1.0, -2.0, 30.3) mm", viewer.Find("[data-testid=crosshair]").TextContent, StringComparison.Ordinal);

        viewer.Find("[data-testid=view-axial]").Click();
        Assert.Equal("true", viewer.Find("[data-testid=view-axial]").GetAttribute("aria-pressed"));
        Assert.Equal("false", viewer.Find("[data-testid=view-multiplanar]").GetAttribute("aria-pressed"));
    }

    [Fact]
    public async Task The_volume_viewer_shows_a_load_error_in_place_of_the_image()
    {
        IRenderedComponent<VolumeViewer> viewer = Render<VolumeViewer>(new Dictionary<string, object?> { ["ImageUrl"] = "/nowhere", ["ImageName"] = "input.nii.gz" });
        await viewer.InvokeAsync(() => viewer.Instance.OnViewerError("image", "The MRI could not be loaded (404)."));
        Assert.Equal("error", viewer.Find("[data-testid=volume-viewer]").GetAttribute("data-state"));
        Assert.Equal("The MRI could not be loaded (404).", viewer.Find("[data-testid=viewer-error]").TextContent);
        // Without a segmentation there are no label toggles to offer.
        Assert.Empty(viewer.FindAll("[data-testid=label-toggles]"));
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
        Assert.True(viewer.Find("[data-testid=mesh-reset]").HasAttribute("disabled"));
        Assert.Contains("did not run", viewer.Find("[data-testid=nsm-overlay-note]").TextContent, StringComparison.Ordinal);

        await viewer.InvokeAsync(() => viewer.Instance.OnMeshesReady(1));

        Assert.False(viewer.Find("[data-testid=mesh-reset]").HasAttribute("disabled"));
        Assert.Contains("4 mm", viewer.Find("[data-testid=thickness-legend]").TextContent, StringComparison.Ordinal);
        Assert.Contains("2 mm", viewer.Find("[data-testid=thickness-legend]").TextContent, StringComparison.Ordinal);

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
