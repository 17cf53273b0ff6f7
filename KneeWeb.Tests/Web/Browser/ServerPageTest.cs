using KneeWeb.Tests.TestData;
using Microsoft.Playwright;
using Xunit;

namespace KneeWeb.Tests.Web.Browser;

/// <summary>
/// What every page-level browser test stands on: a real server process on its own data folder and one
/// signed-in Chromium page, both new for each test (xUnit makes a new instance per test).
/// </summary>
public abstract class ServerPageTest : IAsyncLifetime
{
    private readonly BrowserFixture fixture;
    private IBrowserContext context = null!;

    protected ServerPageTest(BrowserFixture fixture, string name)
    {
        this.fixture = fixture;
        Data = new TempFolder($"kneeweb-{name}");
        Inputs = new TempFolder($"kneeweb-{name}-inputs");
    }

    /// <summary>The server's data folder (database, jobs, models/).</summary>
    protected TempFolder Data { get; }

    /// <summary>Where a test writes the files it uploads.</summary>
    protected TempFolder Inputs { get; }

    /// <summary>The page's console errors and failed requests; a test ends by asserting this is empty.</summary>
    protected List<string> ConsoleErrors { get; } = [];

    /// <summary>Every console line of the page, for a failure message.</summary>
    protected List<string> ConsoleLog { get; } = [];

    protected ServerProcess Server { get; private set; } = null!;

    protected IPage Page { get; private set; } = null!;

    /// <summary>Settings the server starts with (environment-variable names).</summary>
    protected virtual IDictionary<string, string> ServerSettings => new Dictionary<string, string>();

    /// <summary>Runs before the server starts: what its data folder must hold.</summary>
    protected virtual void PrepareDataFolder()
    {
    }

    public virtual async Task InitializeAsync()
    {
        PrepareDataFolder();
        Server = await ServerProcess.StartAsync(Data.Path, ServerSettings);
        (context, Page) = await fixture.OpenPageAsync(Server.BaseAddress, ConsoleErrors, ConsoleLog);
    }

    public virtual async Task DisposeAsync()
    {
        await context.DisposeAsync();
        await Server.DisposeAsync();
        Data.Dispose();
        Inputs.Dispose();
    }

    /// <summary>Copies the repository's committed models whose file names start with one of <paramref name="names"/> into the data folder.</summary>
    protected string InstallRepoModels(params string[] names)
    {
        string models = Path.Combine(Data.Path, "models");
        Directory.CreateDirectory(models);
        string? repoModels = KneeWeb.Inference.ModelRegistry.FindDefaultFolder();
        Assert.True(repoModels is not null, "models/ with the committed models not found above the test folder");
        foreach (string name in names)
        {
            string[] files = Directory.GetFiles(repoModels, name + ".*");
            Assert.True(files.Length > 0, $"No committed model '{name}' in {repoModels}.");
            foreach (string file in files)
            {
                File.Copy(file, Path.Combine(models, Path.GetFileName(file)));
            }
        }

        return repoModels;
    }

    /// <summary>
    /// Waits until the page answers clicks: Blazor Server is interactive once its circuit is up, which the layout
    /// marks; the upload page also marks when its script module is loaded. Static pages (sign-in, account) have
    /// no circuit to wait for. The context's 2-minute default is the hang guard.
    /// </summary>
    protected async Task WaitForInteractiveAsync()
    {
        if (await Page.Locator("[data-testid=static-nav]").CountAsync() > 0)
        {
            return;
        }

        await Page.Locator("main[data-interactive='true']").WaitForAsync();
        if (await Page.GetByTestId("drop-zone").CountAsync() > 0)
        {
            await Page.Locator("[data-testid=drop-zone][data-ready='true']").WaitForAsync();
        }
    }

    /// <summary>Submits a ramp image through the API under <paramref name="subject"/> and waits for it to complete.</summary>
    protected async Task<Guid> CompletedJobAsync(HttpClient api, string subject)
    {
        string input = TestVolumes.WriteRamp(Inputs.Path, $"{subject}.nii.gz");
        Guid id = await ApiClient.SubmitAsync(api, input, new { subject_id = subject });
        Assert.Equal("Completed", (await ApiClient.WaitForEndAsync(api, id, TimeSpan.FromMinutes(3))).GetProperty("status").GetString());
        return id;
    }
}
