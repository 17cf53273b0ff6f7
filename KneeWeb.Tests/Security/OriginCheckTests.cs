using System.Net;
using KneeWeb.Security;
using KneeWeb.Tests.Web;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Connections;
using Xunit;

namespace KneeWeb.Tests.Security;

/// <summary>
/// The hub and the Blazor circuit refuse browser connections from other origins (another port of the
/// same host included) before negotiate or the WebSocket upgrade; scripts without an Origin header and
/// origins listed in KneeWeb:Security:AllowedOrigins still connect.
/// </summary>
[Trait("Category", "host")]
public sealed class OriginCheckTests : IClassFixture<OriginCheckTests.Site>
{
    private const string ProxyOrigin = "https://kneeweb.lab.example";
    private readonly Site site;

    public OriginCheckTests(Site site) => this.site = site;

    public sealed class Site : IDisposable
    {
        public KneeWebFactory Factory { get; } = new(new Dictionary<string, string?> { ["KneeWeb:Security:AllowedOrigins:0"] = ProxyOrigin });

        public void Dispose() => Factory.Dispose();
    }

    [Theory]
    [InlineData("/hubs/jobs/negotiate?negotiateVersion=1")]
    [InlineData("/_blazor/negotiate?negotiateVersion=1")]
    public async Task Negotiate_from_another_origin_is_refused_and_from_the_sites_own_or_an_allowed_one_accepted(string path)
    {
        using HttpClient cookie = await SecuritySite.SignInWithCookieAsync(site.Factory, TestAccounts.AdminName, TestAccounts.AdminPassword);
        Assert.Equal(HttpStatusCode.Forbidden, await NegotiateAsync(cookie, path, "http://localhost:5099"));
        Assert.Equal(HttpStatusCode.Forbidden, await NegotiateAsync(cookie, path, "http://evil.example"));
        Assert.Equal(HttpStatusCode.Forbidden, await NegotiateAsync(cookie, path, "https://localhost"));
        Assert.Equal(HttpStatusCode.Forbidden, await NegotiateAsync(cookie, path, "null"));
        Assert.Equal(HttpStatusCode.OK, await NegotiateAsync(cookie, path, "http://localhost"));
        Assert.Equal(HttpStatusCode.OK, await NegotiateAsync(cookie, path, ProxyOrigin));
        Assert.Equal(HttpStatusCode.OK, await NegotiateAsync(cookie, path, null));
    }

    [Fact]
    public async Task A_script_with_a_token_and_no_origin_still_connects()
    {
        using HttpClient token = site.Factory.CreateClient();
        Assert.Equal(HttpStatusCode.OK, await NegotiateAsync(token, "/hubs/jobs/negotiate?negotiateVersion=1", null));
        // A token does not make another origin acceptable: the check is about the page, not the credential.
        Assert.Equal(HttpStatusCode.Forbidden, await NegotiateAsync(token, "/hubs/jobs/negotiate?negotiateVersion=1", "http://evil.example"));
    }

    [Fact]
    public async Task A_cross_origin_WebSocket_upgrade_is_refused_and_a_same_origin_one_accepted()
    {
        await Assert.ThrowsAnyAsync<Exception>(() => JobHubClient.ConnectAsync(site.Factory.Server, HttpTransportType.WebSockets, headers: Origin("http://localhost:8081")));

        await using JobHubClient hub = await JobHubClient.ConnectAsync(site.Factory.Server, HttpTransportType.WebSockets, headers: Origin("http://localhost"));
        await hub.InvokeAsync("JoinAll");
    }

    [Theory]
    [InlineData("http://site.example", "http", "site.example", true)]
    [InlineData("http://site.example:80", "http", "site.example", true)]
    [InlineData("http://site.example:8080", "http", "site.example", false)]
    [InlineData("https://site.example", "http", "site.example", false)]
    [InlineData("http://site.example", "http", "site.example:8080", false)]
    [InlineData("http://site.example:8080", "http", "site.example:8080", true)]
    [InlineData("HTTP://SITE.example", "http", "site.example", true)]
    [InlineData("http://site.example.evil.example", "http", "site.example", false)]
    [InlineData("http://site.example, http://evil.example", "http", "site.example", false)]
    [InlineData("http://site.example/path", "http", "site.example", false)]
    [InlineData("file://", "http", "site.example", false)]
    [InlineData("null", "http", "site.example", false)]
    [InlineData("", "http", "site.example", false)]
    public void Origins_match_by_scheme_host_and_port(string origin, string scheme, string host, bool allowed)
    {
        var http = new DefaultHttpContext();
        http.Request.Scheme = scheme;
        http.Request.Host = new HostString(host);
        Assert.Equal(allowed, OriginCheck.IsAllowed(origin, http.Request, []));
    }

    [Fact]
    public void Allowed_origins_are_compared_the_same_way()
    {
        var http = new DefaultHttpContext();
        http.Request.Scheme = "http";
        http.Request.Host = new HostString("127.0.0.1:5000");
        Assert.True(OriginCheck.IsAllowed("https://kneeweb.lab.example", http.Request, ["https://kneeweb.lab.example/"]));
        Assert.False(OriginCheck.IsAllowed("https://kneeweb.lab.example:8443", http.Request, ["https://kneeweb.lab.example"]));
        Assert.False(OriginCheck.IsAllowed("http://kneeweb.lab.example", http.Request, ["https://kneeweb.lab.example"]));
    }

    private static async Task<HttpStatusCode> NegotiateAsync(HttpClient client, string path, string? origin)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, path);
        if (origin is not null)
        {
            request.Headers.TryAddWithoutValidation("Origin", origin);
        }

        using HttpResponseMessage response = await client.SendAsync(request);
        return response.StatusCode;
    }

    private static Dictionary<string, string> Origin(string origin) => new(StringComparer.Ordinal) { ["Origin"] = origin };
}
