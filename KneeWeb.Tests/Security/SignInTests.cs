using System.Net;
using System.Net.Http.Headers;
using KneeWeb.Data;
using KneeWeb.Security;
using KneeWeb.Tests.Web;
using Microsoft.Extensions.DependencyInjection;
using Xunit;
using Microsoft.AspNetCore.Http.Connections;

namespace KneeWeb.Tests.Security;

/// <summary>Sign-in is required everywhere but /v1/healthz; cookies, tokens and antiforgery behave as documented.</summary>
[Trait("Category", "host")]
public sealed class SignInTests : IClassFixture<SignInTests.Site>
{
    private readonly Site site;

    public SignInTests(Site site) => this.site = site;

    public sealed class Site : IDisposable
    {
        public KneeWebFactory Factory { get; } = new();

        public void Dispose() => Factory.Dispose();
    }

    [Theory]
    [InlineData("/")]
    [InlineData("/jobs")]
    [InlineData("/jobs/3f2504e0-4f89-11d3-9a0c-0305e82c3301")]
    [InlineData("/cohort")]
    [InlineData("/models")]
    [InlineData("/server")]
    [InlineData("/account")]
    [InlineData("/admin/audit")]
    [InlineData("/admin/users")]
    public async Task Pages_send_an_anonymous_visitor_to_the_sign_in_form(string path)
    {
        using HttpClient client = site.Factory.CreateAnonymousClient();
        using HttpResponseMessage response = await client.GetAsync(path);
        Assert.Equal(HttpStatusCode.Redirect, response.StatusCode);
        string location = response.Headers.Location!.ToString();
        Assert.Contains("/account/signin", location, StringComparison.Ordinal);
        Assert.Contains("ReturnUrl=" + Uri.EscapeDataString(path), location, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("GET", "/v1/jobs")]
    [InlineData("GET", "/v1/jobs/3f2504e0-4f89-11d3-9a0c-0305e82c3301")]
    [InlineData("GET", "/v1/jobs/3f2504e0-4f89-11d3-9a0c-0305e82c3301/events")]
    [InlineData("GET", "/v1/jobs/3f2504e0-4f89-11d3-9a0c-0305e82c3301/artifacts")]
    [InlineData("GET", "/v1/jobs/3f2504e0-4f89-11d3-9a0c-0305e82c3301/artifacts/results.zip")]
    [InlineData("GET", "/v1/jobs/3f2504e0-4f89-11d3-9a0c-0305e82c3301/input")]
    [InlineData("DELETE", "/v1/jobs/3f2504e0-4f89-11d3-9a0c-0305e82c3301")]
    [InlineData("POST", "/v1/jobs")]
    [InlineData("GET", "/v1/cohort")]
    [InlineData("GET", "/v1/cohort.csv")]
    [InlineData("GET", "/v1/server/info")]
    [InlineData("GET", "/v1/audit")]
    [InlineData("GET", "/v1/audit.csv")]
    [InlineData("GET", "/v1/account/tokens")]
    [InlineData("POST", "/v1/account/tokens")]
    [InlineData("DELETE", "/v1/account/tokens/1")]
    [InlineData("POST", "/hubs/jobs/negotiate?negotiateVersion=1")]
    [InlineData("GET", "/openapi/v1.json")]
    public async Task The_API_downloads_and_hub_answer_401_without_credentials(string method, string path)
    {
        using HttpClient client = site.Factory.CreateAnonymousClient();
        using var request = new HttpRequestMessage(new HttpMethod(method), path);
        using HttpResponseMessage response = await client.SendAsync(request);
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);

        // A wrong token is no better than none.
        using HttpClient wrong = site.Factory.CreateClientWithToken("kw_not-a-real-token-000000000000000000000");
        using var again = new HttpRequestMessage(new HttpMethod(method), path);
        using HttpResponseMessage refused = await wrong.SendAsync(again);
        Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
    }

    [Fact]
    public async Task Health_is_the_one_endpoint_open_to_all()
    {
        using HttpClient client = site.Factory.CreateAnonymousClient();
        using HttpResponseMessage response = await client.GetAsync("/v1/healthz");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Theory]
    [InlineData(HttpTransportType.WebSockets)]
    [InlineData(HttpTransportType.LongPolling)]
    public async Task The_hub_refuses_a_connection_without_a_token_and_accepts_one_with(HttpTransportType transport)
    {
        Exception refused = await Assert.ThrowsAnyAsync<Exception>(() => JobHubClient.ConnectAsync(site.Factory.Server, transport, token: null));
        Assert.Contains("401", refused.Message, StringComparison.Ordinal);

        await using JobHubClient hub = await JobHubClient.ConnectAsync(site.Factory.Server, transport);
        Assert.False(await hub.InvokeAsync<bool>("Join", Guid.NewGuid().ToString()));
    }

    [Fact]
    public async Task A_revoked_token_stops_working_on_the_next_request()
    {
        (Microsoft.AspNetCore.Identity.IdentityUser user, string token) = await TestAccounts.CreateUserAsync(site.Factory.Services, "revokee", Roles.Member);
        using HttpClient client = site.Factory.CreateClientWithToken(token);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/v1/jobs")).StatusCode);

        ApiTokenService tokens = site.Factory.Services.GetRequiredService<ApiTokenService>();
        ApiTokenInfo info = Assert.Single(await tokens.ListAsync(user.Id));
        Assert.StartsWith(info.Prefix, token, StringComparison.Ordinal);
        Assert.True(await tokens.RevokeAsync(user.Id, info.Id));

        Assert.Equal(HttpStatusCode.Unauthorized, (await client.GetAsync("/v1/jobs")).StatusCode);
        Assert.NotNull((await tokens.ListAsync(user.Id))[0].RevokedUtc);
    }

    [Fact]
    public async Task Tokens_are_stored_hashed()
    {
        (Microsoft.AspNetCore.Identity.IdentityUser user, string token) = await TestAccounts.CreateUserAsync(site.Factory.Services, "hashed", Roles.Member);
        await using var scope = site.Factory.Services.CreateAsyncScope();
        KneeWebDbContext db = scope.ServiceProvider.GetRequiredService<KneeWebDbContext>();
        ApiToken row = Assert.Single(db.ApiTokens.Where(t => t.UserId == user.Id));
        Assert.NotEqual(token, row.Hash);
        Assert.DoesNotContain(token, row.Hash, StringComparison.Ordinal);
        Assert.Equal(ApiTokenService.Hash(token), row.Hash);
        Assert.Equal(64, row.Hash.Length);
    }

    [Fact]
    public async Task A_cookie_signs_in_through_the_form_and_the_layout_names_the_user()
    {
        using HttpClient client = await SecuritySite.SignInWithCookieAsync(site.Factory, TestAccounts.AdminName, TestAccounts.AdminPassword);
        string page = await client.GetStringAsync("/jobs");
        Assert.Contains("data-testid=\"signed-in-user\"", page, StringComparison.Ordinal);
        // The app bar's account link (a MudButton: the name sits inside its label span) names the user.
        Assert.Matches(new System.Text.RegularExpressions.Regex(
            "<a[^>]*data-testid=\"signed-in-user\"[^>]*>(?:(?!</a>).)*>\\s*" + System.Text.RegularExpressions.Regex.Escape(TestAccounts.AdminName) + "\\s*<",
            System.Text.RegularExpressions.RegexOptions.Singleline), page);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/v1/jobs")).StatusCode);
        Assert.Contains(await SecuritySite.AuditAsync(site.Factory.Services, AuditActions.SignIn), e => e.UserName == TestAccounts.AdminName);

        // Signing out needs the form's antiforgery token too, and ends the session.
        using var signOut = new FormUrlEncodedContent(new Dictionary<string, string> { ["__RequestVerificationToken"] = SecuritySite.AntiforgeryOf(page) });
        using HttpResponseMessage response = await client.PostAsync("/account/signout", signOut);
        Assert.Equal(HttpStatusCode.Redirect, response.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await client.GetAsync("/v1/jobs")).StatusCode);
    }

    [Fact]
    public async Task A_wrong_password_is_refused_and_audited()
    {
        using HttpClient client = site.Factory.CreateAnonymousClient();
        string form = await client.GetStringAsync("/account/signin");
        using var content = new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["UserName"] = TestAccounts.AdminName,
            ["Password"] = "not the password",
            ["ReturnUrl"] = "/",
            ["__RequestVerificationToken"] = SecuritySite.AntiforgeryOf(form),
        });
        using HttpResponseMessage response = await client.PostAsync("/account/signin", content);
        Assert.Equal(HttpStatusCode.Redirect, response.StatusCode);
        Assert.Contains("error=failed", response.Headers.Location!.ToString(), StringComparison.Ordinal);
        Assert.False(response.Headers.Contains("Set-Cookie") && response.Headers.GetValues("Set-Cookie").Any(c => c.StartsWith("KneeWeb.Session=", StringComparison.Ordinal) && !c.Contains("expires=Thu, 01 Jan 1970", StringComparison.OrdinalIgnoreCase)));
        Assert.Contains(await SecuritySite.AuditAsync(site.Factory.Services, AuditActions.SignInFailed), e => e.Target == TestAccounts.AdminName);
    }

    [Fact]
    public async Task The_sign_in_form_without_its_antiforgery_token_is_refused_with_400()
    {
        using HttpClient client = site.Factory.CreateAnonymousClient();
        using var content = new FormUrlEncodedContent(new Dictionary<string, string> { ["UserName"] = TestAccounts.AdminName, ["Password"] = TestAccounts.AdminPassword });
        using HttpResponseMessage response = await client.PostAsync("/account/signin", content);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
    }

    [Fact]
    public async Task Cookie_API_calls_that_change_state_need_the_antiforgery_header_and_token_calls_do_not()
    {
        using HttpClient cookie = await SecuritySite.SignInWithCookieAsync(site.Factory, TestAccounts.AdminName, TestAccounts.AdminPassword);
        string missing = $"/v1/jobs/{Guid.NewGuid()}";

        using HttpResponseMessage bare = await cookie.DeleteAsync(missing);
        Assert.Equal(HttpStatusCode.BadRequest, bare.StatusCode);
        Assert.Contains("ANTIFORGERY", await bare.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        using var forged = new HttpRequestMessage(HttpMethod.Delete, missing);
        forged.Headers.Add("RequestVerificationToken", "forged");
        Assert.Equal(HttpStatusCode.BadRequest, (await cookie.SendAsync(forged)).StatusCode);

        string page = await cookie.GetStringAsync("/jobs");
        using var proper = new HttpRequestMessage(HttpMethod.Delete, missing);
        proper.Headers.Add("RequestVerificationToken", SecuritySite.AntiforgeryOf(page));
        Assert.Equal(HttpStatusCode.NotFound, (await cookie.SendAsync(proper)).StatusCode);

        // An upload with the cookie and no header is refused before its body is read.
        using var upload = new MultipartFormDataContent { { new ByteArrayContent(new byte[1024]), "file", "x.nii" } };
        Assert.Equal(HttpStatusCode.BadRequest, (await cookie.PostAsync("/v1/jobs", upload)).StatusCode);

        // A bearer token is never sent by a browser on its own: no antiforgery token needed.
        using HttpClient token = site.Factory.CreateClient();
        Assert.Equal(HttpStatusCode.NotFound, (await token.DeleteAsync(missing)).StatusCode);
    }

    [Fact]
    public async Task Admin_pages_and_the_audit_API_are_for_Admins_only()
    {
        (_, string token) = await TestAccounts.CreateUserAsync(site.Factory.Services, "plain-member", Roles.Member);
        using HttpClient member = site.Factory.CreateClientWithToken(token);
        Assert.Equal(HttpStatusCode.Forbidden, (await member.GetAsync("/v1/audit")).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await member.GetAsync("/v1/audit.csv")).StatusCode);
        using HttpClient memberBrowser = await SecuritySite.SignInWithCookieAsync(site.Factory, "plain-member", "plain-member-password-2026");
        using HttpResponseMessage auditPage = await memberBrowser.GetAsync("/admin/audit");
        Assert.Equal(HttpStatusCode.Redirect, auditPage.StatusCode);
        Assert.Contains("/account/denied", auditPage.Headers.Location!.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("Audit log", await memberBrowser.GetStringAsync("/jobs"), StringComparison.Ordinal);

        using HttpClient admin = site.Factory.CreateClient();
        using HttpResponseMessage csv = await admin.GetAsync("/v1/audit.csv");
        Assert.Equal(HttpStatusCode.OK, csv.StatusCode);
        Assert.Equal("text/csv", csv.Content.Headers.ContentType?.MediaType);
        Assert.StartsWith("id,timestamp_utc,user,action,job_id,target,remote_address,detail", await csv.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("/jobs", "/jobs")]
    [InlineData("//evil.example/x", "/")]
    [InlineData("/\\evil.example", "/")]
    [InlineData("https://evil.example/", "/")]
    [InlineData(null, "/")]
    public void The_return_address_after_sign_in_stays_on_the_site(string? asked, string expected) =>
        Assert.Equal(expected, AccountEndpoints.LocalOrHome(asked));

    [Fact]
    public void Bearer_header_is_read_case_insensitively()
    {
        var http = new Microsoft.AspNetCore.Http.DefaultHttpContext();
        http.Request.Headers.Authorization = new AuthenticationHeaderValue("bearer", "kw_x").ToString();
        Assert.Equal("kw_x", TokenAuthenticationHandler.TokenOf(http.Request));
    }
}
