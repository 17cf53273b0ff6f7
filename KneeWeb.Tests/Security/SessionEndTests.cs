using System.Net;
using KneeWeb.Data;
using KneeWeb.Security;
using KneeWeb.Tests.Web;
using Microsoft.AspNetCore.Identity;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.AspNetCore.Http.Connections;
using Xunit;

namespace KneeWeb.Tests.Security;

/// <summary>
/// Sessions end when they should: a copy of a cookie taken before sign-out (or before a lock, a role
/// or password change) is refused right after it, and open hub connections close when their token is
/// revoked or their account locked, without waiting for a periodic re-check. The re-check interval
/// is set far longer than any test here, so only the immediate path can make them pass.
/// </summary>
[Trait("Category", "host")]
public sealed class SessionEndTests : IClassFixture<SessionEndTests.Site>
{
    private static readonly TimeSpan Hang = TimeSpan.FromMinutes(2);
    private readonly Site site;

    public SessionEndTests(Site site) => this.site = site;

    public sealed class Site : IDisposable
    {
        public KneeWebFactory Factory { get; } = new(new Dictionary<string, string?> { ["KneeWeb:Security:SessionRecheckSeconds"] = "3600" });

        public void Dispose() => Factory.Dispose();
    }

    [Fact]
    public async Task A_cookie_copied_before_sign_out_is_refused_after_it()
    {
        await NewUserAsync("sofia", "sofia-password-2026");
        (HttpClient browser, string cookie) = await SecuritySite.SignInCapturingCookieAsync(site.Factory, "sofia", "sofia-password-2026");
        using HttpClient other = await SecuritySite.SignInWithCookieAsync(site.Factory, "sofia", "sofia-password-2026");
        string page = await browser.GetStringAsync("/jobs");
        using HttpClient copy = CopyOfCookie(cookie);
        Assert.Equal(HttpStatusCode.OK, (await copy.GetAsync("/v1/jobs")).StatusCode);

        using var signOut = new FormUrlEncodedContent(new Dictionary<string, string> { ["__RequestVerificationToken"] = SecuritySite.AntiforgeryOf(page) });
        Assert.Equal(HttpStatusCode.Redirect, (await browser.PostAsync("/account/signout", signOut)).StatusCode);
        browser.Dispose();

        Assert.Equal(HttpStatusCode.Unauthorized, (await copy.GetAsync("/v1/jobs")).StatusCode);
        // Every browser session of the account ends, not only the one that signed out.
        Assert.Equal(HttpStatusCode.Unauthorized, (await other.GetAsync("/v1/jobs")).StatusCode);
        using (HttpResponseMessage pageAfter = await copy.GetAsync("/jobs"))
        {
            Assert.Equal(HttpStatusCode.Redirect, pageAfter.StatusCode);
            Assert.Contains("/account/signin", pageAfter.Headers.Location!.ToString(), StringComparison.Ordinal);
        }

        // Signing in again works.
        using HttpClient again = await SecuritySite.SignInWithCookieAsync(site.Factory, "sofia", "sofia-password-2026");
        Assert.Equal(HttpStatusCode.OK, (await again.GetAsync("/v1/jobs")).StatusCode);
    }

    [Theory]
    [InlineData("lock")]
    [InlineData("role")]
    [InlineData("password")]
    public async Task An_account_change_refuses_its_existing_cookies_at_once(string change)
    {
        string name = "change-" + change;
        await NewUserAsync(name, name + "-password-2026");
        using HttpClient browser = await SecuritySite.SignInWithCookieAsync(site.Factory, name, name + "-password-2026");
        Assert.Equal(HttpStatusCode.OK, (await browser.GetAsync("/v1/jobs")).StatusCode);

        await using (AsyncServiceScope scope = site.Factory.Services.CreateAsyncScope())
        {
            AccountAdmin accounts = scope.ServiceProvider.GetRequiredService<AccountAdmin>();
            switch (change)
            {
                case "lock":
                    await accounts.LockAsync(name);
                    break;
                case "role":
                    await accounts.SetRoleAsync(name, Roles.PI);
                    break;
                default:
                    await accounts.SetPasswordAsync(name, name + "-new-password-2026");
                    break;
            }
        }

        Assert.Equal(HttpStatusCode.Unauthorized, (await browser.GetAsync("/v1/jobs")).StatusCode);
    }

    [Fact]
    public async Task An_open_hub_connection_closes_when_its_token_is_revoked_and_another_token_stays_open()
    {
        (IdentityUser user, string token) = await TestAccounts.CreateUserAsync(site.Factory.Services, "rita", Roles.Member);
        ApiTokenService tokens = site.Factory.Services.GetRequiredService<ApiTokenService>();
        (ApiTokenInfo second, string secondSecret) = await tokens.CreateAsync(user.Id, "second");
        await using JobHubClient revoked = await JobHubClient.ConnectAsync(site.Factory.Server, HttpTransportType.WebSockets, token);
        await using JobHubClient kept = await JobHubClient.ConnectAsync(site.Factory.Server, HttpTransportType.LongPolling, secondSecret);
        await revoked.InvokeAsync("JoinAll");
        await kept.InvokeAsync("JoinAll");

        long firstId = (await tokens.ListAsync(user.Id)).Single(t => t.Id != second.Id).Id;
        Assert.True(await tokens.RevokeAsync(user.Id, firstId));

        await revoked.Closed.WaitAsync(Hang);
        Assert.False(kept.Closed.IsCompleted);
        await kept.InvokeAsync("JoinAll");
    }

    [Fact]
    public async Task Locking_an_account_closes_its_hub_connections_and_signing_out_closes_its_cookie_ones()
    {
        (IdentityUser user, string token) = await TestAccounts.CreateUserAsync(site.Factory.Services, "lotte", Roles.Member);
        await using (AsyncServiceScope scope = site.Factory.Services.CreateAsyncScope())
        {
            await scope.ServiceProvider.GetRequiredService<AccountAdmin>().SetPasswordAsync("lotte", "lotte-password-2026");
        }

        (HttpClient browser, string cookie) = await SecuritySite.SignInCapturingCookieAsync(site.Factory, "lotte", "lotte-password-2026");
        using HttpClient signedIn = browser;
        string page = await browser.GetStringAsync("/jobs");
        await using JobHubClient byCookie = await JobHubClient.ConnectAsync(site.Factory.Server, HttpTransportType.WebSockets, token: null, headers: new Dictionary<string, string> { ["Cookie"] = cookie });
        await using JobHubClient byToken = await JobHubClient.ConnectAsync(site.Factory.Server, HttpTransportType.WebSockets, token);
        await byCookie.InvokeAsync("JoinAll");

        // Signing out ends browser sessions only: the script's token connection stays.
        using var signOut = new FormUrlEncodedContent(new Dictionary<string, string> { ["__RequestVerificationToken"] = SecuritySite.AntiforgeryOf(page) });
        Assert.Equal(HttpStatusCode.Redirect, (await browser.PostAsync("/account/signout", signOut)).StatusCode);
        await byCookie.Closed.WaitAsync(Hang);
        Assert.False(byToken.Closed.IsCompleted);

        // A lock ends everything.
        await using (AsyncServiceScope scope = site.Factory.Services.CreateAsyncScope())
        {
            await scope.ServiceProvider.GetRequiredService<AccountAdmin>().LockAsync("lotte");
        }

        await byToken.Closed.WaitAsync(Hang);
        Assert.Equal(0, site.Factory.Services.GetRequiredService<SessionConnections>().Count(user.Id));
    }

    [Fact]
    public async Task A_lock_made_by_another_process_closes_connections_at_the_next_sweep()
    {
        (IdentityUser user, string token) = await TestAccounts.CreateUserAsync(site.Factory.Services, "cleo", Roles.Member);
        await using JobHubClient hub = await JobHubClient.ConnectAsync(site.Factory.Server, HttpTransportType.WebSockets, token);
        await hub.InvokeAsync("JoinAll");

        // What `KneeWeb users lock` does from the command line: the database changes, nobody here is told.
        await using (AccountsHost cli = await AccountsHost.OpenAsync(site.Factory.DataRoot))
        {
            await cli.Accounts.LockAsync("cleo");
        }

        Assert.False(hub.Closed.IsCompleted);
        SessionConnections connections = site.Factory.Services.GetRequiredService<SessionConnections>();
        site.Factory.Services.GetRequiredService<AccountStamps>().Forget(user.Id);
        await connections.SweepAsync(CancellationToken.None);
        await hub.Closed.WaitAsync(Hang);
    }

    private async Task NewUserAsync(string name, string password)
    {
        await using AsyncServiceScope scope = site.Factory.Services.CreateAsyncScope();
        await scope.ServiceProvider.GetRequiredService<AccountAdmin>().AddUserAsync(name, Roles.Member, password);
    }

    private HttpClient CopyOfCookie(string cookie)
    {
        HttpClient copy = site.Factory.CreateAnonymousClient();
        copy.DefaultRequestHeaders.Add("Cookie", cookie);
        return copy;
    }
}
