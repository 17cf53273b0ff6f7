using Bunit;
using KneeWeb.Components.Account;
using KneeWeb.Components.Admin;
using KneeWeb.Data;
using KneeWeb.Security;
using KneeWeb.Tests.Web;
using Microsoft.AspNetCore.Components;
using Microsoft.AspNetCore.Identity;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace KneeWeb.Tests.Components;

/// <summary>
/// The static (form post) pages: sign-in, account and tokens, audit log, accounts admin, denied. Rendered with
/// the request's HttpContext and the host's real accounts, tokens and audit log; the posts themselves run in
/// the browser tests (AccountBrowserTests), since only a full request can carry them.
/// </summary>
[Trait("Category", "component")]
[Collection(ComponentHostCollection.Name)]
public sealed class AccountPagesTests(ComponentHostFixture fixture) : ComponentTestContext
{
    private IdentityUser admin = null!;

    public override async Task InitializeAsync() => admin = await UseHostAsync(fixture.Host);

    [Fact]
    public void Sign_in_is_a_plain_form_post_with_antiforgery_and_the_return_address()
    {
        Context.Services.GetRequiredService<NavigationManager>().NavigateTo("/account/signin?ReturnUrl=%2Fjobs&Error=failed");
        IRenderedComponent<SignInPage> page = RenderStatic<SignInPage>(new Microsoft.AspNetCore.Http.DefaultHttpContext());
        AngleSharp.Dom.IElement form = page.Find("form");
        Assert.Equal("post", form.GetAttribute("method"));
        Assert.Equal("/account/signin", form.GetAttribute("action"));
        Assert.Equal("false", form.GetAttribute("data-enhance"));
        Assert.Equal("/jobs", form.QuerySelector("input[name=ReturnUrl]")!.GetAttribute("value"));
        Assert.Equal("test-antiforgery-token", form.QuerySelector("input[name=__RequestVerificationToken]")!.GetAttribute("value"));
        Assert.Equal("submit", page.Find("[data-testid=signin-submit]").GetAttribute("type"));
        Assert.Contains("mud-button-filled-primary", page.Find("[data-testid=signin-submit]").ClassName, StringComparison.Ordinal);
        Assert.Equal("The user name or password is not right.", page.Find("[data-testid=signin-error]").TextContent);
    }

    [Fact]
    public void Sign_in_refuses_a_foreign_return_address()
    {
        Context.Services.GetRequiredService<NavigationManager>().NavigateTo("/account/signin?ReturnUrl=https%3A%2F%2Fevil.example%2F");
        IRenderedComponent<SignInPage> page = RenderStatic<SignInPage>(new Microsoft.AspNetCore.Http.DefaultHttpContext());
        Assert.Equal("/", page.Find("input[name=ReturnUrl]").GetAttribute("value"));
        Assert.Empty(page.FindAll("[data-testid=signin-error]"));
    }

    [Fact]
    public async Task The_account_page_lists_roles_groups_and_live_tokens_with_revoke_buttons()
    {
        ApiTokenService tokens = fixture.Host.Services.GetRequiredService<ApiTokenService>();
        (ApiTokenInfo token, _) = await tokens.CreateAsync(admin.Id, "component test script");
        IRenderedComponent<AccountPage> page = RenderStatic<AccountPage>(HttpContextFor(admin, Roles.Admin));

        page.WaitForAssertion(() => Assert.Equal(TestAccounts.AdminName, page.Find("[data-testid=account-user]").TextContent));
        Assert.Contains(Roles.Admin, page.Find("[data-testid=account-roles]").TextContent, StringComparison.Ordinal);
        Assert.Contains(Group.DefaultName, page.Find("[data-testid=account-groups]").TextContent, StringComparison.Ordinal);
        AngleSharp.Dom.IElement row = page.Find($"[data-testid=tokens] tr[data-token-id='{token.Id}']");
        Assert.Contains("component test script", row.TextContent, StringComparison.Ordinal);
        AngleSharp.Dom.IElement revoke = row.QuerySelector("[data-testid=revoke-token]")!;
        Assert.Equal("submit", revoke.GetAttribute("type"));
        Assert.Equal("RevokeId", revoke.GetAttribute("name"));
        Assert.Equal(token.Id.ToString(System.Globalization.CultureInfo.InvariantCulture), revoke.GetAttribute("value"));
        Assert.Equal("submit", page.Find("[data-testid=create-token]").GetAttribute("type"));
    }

    [Fact]
    public async Task The_audit_log_lists_what_happened_and_exports_the_same_filter()
    {
        AuditLog audit = fixture.Host.Services.GetRequiredService<AuditLog>();
        string marker = "component-audit-" + Guid.NewGuid().ToString("N")[..8];
        await audit.RecordAsync(null, "127.0.0.1", AuditActions.Upload, target: marker);
        IRenderedComponent<AuditPage> page = RenderStatic<AuditPage>(HttpContextFor(admin, Roles.Admin, "?action=upload"));

        page.WaitForAssertion(() => Assert.Contains(marker, page.Find("[data-testid=audit-table]").TextContent, StringComparison.Ordinal));
        Assert.All(page.FindAll("[data-testid=audit-table] tbody tr"), r => Assert.Equal(AuditActions.Upload, r.Children[2].TextContent));
        Assert.Equal("/v1/audit.csv?action=upload", page.Find("[data-testid=audit-csv]").GetAttribute("href"));
        Assert.Equal("get", page.Find("[data-testid=audit-filters]").GetAttribute("method"));
    }

    [Fact]
    public void A_bad_audit_filter_is_explained()
    {
        IRenderedComponent<AuditPage> page = RenderStatic<AuditPage>(HttpContextFor(admin, Roles.Admin, "?from=yesterday"));
        page.WaitForAssertion(() => Assert.NotNull(page.Find(".kw-error[role=alert]")));
        Assert.Empty(page.FindAll("[data-testid=audit-table]"));
    }

    [Fact]
    public async Task Accounts_admin_lists_users_with_lock_buttons_but_none_for_oneself()
    {
        string name = "cmp" + Guid.NewGuid().ToString("N")[..6];
        await using (AsyncServiceScope scope = fixture.Host.Services.CreateAsyncScope())
        {
            await scope.ServiceProvider.GetRequiredService<AccountAdmin>().AddUserAsync(name, Roles.Member, groups: [Group.DefaultName]);
        }

        IRenderedComponent<UsersAdminPage> page = RenderStatic<UsersAdminPage>(HttpContextFor(admin, Roles.Admin));

        page.WaitForAssertion(() => Assert.NotNull(page.Find($"[data-testid=users] tr[data-user={name}]")));
        AngleSharp.Dom.IElement row = page.Find($"[data-testid=users] tr[data-user={name}]");
        Assert.Equal(Roles.Member, row.QuerySelector("[data-testid=user-roles]")!.TextContent);
        Assert.Equal("active", row.QuerySelector("[data-testid=user-state]")!.TextContent);
        Assert.Equal($"ask-lock:{name}", row.QuerySelector("[data-testid=lock-user]")!.GetAttribute("value"));
        Assert.Empty(page.Find($"[data-testid=users] tr[data-user={TestAccounts.AdminName}]").QuerySelectorAll("button"));
        // The forms use the same field and button styles as the rest of the site (no raw native controls).
        Assert.All(page.FindAll("form select, form input:not([type=hidden]):not([type=checkbox])"), c => Assert.NotNull(c.Closest("label.kw-field")));
        Assert.All(page.FindAll("form button[type=submit]"), b => Assert.Contains("mud-button-root", b.ClassName, StringComparison.Ordinal));
        Assert.Contains(page.FindAll("[data-testid=role-user] option"), o => o.TextContent == name);
    }

    [Fact]
    public void Every_control_of_the_static_pages_carries_the_shared_theme_classes()
    {
        // These pages have no circuit, so MudBlazor's inputs cannot run there: their native controls take the
        // theme through kw-input / kw-checkbox, and their buttons are MudButtons (plain submit buttons in Mud's classes).
        HashSet<string> fields = [];
        foreach (AngleSharp.Dom.IElement[] controls in new[]
        {
            Controls(RenderStatic<SignInPage>(new Microsoft.AspNetCore.Http.DefaultHttpContext()), "signin-submit"),
            Controls(RenderStatic<AccountPage>(HttpContextFor(admin, Roles.Admin)), "create-token"),
            Controls(RenderStatic<AuditPage>(HttpContextFor(admin, Roles.Admin)), "audit-table"),
            Controls(RenderStatic<UsersAdminPage>(HttpContextFor(admin, Roles.Admin)), "member-lead"),
        })
        {
            Assert.NotEmpty(controls);
            foreach (AngleSharp.Dom.IElement c in controls)
            {
                string expected = c.LocalName == "button" ? "mud-button-root" : c.GetAttribute("type") == "checkbox" ? "kw-checkbox" : "kw-input";
                Assert.True(c.ClassList.Contains(expected), $"<{c.LocalName} name={c.GetAttribute("name")}> lacks {expected}: {c.OuterHtml}");
                if (c.LocalName != "button")
                {
                    fields.Add(c.GetAttribute("name")!);
                }
            }
        }

        // The forms still post the names the endpoints and the security tests read.
        Assert.Superset(new HashSet<string>
        {
            "UserName", "Password", "NewTokenName", "user", "action", "from", "to", "NewUser.UserName", "NewUser.Role", "NewUser.Group",
            "NewUser.Password", "RoleChange.UserName", "RoleChange.Role", "Membership.GroupId", "Membership.UserName", "Membership.Lead",
            "NewGroup.Name", "NewGroup.Description",
        }, fields);
    }

    /// <summary>Every visible native control and button of a rendered static page, once it shows <paramref name="readyTestId"/>.</summary>
    private static AngleSharp.Dom.IElement[] Controls<T>(IRenderedComponent<T> page, string readyTestId)
        where T : IComponent
    {
        page.WaitForAssertion(() => Assert.NotNull(page.Find($"[data-testid={readyTestId}]")));
        return [.. page.FindAll("input:not([type=hidden]), select, textarea, button")];
    }

    [Fact]
    public void The_denied_page_offers_a_way_back()
    {
        IRenderedComponent<DeniedPage> page = Render<DeniedPage>();
        Assert.Equal("Not allowed", page.Find("h1").TextContent);
        Assert.Equal("/", page.Find("a").GetAttribute("href"));
    }
}
