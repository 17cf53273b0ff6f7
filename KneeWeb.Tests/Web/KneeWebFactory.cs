using KneeWeb.Tests.TestData;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;

namespace KneeWeb.Tests.Web;

/// <summary>
/// The real KneeWeb host in memory (TestServer), with its own data folder and a real SQLite file.
/// Settings can be overridden per test (e.g. a step delay to exercise cancel and timeout).
/// Every site page and API call needs sign-in: the factory seeds <see cref="TestAccounts.AdminName"/>
/// and <see cref="WebApplicationFactory{TEntryPoint}.CreateClient()"/> sends its API token;
/// <see cref="CreateAnonymousClient"/> sends nothing.
/// </summary>
public sealed class KneeWebFactory : WebApplicationFactory<Program>
{
    private readonly TempFolder data = new("kneeweb-host");
    private readonly Dictionary<string, string?> settings;

    public KneeWebFactory(IDictionary<string, string?>? overrides = null)
    {
        settings = new Dictionary<string, string?>(StringComparer.Ordinal)
        {
            ["KneeWeb:DataRoot"] = data.Path,
            ["KneeWeb:ModelsPath"] = Path.Combine(data.Path, "models"),
            ["Logging:LogLevel:Default"] = "Warning",
            // Test classes sign in many times from one address as one user; the throttle tests set their own limits.
            ["KneeWeb:Security:SignInThrottle:PerAddress"] = "100000",
            ["KneeWeb:Security:SignInThrottle:PerName"] = "100000",
        };
        if (overrides is not null)
        {
            foreach ((string key, string? value) in overrides)
            {
                settings[key] = value;
            }
        }
    }

    public string DataRoot => data.Path;

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.UseEnvironment("Development");
        builder.ConfigureAppConfiguration((_, config) => config.AddInMemoryCollection(settings));
    }

    /// <summary>A client with no credentials (and no automatic redirects, so a 302 to sign-in is visible).</summary>
    public HttpClient CreateAnonymousClient() =>
        CreateClient(new WebApplicationFactoryClientOptions { AllowAutoRedirect = false }).WithToken(null);

    /// <summary>A client that sends the given API token.</summary>
    public HttpClient CreateClientWithToken(string token) =>
        CreateClient(new WebApplicationFactoryClientOptions { AllowAutoRedirect = false }).WithToken(token);

    protected override IHost CreateHost(IHostBuilder builder)
    {
        IHost host = base.CreateHost(builder);
        // Off the test's synchronization context: seeding awaits EF Core and Identity.
        Task.Run(() => TestAccounts.SeedAsync(host.Services)).GetAwaiter().GetResult();
        return host;
    }

    protected override void ConfigureClient(HttpClient client)
    {
        base.ConfigureClient(client);
        client.WithToken(TestAccounts.AdminToken);
    }

    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        if (disposing)
        {
            data.Dispose();
        }
    }
}
