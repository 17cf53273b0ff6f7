using KneeWeb.Tests.TestData;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.Configuration;

namespace KneeWeb.Tests.Web;

/// <summary>
/// The real KneeWeb host in memory (TestServer), with its own data folder and a real SQLite file.
/// Settings can be overridden per test (e.g. a step delay to exercise cancel and timeout).
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

    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        if (disposing)
        {
            data.Dispose();
        }
    }
}
