using System.Net;
using KneeWeb.Security;
using KneeWeb.Tests.TestData;
using KneeWeb.Tests.Web;
using Xunit;

namespace KneeWeb.Tests.Security;

/// <summary>
/// Trusted reverse-proxy sign-in against the real server process on loopback: the header signs in only
/// when the feature is on and the connection comes from a listed proxy address.
/// </summary>
[Trait("Category", "process")]
public sealed class ProxyHeaderTests : IDisposable
{
    private const string Header = "X-Lab-User";
    private readonly TempFolder data = new("kneeweb-proxy");

    public void Dispose() => data.Dispose();

    [Fact]
    public async Task The_header_signs_in_from_a_trusted_proxy_and_is_ignored_from_anywhere_else()
    {
        await using (ServerProcess trusted = await ServerProcess.StartAsync(data.Path, Settings(enabled: true, proxy: "127.0.0.1")))
        {
            using HttpClient client = trusted.CreateAnonymousClient();
            Assert.Equal(HttpStatusCode.OK, (await Send(client, TestAccounts.AdminName)).StatusCode);
            // Only an existing account can be named.
            Assert.Equal(HttpStatusCode.Unauthorized, (await Send(client, "nobody-by-this-name")).StatusCode);
            // A page request through the proxy is signed in too.
            using var page = new HttpRequestMessage(HttpMethod.Get, "/jobs");
            page.Headers.Add(Header, TestAccounts.AdminName);
            Assert.Equal(HttpStatusCode.OK, (await client.SendAsync(page)).StatusCode);
        }

        await using (ServerProcess untrusted = await ServerProcess.StartAsync(data.Path, Settings(enabled: true, proxy: "10.20.30.40")))
        {
            using HttpClient client = untrusted.CreateAnonymousClient();
            Assert.Equal(HttpStatusCode.Unauthorized, (await Send(client, TestAccounts.AdminName)).StatusCode);
            Assert.Contains("not a trusted proxy address", untrusted.Log, StringComparison.Ordinal);
        }

        await using (ServerProcess off = await ServerProcess.StartAsync(data.Path, Settings(enabled: false, proxy: "127.0.0.1")))
        {
            using HttpClient client = off.CreateAnonymousClient();
            Assert.Equal(HttpStatusCode.Unauthorized, (await Send(client, TestAccounts.AdminName)).StatusCode);
        }
    }

    [Fact]
    public void Only_listed_addresses_are_trusted()
    {
        var options = new ProxyHeaderOptions { Enabled = true };
        options.TrustedProxies.Add("127.0.0.1");
        Assert.True(ProxyHeaderAuthenticationHandler.IsTrusted(IPAddress.Loopback, options));
        Assert.True(ProxyHeaderAuthenticationHandler.IsTrusted(IPAddress.Parse("::ffff:127.0.0.1"), options));
        Assert.False(ProxyHeaderAuthenticationHandler.IsTrusted(IPAddress.Parse("127.0.0.2"), options));
        Assert.False(ProxyHeaderAuthenticationHandler.IsTrusted(null, options));
    }

    private static async Task<HttpResponseMessage> Send(HttpClient client, string user)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "/v1/jobs");
        request.Headers.Add(Header, user);
        return await client.SendAsync(request);
    }

    private static Dictionary<string, string> Settings(bool enabled, string proxy) => new()
    {
        ["KneeWeb__Security__ProxyHeader__Enabled"] = enabled ? "true" : "false",
        ["KneeWeb__Security__ProxyHeader__HeaderName"] = Header,
        ["KneeWeb__Security__ProxyHeader__TrustedProxies__0"] = proxy,
        ["Logging__LogLevel__Default"] = "Warning",
    };
}
