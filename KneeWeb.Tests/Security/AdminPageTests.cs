using System.Net;
using KneeWeb.Data;
using KneeWeb.Security;
using KneeWeb.Tests.Web;
using Microsoft.AspNetCore.Identity;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace KneeWeb.Tests.Security;

/// <summary>
/// The Admin page for accounts and groups over real HTTP form posts (the page's own antiforgery field
/// and handler names): who may open it, every change audited, lock-out effective on tokens at once.
/// </summary>
[Trait("Category", "host")]
public sealed class AdminPageTests : IClassFixture<AdminPageTests.Site>
{
    private const string Page = "/admin/users";
    private readonly Site site;

    public AdminPageTests(Site site) => this.site = site;

    public sealed class Site : IAsyncLifetime
    {
        public KneeWebFactory Factory { get; } = new();

        public HttpClient Admin { get; private set; } = null!;

        public async Task InitializeAsync() =>
            Admin = await SecuritySite.SignInWithCookieAsync(Factory, TestAccounts.AdminName, TestAccounts.AdminPassword);

        public Task DisposeAsync()
        {
            Admin.Dispose();
            Factory.Dispose();
            return Task.CompletedTask;
        }
    }

    [Fact]
    public async Task Only_Admins_open_the_page_and_it_lists_accounts_with_roles_groups_and_state()
    {
        (_, string token) = await TestAccounts.CreateUserAsync(site.Factory.Services, "mona", Roles.Member, "lab-list");
        string html = await site.Admin.GetStringAsync(Page);
        Assert.Contains("data-user=\"mona\"", html, StringComparison.Ordinal);
        Assert.Contains("lab-list", html, StringComparison.Ordinal);
        Assert.Contains(">Member<", html, StringComparison.Ordinal);
        Assert.Contains(">active<", html, StringComparison.Ordinal);

        // A Member with a token gets a bare 403; in a browser, the 'not allowed' page.
        using HttpClient member = site.Factory.CreateClientWithToken(token);
        Assert.Equal(HttpStatusCode.Forbidden, (await member.GetAsync(Page)).StatusCode);
        using HttpClient memberCookie = await SecuritySite.SignInWithCookieAsync(site.Factory, "mona", "mona-password-2026");
        using HttpResponseMessage refused = await memberCookie.GetAsync(Page);
        Assert.Equal(HttpStatusCode.Redirect, refused.StatusCode);
        Assert.Contains("/account/denied", refused.Headers.Location!.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_form_without_its_antiforgery_field_changes_nothing()
    {
        using HttpResponseMessage response = await SecuritySite.PostPageFormAsync(site.Admin, Page, "create-user",
            [new("NewUser.UserName", "forged"), new("NewUser.Role", Roles.Admin)], antiforgery: "");
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        await using AsyncServiceScope scope = site.Factory.Services.CreateAsyncScope();
        Assert.Null(await scope.ServiceProvider.GetRequiredService<UserManager<IdentityUser>>().FindByNameAsync("forged"));
    }

    [Fact]
    public async Task Creating_an_account_shows_a_generated_password_once_that_signs_in_and_is_audited()
    {
        using HttpResponseMessage response = await SecuritySite.PostPageFormAsync(site.Admin, Page, "create-user",
            [new("NewUser.UserName", "newbie"), new("NewUser.Role", Roles.PI), new("NewUser.Group", Group.DefaultName), new("NewUser.Password", "")]);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        string html = await response.Content.ReadAsStringAsync();
        System.Text.RegularExpressions.Match shown = System.Text.RegularExpressions.Regex.Match(html, "data-testid=\"new-password\">([^<]+)<");
        Assert.True(shown.Success, "The new password is shown once.");
        string password = WebUtility.HtmlDecode(shown.Groups[1].Value);
        Assert.Equal(20, password.Length);
        Assert.DoesNotContain(password, await site.Admin.GetStringAsync(Page), StringComparison.Ordinal);

        using HttpClient newbie = await SecuritySite.SignInWithCookieAsync(site.Factory, "newbie", password);
        Assert.Contains("PI", await newbie.GetStringAsync("/account"), StringComparison.Ordinal);
        List<AuditEvent> audit = await SecuritySite.AuditAsync(site.Factory.Services, AuditActions.UserCreated);
        Assert.Contains(audit, e => e.Target == "user newbie" && e.UserName == TestAccounts.AdminName && e.Detail!.Contains("role PI", StringComparison.Ordinal));

        // The same name again is refused on the page, not with an error page.
        using HttpResponseMessage again = await SecuritySite.PostPageFormAsync(site.Admin, Page, "create-user",
            [new("NewUser.UserName", "newbie"), new("NewUser.Role", Roles.Member)]);
        Assert.Contains("already exists", await again.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Locking_refuses_the_accounts_token_at_once_and_unlocking_restores_it_both_audited()
    {
        (_, string token) = await TestAccounts.CreateUserAsync(site.Factory.Services, "lars", Roles.Member, Group.DefaultName);
        using HttpClient lars = site.Factory.CreateClientWithToken(token);
        Assert.Equal(HttpStatusCode.OK, (await lars.GetAsync("/v1/jobs")).StatusCode);
        using HttpClient larsCookie = await SecuritySite.SignInWithCookieAsync(site.Factory, "lars", "lars-password-2026");

        using (HttpResponseMessage locked = await SecuritySite.PostPageFormAsync(site.Admin, Page, "user-state", [new("StateOp", "lock:lars")]))
        {
            string html = await locked.Content.ReadAsStringAsync();
            Assert.Contains("Locked lars.", html, StringComparison.Ordinal);
        }

        Assert.Equal(HttpStatusCode.Unauthorized, (await lars.GetAsync("/v1/jobs")).StatusCode);
        // The cookie's security stamp changed; signing in again is refused while locked.
        string form = await site.Factory.CreateAnonymousClient().GetStringAsync("/account/signin");
        Assert.NotNull(form);
        await Assert.ThrowsAnyAsync<Exception>(() => SecuritySite.SignInWithCookieAsync(site.Factory, "lars", "lars-password-2026"));

        using (HttpResponseMessage unlocked = await SecuritySite.PostPageFormAsync(site.Admin, Page, "user-state", [new("StateOp", "unlock:lars")]))
        {
            Assert.Contains("Unlocked lars.", await unlocked.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        Assert.Equal(HttpStatusCode.OK, (await lars.GetAsync("/v1/jobs")).StatusCode);
        Assert.Contains(await SecuritySite.AuditAsync(site.Factory.Services, AuditActions.UserLocked), e => e.Target == "user lars");
        Assert.Contains(await SecuritySite.AuditAsync(site.Factory.Services, AuditActions.UserUnlocked), e => e.Target == "user lars");
    }

    [Fact]
    public async Task An_Admin_cannot_lock_or_demote_themselves()
    {
        using HttpResponseMessage response = await SecuritySite.PostPageFormAsync(site.Admin, Page, "user-state", [new("StateOp", "lock:" + TestAccounts.AdminName)]);
        Assert.Contains("cannot lock your own", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        using HttpResponseMessage role = await SecuritySite.PostPageFormAsync(site.Admin, Page, "set-role",
            [new("RoleChange.UserName", TestAccounts.AdminName), new("RoleChange.Role", Roles.Member)]);
        Assert.Contains("cannot change your own role", await role.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.OK, (await site.Admin.GetAsync(Page)).StatusCode);
    }

    [Fact]
    public async Task Role_changes_groups_members_and_leads_take_effect_and_are_audited()
    {
        (IdentityUser rita, string token) = await TestAccounts.CreateUserAsync(site.Factory.Services, "rita", Roles.Member, Group.DefaultName);
        using (HttpResponseMessage r = await SecuritySite.PostPageFormAsync(site.Admin, Page, "set-role", [new("RoleChange.UserName", "rita"), new("RoleChange.Role", Roles.PI)]))
        {
            Assert.Contains("rita is now PI.", await r.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        using (HttpResponseMessage g = await SecuritySite.PostPageFormAsync(site.Admin, Page, "create-group", [new("NewGroup.Name", "knee-oa"), new("NewGroup.Description", "OA cohort")]))
        {
            Assert.Contains("data-group=\"knee-oa\"", await g.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        int groupId;
        await using (AsyncServiceScope scope = site.Factory.Services.CreateAsyncScope())
        {
            AccountAdmin accounts = scope.ServiceProvider.GetRequiredService<AccountAdmin>();
            groupId = (await accounts.ListGroupsAsync()).Single(x => x.Name == "knee-oa").Id;
            Assert.Equal([Roles.PI], (await accounts.ListAsync()).Single(u => u.UserName == "rita").Roles);
        }

        using (HttpResponseMessage m = await SecuritySite.PostPageFormAsync(site.Admin, Page, "add-member",
            [new("Membership.GroupId", groupId.ToString(System.Globalization.CultureInfo.InvariantCulture)), new("Membership.UserName", "rita"), new("Membership.Lead", "true")]))
        {
            Assert.Contains("rita is a lead of knee-oa.", await m.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        AccessSubject subject = await SubjectOfAsync(rita);
        Assert.Contains(groupId, subject.GroupIds);
        Assert.Contains(groupId, subject.LeadGroupIds);

        // Remove: the membership goes, and so does what it let the account see.
        using (HttpResponseMessage removed = await SecuritySite.PostPageFormAsync(site.Admin, Page, "remove-member", [new("RemoveOp", $"{groupId}:{rita.Id}")]))
        {
            Assert.Contains("Removed rita from knee-oa.", await removed.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        Assert.DoesNotContain(groupId, (await SubjectOfAsync(rita)).GroupIds);
        using HttpClient ritaClient = site.Factory.CreateClientWithToken(token);
        string input = Path.Combine(site.Factory.DataRoot, "never-read.nii");
        await File.WriteAllBytesAsync(input, new byte[400]);
        using HttpResponseMessage upload = await ApiClient.PostJobAsync(ritaClient, input, group: "knee-oa");
        Assert.Equal(HttpStatusCode.NotFound, upload.StatusCode);

        List<AuditEvent> audit = await SecuritySite.AuditAsync(site.Factory.Services);
        Assert.Contains(audit, e => e.Action == AuditActions.RoleChanged && e.Target == "user rita" && e.Detail == "role PI");
        Assert.Contains(audit, e => e.Action == AuditActions.GroupCreated && e.Target == "group knee-oa");
        Assert.Contains(audit, e => e.Action == AuditActions.MemberAdded && e.Target == "group knee-oa" && e.Detail == "rita (lead)");
        Assert.Contains(audit, e => e.Action == AuditActions.MemberRemoved && e.Target == "group knee-oa" && e.Detail == "rita");
    }

    private async Task<AccessSubject> SubjectOfAsync(IdentityUser user)
    {
        await using AsyncServiceScope scope = site.Factory.Services.CreateAsyncScope();
        var principal = await scope.ServiceProvider.GetRequiredService<IUserClaimsPrincipalFactory<IdentityUser>>().CreateAsync(user);
        return await site.Factory.Services.GetRequiredService<JobAccess>().SubjectAsync(principal);
    }
}
