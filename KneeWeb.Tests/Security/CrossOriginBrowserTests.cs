using System.Net;
using System.Text;
using System.Text.Json;
using KneeWeb.Security;
using KneeWeb.Tests.TestData;
using KneeWeb.Tests.Web;
using KneeWeb.Tests.Web.Browser;
using Microsoft.Playwright;
using Xunit;

namespace KneeWeb.Tests.Security;

/// <summary>
/// In real Chromium against a real server: a page served from another port of the same host (a
/// tiny HttpListener) cannot open the hub or the Blazor circuit with the signed-in user's cookie (the
/// browser sends the cookie: SameSite=Lax sees the same site), and no job event reaches it; the
/// same probe from the site's own origin connects. Locking an account closes its open circuit.
/// </summary>
[Collection(BrowserCollection.Name)]
[Trait("Category", "browser")]
public sealed class CrossOriginBrowserTests(BrowserFixture fixture) : IAsyncLifetime
{
    private static readonly TimeSpan Hang = TimeSpan.FromMinutes(2);

    // Opens a raw WebSocket, speaks the SignalR JSON handshake and asks for every job's events;
    // settles when the socket closes (refused, or closed by us after the handshake answer).
    private const string Probe = """
        async (url) => {
          const result = { opened: false, messages: [] };
          await new Promise(resolve => {
            const ws = new WebSocket(url);
            ws.onopen = () => {
              result.opened = true;
              ws.send('{"protocol":"json","version":1}\u001e');
              ws.send('{"type":1,"invocationId":"1","target":"JoinAll","arguments":[]}\u001e');
            };
            ws.onmessage = e => { result.messages.push(String(e.data)); ws.close(); };
            ws.onclose = () => resolve();
          });
          return JSON.stringify(result);
        }
        """;

    private readonly TempFolder data = new("kneeweb-cross-origin");
    private ServerProcess server = null!;

    public async Task InitializeAsync() => server = await ServerProcess.StartAsync(data.Path);

    public async Task DisposeAsync()
    {
        await server.DisposeAsync();
        data.Dispose();
    }

    [Fact]
    public async Task A_page_on_another_port_cannot_open_the_hub_or_the_circuit_with_the_users_cookie()
    {
        using var evil = new OtherOriginSite();
        var errors = new List<string>();
        (IBrowserContext context, IPage page) = await fixture.OpenPageAsync(server.BaseAddress, errors);
        await using (context)
        {
            string ws = $"ws://127.0.0.1:{server.BaseAddress.Port}";

            // The same probe from the site's own origin, with the same cookie and no token: it connects.
            await page.GotoAsync("/account");
            ProbeResult own = await ProbeAsync(page, ws + "/hubs/jobs");
            Assert.True(own.Opened, "The same-origin probe could not open the hub: the test proves nothing.");
            Assert.Contains(own.Messages, m => m.StartsWith("{}", StringComparison.Ordinal) || m.Contains("\"type\":", StringComparison.Ordinal));
            Assert.True((await ProbeAsync(page, ws + "/_blazor")).Opened, "The same-origin probe could not open the circuit endpoint.");

            // From another port of the same host: refused before the upgrade, nothing arrives.
            await page.GotoAsync(evil.Address.ToString());
            Assert.Equal("other origin", await page.TitleAsync());
            ProbeResult hub = await ProbeAsync(page, ws + "/hubs/jobs");
            ProbeResult circuit = await ProbeAsync(page, ws + "/_blazor");
            Assert.False(hub.Opened);
            Assert.Empty(hub.Messages);
            Assert.False(circuit.Opened);
            Assert.Empty(circuit.Messages);
        }

        Assert.Contains("Refused a cross-origin /hubs/jobs request from origin http://127.0.0.1:" + evil.Address.Port, server.Log, StringComparison.Ordinal);
        Assert.Contains("Refused a cross-origin /_blazor request", server.Log, StringComparison.Ordinal);

        // The site itself keeps working in the browser.
        var siteErrors = new List<string>();
        (IBrowserContext again, IPage sitePage) = await fixture.OpenPageAsync(server.BaseAddress, siteErrors);
        await using (again)
        {
            await sitePage.GotoAsync("/jobs");
            await Assertions.Expect(sitePage.GetByTestId("signed-in-user")).ToHaveTextAsync(TestAccounts.AdminName);
        }

        Assert.Empty(siteErrors);
    }

    [Fact]
    public async Task Locking_an_account_closes_its_open_circuit()
    {
        await using (AccountsHost host = await AccountsHost.OpenAsync(data.Path))
        {
            await host.Accounts.AddUserAsync("cora", Roles.Member, "cora-password-2026");
        }

        var errors = new List<string>();
        (IBrowserContext context, IPage page) = await fixture.OpenPageAsync(server.BaseAddress, errors, userName: "cora", password: "cora-password-2026");
        await using (context)
        {
            var circuitClosed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var circuitOpen = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            page.WebSocket += (_, socket) =>
            {
                if (socket.Url.Contains("/_blazor", StringComparison.Ordinal))
                {
                    circuitOpen.TrySetResult();
                    socket.Close += (_, _) => circuitClosed.TrySetResult();
                }
            };
            await page.GotoAsync("/jobs");
            await circuitOpen.Task.WaitAsync(Hang);

            using HttpClient admin = await SignInAsync(TestAccounts.AdminName, TestAccounts.AdminPassword);
            using HttpResponseMessage locked = await SecuritySite.PostPageFormAsync(admin, "/admin/users", "user-state", [new("StateOp", "lock:cora")]);
            Assert.Contains("Locked cora.", await locked.Content.ReadAsStringAsync(), StringComparison.Ordinal);

            await circuitClosed.Task.WaitAsync(Hang);
            await page.GotoAsync("/jobs");
            Assert.Contains("/account/signin", page.Url, StringComparison.Ordinal);
        }
    }

    private async Task<HttpClient> SignInAsync(string userName, string password)
    {
        var client = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false, CookieContainer = new CookieContainer() }) { BaseAddress = server.BaseAddress };
        string form = await client.GetStringAsync("/account/signin");
        using var content = new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["UserName"] = userName,
            ["Password"] = password,
            ["ReturnUrl"] = "/jobs",
            ["__RequestVerificationToken"] = SecuritySite.AntiforgeryOf(form),
        });
        using HttpResponseMessage response = await client.PostAsync("/account/signin", content);
        Assert.Equal(HttpStatusCode.Redirect, response.StatusCode);
        return client;
    }

    private static async Task<ProbeResult> ProbeAsync(IPage page, string url)
    {
        string json = await page.EvaluateAsync<string>(Probe, url).WaitAsync(Hang);
        using JsonDocument doc = JsonDocument.Parse(json);
        return new ProbeResult(doc.RootElement.GetProperty("opened").GetBoolean(), [.. doc.RootElement.GetProperty("messages").EnumerateArray().Select(m => m.GetString() ?? "")]);
    }

    private sealed record ProbeResult(bool Opened, List<string> Messages);

    /// <summary>A page of another origin: same host (127.0.0.1), another port.</summary>
    private sealed class OtherOriginSite : IDisposable
    {
        private readonly HttpListener listener = new();
        private readonly Task serving;

        public OtherOriginSite()
        {
            int port = ServerProcess.FreePort();
            Address = new Uri($"http://127.0.0.1:{port}/");
            listener.Prefixes.Add(Address.ToString());
            listener.Start();
            serving = Task.Run(ServeAsync);
        }

        public Uri Address { get; }

        private async Task ServeAsync()
        {
            byte[] body = Encoding.UTF8.GetBytes("<!DOCTYPE html><html><head><title>other origin</title></head><body><p>another site</p></body></html>");
            while (listener.IsListening)
            {
                HttpListenerContext context;
                try
                {
                    context = await listener.GetContextAsync();
                }
                catch (Exception e) when (e is HttpListenerException or ObjectDisposedException or InvalidOperationException)
                {
                    return;
                }

                context.Response.ContentType = "text/html; charset=utf-8";
                await context.Response.OutputStream.WriteAsync(body);
                context.Response.Close();
            }
        }

        public void Dispose()
        {
            listener.Stop();
            listener.Close();
            serving.Wait(TimeSpan.FromSeconds(10));
        }
    }
}
