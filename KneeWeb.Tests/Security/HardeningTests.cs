using System.Net;
using System.Security.Claims;
using KneeWeb.Data;
using KneeWeb.Jobs;
using KneeWeb.Security;
using KneeWeb.Tests.Web;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace KneeWeb.Tests.Security;

/// <summary>Security headers, no caching of private answers, safe return addresses, CSV cells and audit rows.</summary>
[Trait("Category", "host")]
public sealed class HardeningTests : IClassFixture<HardeningTests.Site>
{
    private readonly Site site;

    public HardeningTests(Site site) => this.site = site;

    public sealed class Site : IDisposable
    {
        public KneeWebFactory Factory { get; } = new();

        public void Dispose() => Factory.Dispose();
    }

    [Theory]
    [InlineData("/account/signin")]
    [InlineData("/v1/healthz")]
    [InlineData("/v1/jobs")]
    [InlineData("/jobs")]
    [InlineData("/css/site.css")]
    public async Task Every_response_carries_the_security_headers(string path)
    {
        using HttpClient client = site.Factory.CreateClient();
        using HttpResponseMessage response = await client.GetAsync(path);
        Assert.True(response.IsSuccessStatusCode || response.StatusCode == HttpStatusCode.Redirect, $"{path}: {response.StatusCode}");
        Assert.Equal("nosniff", Single(response, "X-Content-Type-Options"));
        Assert.Equal("DENY", Single(response, "X-Frame-Options"));
        Assert.Equal("same-origin", Single(response, "Referrer-Policy"));
        string csp = Single(response, "Content-Security-Policy");
        Assert.Contains("script-src 'self'", csp, StringComparison.Ordinal);
        Assert.Contains("frame-ancestors 'none'", csp, StringComparison.Ordinal);
        Assert.Contains("object-src 'none'", csp, StringComparison.Ordinal);
        Assert.DoesNotContain("'unsafe-eval'", csp, StringComparison.Ordinal);
        Assert.DoesNotContain("script-src 'self' 'unsafe-inline'", csp, StringComparison.Ordinal);
    }

    [Fact]
    public async Task API_answers_are_not_stored_by_caches()
    {
        using HttpClient client = site.Factory.CreateClient();
        using HttpResponseMessage jobs = await client.GetAsync("/v1/jobs");
        Assert.True(jobs.Headers.CacheControl?.NoStore, "GET /v1/jobs must say Cache-Control: no-store.");
        using HttpResponseMessage missing = await client.GetAsync($"/v1/jobs/{Guid.NewGuid()}");
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        Assert.True(missing.Headers.CacheControl?.NoStore, "A problem answer must say Cache-Control: no-store.");
    }

    [Theory]
    [InlineData("/\t/evil.com")]
    [InlineData("/\n/evil.com")]
    [InlineData("/\r\n/evil.com")]
    [InlineData("/%09/evil.com")]
    [InlineData("//evil.com")]
    [InlineData("/\\evil.com")]
    [InlineData("https://evil.com")]
    [InlineData("/jobs\\..\\..\\evil")]
    public async Task A_hostile_return_address_signs_in_to_the_home_page_not_a_500(string returnUrl)
    {
        using HttpClient client = site.Factory.CreateAnonymousClient();
        using HttpResponseMessage response = await SignInThrottleTests.PostSignInAsync(client, TestAccounts.AdminName, TestAccounts.AdminPassword, returnUrl);
        Assert.Equal(HttpStatusCode.Redirect, response.StatusCode);
        string location = response.Headers.Location!.OriginalString;
        Assert.True(location == "/" || (returnUrl == "/%09/evil.com" && location == returnUrl), $"Redirected to {location}");
    }

    [Theory]
    [InlineData("/", "/")]
    [InlineData("/jobs?status=Failed", "/jobs?status=Failed")]
    [InlineData("/\t/evil.com", "/")]
    [InlineData("/\u0000", "/")]
    [InlineData("/\u007f", "/")]
    [InlineData("/a\\b", "/")]
    [InlineData("", "/")]
    [InlineData(null, "/")]
    public void Return_addresses_are_local_paths_without_control_characters(string? given, string expected) =>
        Assert.Equal(expected, AccountEndpoints.LocalOrHome(given));

    [Theory]
    [InlineData("=1+1", "'=1+1")]
    [InlineData("+1", "'+1")]
    [InlineData("-1", "'-1")]
    [InlineData("@SUM(A1)", "'@SUM(A1)")]
    [InlineData("\t=1+1", "'\t=1+1")]
    [InlineData("\r=1+1", "\"'\r=1+1\"")]
    [InlineData("\n=1+1", "\"'\n=1+1\"")]
    [InlineData("knee 1", "knee 1")]
    [InlineData("a,b", "\"a,b\"")]
    [InlineData("say \"hi\"", "\"say \"\"hi\"\"\"")]
    public void CSV_cells_never_start_a_formula(string value, string written) =>
        Assert.Equal(written, CsvText.Field(value));

    [Fact]
    public async Task A_viewers_fetches_are_one_view_and_a_download_is_a_download()
    {
        AuditLog audit = site.Factory.Services.GetRequiredService<AuditLog>();
        (Microsoft.AspNetCore.Identity.IdentityUser user, _) = await TestAccounts.CreateUserAsync(site.Factory.Services, "vera", Roles.Member);
        var principal = new ClaimsPrincipal(new ClaimsIdentity([new Claim(ClaimTypes.NameIdentifier, user.Id), new Claim(ClaimTypes.Name, "vera")], "test"));
        Guid job = Guid.NewGuid();

        // What Chromium sends on the viewers' fetch() calls: browser-set headers a page cannot forge.
        foreach (string file in new[] { "input", "segmentation.nii.gz", "meshes/femur.vtk", "meshes/tibia.vtk", "segmentation.nii.gz" })
        {
            DefaultHttpContext fetch = Request(principal);
            fetch.Request.Headers["Sec-Fetch-Site"] = "same-origin";
            fetch.Request.Headers["Sec-Fetch-Mode"] = "cors";
            fetch.Request.Headers["Sec-Fetch-Dest"] = "empty";
            await audit.RecordFetchAsync(fetch, job, file);
        }

        DefaultHttpContext marked = Request(principal);
        marked.Request.Headers[AuditLog.ViewerHeader] = "1";
        await audit.RecordFetchAsync(marked, job, "meshes/patella.vtk");

        // A click on a download link (a navigation) and a script's request are downloads.
        DefaultHttpContext click = Request(principal);
        click.Request.Headers["Sec-Fetch-Site"] = "same-origin";
        click.Request.Headers["Sec-Fetch-Mode"] = "navigate";
        click.Request.Headers["Sec-Fetch-Dest"] = "document";
        await audit.RecordFetchAsync(click, job, "results.zip");
        await audit.RecordFetchAsync(Request(principal), job, "stats.json");

        List<AuditEvent> rows = await audit.QueryAsync(new AuditFilter(JobId: job, Limit: 100));
        Assert.Single(rows, e => e.Action == AuditActions.View);
        Assert.Equal(["results.zip", "stats.json"], rows.Where(e => e.Action == AuditActions.Download).Select(e => e.Target!).Order(StringComparer.Ordinal));
        Assert.Equal(3, rows.Count);
    }

    private static DefaultHttpContext Request(ClaimsPrincipal user)
    {
        var http = new DefaultHttpContext { User = user };
        http.Connection.RemoteIpAddress = IPAddress.Loopback;
        return http;
    }

    private static string Single(HttpResponseMessage response, string header) =>
        response.Headers.TryGetValues(header, out IEnumerable<string>? values) || response.Content.Headers.TryGetValues(header, out values)
            ? Assert.Single(values)
            : throw new Xunit.Sdk.XunitException($"{response.RequestMessage?.RequestUri}: no {header} header.");
}
