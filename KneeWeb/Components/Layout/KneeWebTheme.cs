using MudBlazor;

namespace KneeWeb.Components.Layout;

/// <summary>The site's one theme: every page, button and input takes its colours and shapes from here.</summary>
public static class KneeWebTheme
{
    public static MudTheme Theme { get; } = new()
    {
        PaletteLight = new PaletteLight
        {
            Primary = "#3f51b5",
            Secondary = "#00838f",
            Tertiary = "#6a1b9a",
            Info = "#1565c0",
            Success = "#2e7d32",
            Warning = "#ef6c00",
            Error = "#c62828",
            AppbarBackground = "#283593",
            AppbarText = "#ffffff",
            Background = "#f7f8fa",
            Surface = "#ffffff",
            DrawerBackground = "#ffffff",
        },
        PaletteDark = new PaletteDark
        {
            Primary = "#8c9eff",
            Secondary = "#4dd0e1",
            Tertiary = "#ce93d8",
            Info = "#64b5f6",
            Success = "#66bb6a",
            Warning = "#ffa726",
            Error = "#ef5350",
            AppbarBackground = "#1a1d2e",
            AppbarText = "#e8eaf6",
            Background = "#121418",
            Surface = "#1e2128",
            DrawerBackground = "#1a1d23",
        },
        LayoutProperties = new LayoutProperties
        {
            DefaultBorderRadius = "6px",
            DrawerWidthLeft = "220px",
        },
    };
}
