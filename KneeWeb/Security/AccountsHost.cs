using KneeWeb.Data;
using KneeWeb.Jobs;
using KneeWeb.Setup;
using Microsoft.EntityFrameworkCore;

namespace KneeWeb.Security;

/// <summary>
/// The account services on a data folder without the web site: for `KneeWeb users ...` and for
/// provisioning scripts. The database is migrated on open, as the site would.
/// </summary>
public sealed class AccountsHost : IAsyncDisposable
{
    private readonly ServiceProvider services;
    private readonly AsyncServiceScope scope;

    private AccountsHost(ServiceProvider services)
    {
        this.services = services;
        scope = services.CreateAsyncScope();
    }

    public AccountAdmin Accounts => scope.ServiceProvider.GetRequiredService<AccountAdmin>();

    public ApiTokenService Tokens => scope.ServiceProvider.GetRequiredService<ApiTokenService>();

    public AuditLog Audit => scope.ServiceProvider.GetRequiredService<AuditLog>();

    public KneeWebOptions Settings => scope.ServiceProvider.GetRequiredService<Microsoft.Extensions.Options.IOptions<KneeWebOptions>>().Value;

    /// <summary>Opens the data folder named by <paramref name="dataRoot"/>, else by the settings (appsettings.json, KneeWeb__DataRoot).</summary>
    public static async Task<AccountsHost> OpenAsync(string? dataRoot = null)
    {
        var config = new ConfigurationBuilder()
            .AddJsonFile(Path.Combine(AppContext.BaseDirectory, "appsettings.json"), optional: true)
            .AddJsonFile("appsettings.json", optional: true)
            .AddEnvironmentVariables()
            .AddInMemoryCollection(dataRoot is null ? [] : [new KeyValuePair<string, string?>($"{KneeWebOptions.Section}:{nameof(KneeWebOptions.DataRoot)}", dataRoot)])
            .Build();
        var services = new ServiceCollection();
        services.AddSingleton<IConfiguration>(config);
        services.AddLogging(b => b.AddSimpleConsole().SetMinimumLevel(LogLevel.Warning).AddFilter("Microsoft.EntityFrameworkCore", LogLevel.Error));
        services.AddOptions<KneeWebOptions>().Bind(config.GetSection(KneeWebOptions.Section));
        services.AddKneeWebDatabase();
        services.AddSingleton<JobStore>();
        services.AddKneeWebAccounts();
        ServiceProvider provider = services.BuildServiceProvider();
        await DatabaseInitializer.InitializeAsync(provider.GetRequiredService<IDbContextFactory<KneeWebDbContext>>());
        var host = new AccountsHost(provider);
        await host.Accounts.EnsureRolesAsync();
        return host;
    }

    public async ValueTask DisposeAsync()
    {
        await scope.DisposeAsync();
        await services.DisposeAsync();
    }
}
