using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using KneeWeb.Data;
using KneeWeb.Security;
using KneeWeb.Tests.Web;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace KneeWeb.Tests.Security;

/// <summary>`/v1/account/tokens` for scripts (bearer) and pages (cookie + antiforgery), and the throttled "last used" time.</summary>
[Trait("Category", "host")]
public sealed class TokenApiTests : IClassFixture<TokenApiTests.Site>
{
    private readonly Site site;

    public TokenApiTests(Site site) => this.site = site;

    public sealed class Site : IDisposable
    {
        public KneeWebFactory Factory { get; } = new();

        public void Dispose() => Factory.Dispose();
    }

    [Fact]
    public async Task A_script_creates_lists_uses_and_revokes_its_own_tokens()
    {
        (_, string token) = await TestAccounts.CreateUserAsync(site.Factory.Services, "scripter", Roles.Member, Group.DefaultName);
        using HttpClient script = site.Factory.CreateClientWithToken(token);

        using HttpResponseMessage created = await script.PostAsJsonAsync("/v1/account/tokens", new { name = "nightly" });
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        JsonElement body = await created.Content.ReadFromJsonAsync<JsonElement>();
        string secret = body.GetProperty("token").GetString()!;
        long id = body.GetProperty("id").GetInt64();
        Assert.StartsWith(ApiTokenService.SecretPrefix, secret, StringComparison.Ordinal);
        Assert.Equal($"/v1/account/tokens/{id}", created.Headers.Location!.OriginalString);

        string list = await script.GetStringAsync("/v1/account/tokens");
        Assert.Contains("\"nightly\"", list, StringComparison.Ordinal);
        Assert.Contains("\"last_used_utc\"", list, StringComparison.Ordinal);
        Assert.DoesNotContain(secret, list, StringComparison.Ordinal);

        using HttpClient nightly = site.Factory.CreateClientWithToken(secret);
        Assert.Equal(HttpStatusCode.OK, (await nightly.GetAsync("/v1/jobs")).StatusCode);

        // Someone else's token id is answered like a missing one, and stays alive.
        using HttpClient admin = site.Factory.CreateClient();
        Assert.Equal(HttpStatusCode.NotFound, (await admin.DeleteAsync($"/v1/account/tokens/{id}")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await nightly.GetAsync("/v1/jobs")).StatusCode);
        Assert.DoesNotContain("\"nightly\"", await admin.GetStringAsync("/v1/account/tokens"), StringComparison.Ordinal);

        Assert.Equal(HttpStatusCode.NoContent, (await script.DeleteAsync($"/v1/account/tokens/{id}")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await nightly.GetAsync("/v1/jobs")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await script.DeleteAsync($"/v1/account/tokens/{id}")).StatusCode);

        List<AuditEvent> audit = await SecuritySite.AuditAsync(site.Factory.Services);
        Assert.Contains(audit, e => e.Action == AuditActions.TokenCreated && e.UserName == "scripter" && e.Target == $"token {id} (nightly)");
        Assert.Contains(audit, e => e.Action == AuditActions.TokenRevoked && e.UserName == "scripter" && e.Target == $"token {id}");
    }

    [Fact]
    public async Task With_the_sign_in_cookie_a_change_needs_the_antiforgery_header()
    {
        using HttpClient browser = await SecuritySite.SignInWithCookieAsync(site.Factory, TestAccounts.AdminName, TestAccounts.AdminPassword);
        Assert.Equal(HttpStatusCode.OK, (await browser.GetAsync("/v1/account/tokens")).StatusCode);
        using (HttpResponseMessage forged = await browser.PostAsJsonAsync("/v1/account/tokens", new { name = "forged" }))
        {
            Assert.Equal(HttpStatusCode.BadRequest, forged.StatusCode);
        }

        Assert.DoesNotContain("\"forged\"", await browser.GetStringAsync("/v1/account/tokens"), StringComparison.Ordinal);

        string antiforgery = SecuritySite.AntiforgeryOf(await browser.GetStringAsync("/account"));
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/account/tokens") { Content = JsonContent.Create(new { name = "from page" }) };
        request.Headers.Add("RequestVerificationToken", antiforgery);
        using HttpResponseMessage created = await browser.SendAsync(request);
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        long id = (await created.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetInt64();

        using (HttpResponseMessage forgedDelete = await browser.DeleteAsync($"/v1/account/tokens/{id}"))
        {
            Assert.Equal(HttpStatusCode.BadRequest, forgedDelete.StatusCode);
        }

        using var delete = new HttpRequestMessage(HttpMethod.Delete, $"/v1/account/tokens/{id}");
        delete.Headers.Add("RequestVerificationToken", antiforgery);
        Assert.Equal(HttpStatusCode.NoContent, (await browser.SendAsync(delete)).StatusCode);
    }

    [Fact]
    public async Task Last_used_is_written_on_first_use_then_at_most_once_a_minute_and_shown_on_the_account_page()
    {
        (_, string token) = await TestAccounts.CreateUserAsync(site.Factory.Services, "poller", Roles.Member, Group.DefaultName);
        Assert.Null(await LastUsedAsync("poller"));
        using HttpClient poller = site.Factory.CreateClientWithToken(token);
        DateTime before = DateTime.UtcNow;
        Assert.Equal(HttpStatusCode.OK, (await poller.GetAsync("/v1/jobs")).StatusCode);
        DateTime first = (await LastUsedAsync("poller")) ?? throw new Xunit.Sdk.XunitException("The first use was not recorded.");
        Assert.InRange(first, before.AddSeconds(-1), DateTime.UtcNow.AddSeconds(1));

        for (int i = 0; i < 5; i++)
        {
            Assert.Equal(HttpStatusCode.OK, (await poller.GetAsync("/v1/jobs")).StatusCode);
        }

        Assert.Equal(first, await LastUsedAsync("poller"));

        // The account page (here opened with the token itself) shows it.
        string page = await poller.GetStringAsync("/account");
        Assert.Contains(first.ToString("yyyy-MM-dd HH:mm", System.Globalization.CultureInfo.InvariantCulture), page, StringComparison.Ordinal);
        Assert.DoesNotContain(">never<", page, StringComparison.Ordinal);
        JsonElement listed = (await poller.GetFromJsonAsync<JsonElement>("/v1/account/tokens"))[0];
        Assert.Equal(first, listed.GetProperty("last_used_utc").GetDateTime().ToUniversalTime());
    }

    private async Task<DateTime?> LastUsedAsync(string userName)
    {
        await using AsyncServiceScope scope = site.Factory.Services.CreateAsyncScope();
        string userId = (await scope.ServiceProvider.GetRequiredService<AccountAdmin>().FindAsync(userName)).Id;
        await using KneeWebDbContext db = await scope.ServiceProvider.GetRequiredService<IDbContextFactory<KneeWebDbContext>>().CreateDbContextAsync();
        return await db.ApiTokens.Where(t => t.UserId == userId).Select(t => t.LastUsedUtc).SingleAsync();
    }
}
