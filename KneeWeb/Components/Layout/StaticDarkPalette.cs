using System.Text;
using Microsoft.AspNetCore.Components;
using Microsoft.AspNetCore.Components.Rendering;
using MudBlazor;

namespace KneeWeb.Components.Layout;

/// <summary>
/// The theme's dark palette as a stylesheet the browser applies by itself when it prefers dark:
/// static pages (sign-in, account, admin) have no circuit through which MudThemeProvider could ask.
/// </summary>
public sealed class StaticDarkPalette : MudThemeProvider
{
    public override Task SetParametersAsync(ParameterView parameters) =>
        base.SetParametersAsync(ParameterView.FromDictionary(new Dictionary<string, object?>
        {
            [nameof(Theme)] = KneeWebTheme.Theme,
            [nameof(IsDarkMode)] = true,
            [nameof(ObserveSystemDarkModeChange)] = false,
        }));

    protected override void BuildRenderTree(RenderTreeBuilder __builder)
    {
        ArgumentNullException.ThrowIfNull(__builder);
        RenderTreeBuilder builder = __builder;
        var css = new StringBuilder();
        GenerateTheme(css);
        builder.OpenElement(0, "style");
        builder.AddAttribute(1, "media", "(prefers-color-scheme: dark)");
        builder.AddAttribute(2, "data-testid", "static-dark-palette");
        builder.AddContent(3, css.ToString());
        builder.CloseElement();
    }
}
