using AngleSharp.Dom;
using Bunit;
using KneeWeb.Components.Layout;
using KneeWeb.Security;
using Microsoft.AspNetCore.Components;
using Xunit;

namespace KneeWeb.Tests.Components;

/// <summary>The layout: navigation (drawer with a menu button, or a native menu on static pages), role-dependent items, dark mode.</summary>
[Trait("Category", "component")]
[Collection(ComponentHostCollection.Name)]
public sealed class LayoutTests(ComponentHostFixture fixture) : ComponentTestContext
{
    // The layout renders its own MudPopoverProvider, so these tests render none beside it.
    private static readonly RenderFragment Body = b => b.AddMarkupContent(0, "<h1>Body</h1>");

    [Fact]
    public async Task The_menu_button_opens_and_closes_the_drawer_with_every_destination()
    {
        await UseHostAsync(fixture.Host);
        Context.SetRendererInfo(new RendererInfo("Server", isInteractive: true));
        IRenderedComponent<MainLayout> layout = Render<MainLayout>(new Dictionary<string, object?> { ["Body"] = Body }, popoverProvider: false);

        Assert.Equal(["/", "/jobs", "/cohort", "/models", "/server", "/admin/users", "/admin/audit"],
            layout.FindAll("[data-testid=nav-drawer] a").Select(a => a.GetAttribute("href")));
        Assert.Empty(layout.FindAll("[data-testid=static-nav]"));
        Assert.Equal("Menu", layout.Find("[data-testid=nav-toggle]").GetAttribute("aria-label"));
        // The responsive drawer starts closed on a narrow screen (bUnit's browser reports the smallest breakpoint):
        // the menu button is how a phone reaches Jobs and Cohort.
        for (int i = 0; i < 2; i++)
        {
            bool open = layout.Find("[data-testid=nav-toggle]").GetAttribute("aria-expanded") == "true";
            Assert.Contains(open ? "mud-drawer--open" : "mud-drawer--closed", layout.Find("[data-testid=nav-drawer]").ClassName, StringComparison.Ordinal);
            layout.Find("[data-testid=nav-toggle]").Click();
            layout.WaitForAssertion(() =>
            {
                Assert.Equal(open ? "false" : "true", layout.Find("[data-testid=nav-toggle]").GetAttribute("aria-expanded"));
                Assert.Contains(open ? "mud-drawer--closed" : "mud-drawer--open", layout.Find("[data-testid=nav-drawer]").ClassName, StringComparison.Ordinal);
            });
        }

        Assert.Equal("true", layout.Find("main").GetAttribute("data-interactive"));
        Assert.Equal(Web.TestAccounts.AdminName, layout.Find("[data-testid=signed-in-user]").Text());
        Assert.Equal("/account/signout", layout.Find("form.kw-signout").GetAttribute("action"));
    }

    [Fact]
    public async Task A_member_sees_no_admin_destinations()
    {
        string name = "lay" + Guid.NewGuid().ToString("N")[..6];
        await using (Microsoft.Extensions.DependencyInjection.AsyncServiceScope scope = Microsoft.Extensions.DependencyInjection.ServiceProviderServiceExtensions.CreateAsyncScope(fixture.Host.Services))
        {
            await Microsoft.Extensions.DependencyInjection.ServiceProviderServiceExtensions.GetRequiredService<AccountAdmin>(scope.ServiceProvider).AddUserAsync(name, Roles.Member);
        }

        await UseHostAsync(fixture.Host, name, Roles.Member);
        Context.SetRendererInfo(new RendererInfo("Server", isInteractive: true));
        IRenderedComponent<MainLayout> layout = Render<MainLayout>(new Dictionary<string, object?> { ["Body"] = Body }, popoverProvider: false);
        Assert.Equal(["/", "/jobs", "/cohort", "/models", "/server"], layout.FindAll("[data-testid=nav-drawer] a").Select(a => a.GetAttribute("href")));
    }

    [Fact]
    public async Task The_theme_follows_the_browser_into_dark_mode()
    {
        await UseHostAsync(fixture.Host);
        Context.SetRendererInfo(new RendererInfo("Server", isInteractive: true));
        Context.JSInterop.Setup<bool>("mudThemeProvider.isDarkMode", _ => true).SetResult(true);
        IRenderedComponent<MainLayout> layout = Render<MainLayout>(new Dictionary<string, object?> { ["Body"] = Body }, popoverProvider: false);

        layout.WaitForAssertion(() => Assert.Contains("--mud-palette-background: rgba(18,20,24,1)", layout.Markup, StringComparison.Ordinal));

        // The browser switches back to light: the watcher the layout registered follows it.
        MudBlazor.MudThemeProvider provider = layout.FindComponent<MudBlazor.MudThemeProvider>().Instance;
        await layout.InvokeAsync(() => provider.SystemDarkModeChangedAsync(false));
        layout.WaitForAssertion(() => Assert.Contains("--mud-palette-background: rgba(247,248,250,1)", layout.Markup, StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_static_page_gets_a_native_menu_and_the_dark_palette_as_a_media_stylesheet()
    {
        await UseHostAsync(fixture.Host);
        Context.SetRendererInfo(new RendererInfo("Static", isInteractive: false));
        IRenderedComponent<MainLayout> layout = Render<MainLayout>(new Dictionary<string, object?> { ["Body"] = Body }, popoverProvider: false);

        Assert.Empty(layout.FindAll("[data-testid=nav-toggle]"));
        IElement menu = layout.Find("[data-testid=static-nav]");
        Assert.Equal("details", menu.LocalName);
        Assert.False(menu.HasAttribute("open"));
        Assert.Contains(menu.QuerySelectorAll("a"), a => a.GetAttribute("href") == "/cohort");
        // A wide screen's menu button shows and hides the drawer: it starts open, as the interactive drawer does.
        IElement drawerToggle = layout.Find("[data-testid=static-drawer-toggle]");
        Assert.Equal("details", drawerToggle.LocalName);
        Assert.True(drawerToggle.HasAttribute("open"));
        Assert.All([menu, drawerToggle], d => Assert.Equal("Menu", d.QuerySelector(":scope > summary")!.GetAttribute("aria-label")));
        Assert.Contains("/cohort", layout.Find("[data-testid=nav-drawer]").InnerHtml, StringComparison.Ordinal);
        IElement dark = layout.Find("style[data-testid=static-dark-palette]");
        Assert.Equal("(prefers-color-scheme: dark)", dark.GetAttribute("media"));
        Assert.Contains("--mud-palette-background: rgba(18,20,24,1)", dark.TextContent, StringComparison.Ordinal);
        Assert.Contains("--mud-palette-background: rgba(247,248,250,1)", layout.Markup, StringComparison.Ordinal);
    }

    [Fact]
    public void Signed_out_there_is_no_menu_button_and_no_drawer()
    {
        // Every destination of the menu would only lead back to sign-in. Only static pages (sign-in) are
        // ever shown signed out: the fallback policy requires a user for every interactive page, and the
        // interactive layout renders its drawer without waiting for the authentication state.
        Context.AddAuthorization().SetNotAuthorized();
        Context.SetRendererInfo(new RendererInfo("Static", isInteractive: false));
        IRenderedComponent<MainLayout> layout = Render<MainLayout>(new Dictionary<string, object?> { ["Body"] = Body }, popoverProvider: false);

        Assert.NotNull(layout.Find(".kw-appbar .kw-brand"));
        Assert.Empty(layout.FindAll("[data-testid=nav-toggle], [data-testid=static-nav], [data-testid=static-drawer-toggle], [data-testid=nav-drawer]"));
        Assert.Empty(layout.FindAll("[data-testid=signed-in-user], [data-testid=sign-out]"));
        Assert.Equal("Body", layout.Find("main h1").TextContent);
    }
}
