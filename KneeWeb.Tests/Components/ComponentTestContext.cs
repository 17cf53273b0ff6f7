using System.Security.Claims;
using AngleSharp.Dom;
using Bunit;
using Bunit.TestDoubles;
using KneeWeb.Data;
using KneeWeb.Jobs;
using KneeWeb.Security;
using KneeWeb.Tests.Web;
using Microsoft.AspNetCore.Components;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Identity;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using MudBlazor;
using MudBlazor.Services;
using Xunit;

namespace KneeWeb.Tests.Components;

/// <summary>
/// A bUnit context with MudBlazor's services, JS interop in loose mode (the only fake: the browser) and,
/// for pages, the real KneeWeb services of an in-memory host (real SQLite file, real options, real accounts).
/// MudBlazor's services are IAsyncDisposable, so the context is disposed asynchronously.
/// </summary>
public abstract class ComponentTestContext : IAsyncLifetime
{
    private readonly List<AsyncServiceScope> hostScopes = [];

    static ComponentTestContext()
    {
        // bUnit's WaitFor* gives up after 1 s by default: a wall-clock bound that a loaded machine (pages here
        // read a real SQLite file) can miss. Waits end on the state they wait for; this only guards a hang,
        // like the browser tests' 2-minute guard.
        BunitContext.DefaultWaitTimeout = TimeSpan.FromMinutes(2);
    }

    protected ComponentTestContext()
    {
        Context.JSInterop.Mode = JSRuntimeMode.Loose;
        Context.Services.AddMudServices();
        Context.Services.AddSingleton<Microsoft.AspNetCore.Components.Forms.AntiforgeryStateProvider>(new FixedAntiforgery());
    }

    protected BunitContext Context { get; } = new();

    public virtual Task InitializeAsync() => Task.CompletedTask;

    public virtual async Task DisposeAsync()
    {
        await Context.DisposeAsync();
        foreach (AsyncServiceScope scope in hostScopes)
        {
            await scope.DisposeAsync();
        }
    }

    /// <summary>Renders a component with parameters by name (the way a page or the router passes them).</summary>
    protected IRenderedComponent<T> Render<T>(IDictionary<string, object?>? parameters = null, bool popoverProvider = true)
        where T : IComponent
    {
        if (popoverProvider)
        {
            EnsurePopoverProvider();
        }

        return Context.Render<T>(builder =>
        {
            builder.OpenComponent<T>(0);
            foreach ((string name, object? value) in parameters ?? new Dictionary<string, object?>())
            {
                builder.AddComponentParameter(1, name, value);
            }

            builder.CloseComponent();
        });
    }

    /// <summary>Renders a static (form post) page the way the endpoint does: with the request's HttpContext cascaded.</summary>
    protected IRenderedComponent<T> RenderStatic<T>(HttpContext http, IDictionary<string, object?>? parameters = null)
        where T : IComponent
    {
        EnsurePopoverProvider();
        return Context.Render<T>(builder =>
        {
            builder.OpenComponent<CascadingValue<HttpContext>>(0);
            builder.AddComponentParameter(1, nameof(CascadingValue<HttpContext>.Value), http);
            builder.AddComponentParameter(2, nameof(CascadingValue<HttpContext>.ChildContent), (RenderFragment)(inner =>
            {
                inner.OpenComponent<T>(0);
                foreach ((string name, object? value) in parameters ?? new Dictionary<string, object?>())
                {
                    inner.AddComponentParameter(1, name, value);
                }

                inner.CloseComponent();
            }));
            builder.CloseComponent();
        });
    }

    /// <summary>The form token a static page embeds (the real one needs a request pipeline).</summary>
    private sealed class FixedAntiforgery : Microsoft.AspNetCore.Components.Forms.AntiforgeryStateProvider
    {
        public override Microsoft.AspNetCore.Components.Forms.AntiforgeryRequestToken? GetAntiforgeryToken() => new("test-antiforgery-token", "__RequestVerificationToken");
    }

    /// <summary>Where Mud's popovers (select lists, menus) render: the provider comes first.</summary>
    protected IRenderedComponent<MudPopoverProvider>? Popovers { get; private set; }

    protected void EnsurePopoverProvider() => Popovers ??= Context.Render<MudPopoverProvider>();

    /// <summary>Opens a MudSelect by its test id and clicks the list item with the given text.</summary>
    protected void Pick<T>(IRenderedComponent<T> rendered, string testId, string itemText)
        where T : IComponent
    {
        ArgumentNullException.ThrowIfNull(rendered);
        IRenderedComponent<MudPopoverProvider> popovers = Popovers ?? throw new InvalidOperationException("Render the page first.");
        rendered.Find($"[data-testid={testId}]").Closest(".mud-input-control")!.MouseDown();
        popovers.WaitForAssertion(() => Assert.Contains(popovers.FindAll(".mud-popover-open .mud-list-item"), i => i.Text() == itemText));
        popovers.FindAll(".mud-popover-open .mud-list-item").First(i => i.Text() == itemText).Click();
    }

    /// <summary>
    /// Registers the host's real services for pages, and signs the bUnit circuit in as <paramref name="userName"/>
    /// (a real Identity account of that host, so group and role checks read the real database).
    /// </summary>
    protected async Task<IdentityUser> UseHostAsync(KneeWebFactory host, string userName = TestAccounts.AdminName, string role = Roles.Admin)
    {
        ArgumentNullException.ThrowIfNull(host);
        IServiceProvider real = host.Services;
        IdentityUser user;
        await using (AsyncServiceScope scope = real.CreateAsyncScope())
        {
            user = await scope.ServiceProvider.GetRequiredService<UserManager<IdentityUser>>().FindByNameAsync(userName)
                ?? throw new InvalidOperationException($"No account {userName} in the host.");
        }

        IServiceCollection services = Context.Services;
        services.AddSingleton(real.GetRequiredService<IOptions<Setup.KneeWebOptions>>());
        services.AddSingleton(real.GetRequiredService<IDbContextFactory<KneeWebDbContext>>());
        services.AddSingleton(real.GetRequiredService<JobStore>());
        services.AddSingleton(real.GetRequiredService<JobService>());
        services.AddSingleton(real.GetRequiredService<JobQcSummaries>());
        services.AddSingleton(real.GetRequiredService<JobNotifier>());
        services.AddSingleton(real.GetRequiredService<KneeWeb.Pipeline.SegmentationEngine>());
        services.AddSingleton(real.GetRequiredService<KneeWeb.Api.ServerInfoProvider>());
        services.AddSingleton(real.GetRequiredService<KneeWeb.Api.ModelAdminService>());
        services.AddSingleton(real.GetRequiredService<ApiTokenService>());
        services.AddSingleton(real.GetRequiredService<AuditLog>());
        services.AddSingleton(real.GetRequiredService<JobAccess>());
        services.AddSingleton(real.GetRequiredService<KneeWeb.Jobs.Cohort.CohortOutlierService>());
        services.AddSingleton(real.GetRequiredService<KneeWeb.Jobs.Cohort.JobMetricsRecorder>());
        services.AddSingleton<IHttpContextAccessor>(new HttpContextAccessor());
        services.AddScoped<PageAccess>();
        // Identity's stores are scoped in the host: one host scope serves this test's account pages.
        AsyncServiceScope accounts = real.CreateAsyncScope();
        hostScopes.Add(accounts);
        services.AddSingleton(accounts.ServiceProvider.GetRequiredService<AccountAdmin>());

        BunitAuthorizationContext auth = Context.AddAuthorization();
        auth.SetAuthorized(userName);
        auth.SetRoles(role);
        auth.SetClaims(new Claim(ClaimTypes.NameIdentifier, user.Id), new Claim(ClaimTypes.Name, userName), new Claim(ClaimTypes.Role, role));
        return user;
    }

    /// <summary>What a static (form post) page receives as its cascading HttpContext: the signed-in user, a query.</summary>
    protected static DefaultHttpContext HttpContextFor(IdentityUser user, string role, string query = "")
    {
        ArgumentNullException.ThrowIfNull(user);
        var http = new DefaultHttpContext();
        http.User = new ClaimsPrincipal(new ClaimsIdentity(
            [new Claim(ClaimTypes.NameIdentifier, user.Id), new Claim(ClaimTypes.Name, user.UserName!), new Claim(ClaimTypes.Role, role)], "test"));
        http.Request.QueryString = new QueryString(query);
        http.Connection.RemoteIpAddress = System.Net.IPAddress.Loopback;
        return http;
    }

    /// <summary>Writes a job row straight into the host's database (the worker is not involved).</summary>
    protected static async Task<Job> AddJobAsync(KneeWebFactory host, Action<Job> configure)
    {
        ArgumentNullException.ThrowIfNull(host);
        ArgumentNullException.ThrowIfNull(configure);
        var job = new Job
        {
            Id = Guid.NewGuid(),
            Owner = TestAccounts.AdminName,
            InputFileName = "knee.nii.gz",
            DetectedFormat = "nifti",
            Status = JobStatus.Queued,
            CreatedUtc = DateTime.UtcNow,
            Attempt = 1,
        };
        configure(job);
        JobStore store = host.Services.GetRequiredService<JobStore>();
        using (JobVisibility.EnterSystem())
        {
            await store.WriteAsync(db =>
            {
                db.Jobs.Add(job);
                return Task.CompletedTask;
            });
        }

        return job;
    }
}

/// <summary>Selectors on rendered markup, read the way the old AngleSharp document was.</summary>
public static class RenderedMarkup
{
    public static IElement? QuerySelector<T>(this IRenderedComponent<T> rendered, string selector)
        where T : IComponent
    {
        ArgumentNullException.ThrowIfNull(rendered);
        return rendered.Nodes.QuerySelector(selector);
    }

    public static IHtmlCollection<IElement> QuerySelectorAll<T>(this IRenderedComponent<T> rendered, string selector)
        where T : IComponent
    {
        ArgumentNullException.ThrowIfNull(rendered);
        return rendered.Nodes.QuerySelectorAll(selector);
    }

    /// <summary>The element's text with runs of white space as one space, trimmed (Mud components add layout white space).</summary>
    public static string Text(this IElement element)
    {
        ArgumentNullException.ThrowIfNull(element);
        return string.Join(' ', element.TextContent.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries));
    }
}

/// <summary>One in-memory KneeWeb host for every page test (its own data folder, SQLite file and models folder).</summary>
public sealed class ComponentHostFixture : IAsyncLifetime
{
    private readonly TestData.TempFolder models = new("kneeweb-component-models");

    public ComponentHostFixture()
    {
        // A model whose file is not ONNX: the Models page must show it disabled, with the reason.
        File.WriteAllText(Path.Combine(models.Path, "broken-knee.json"),
            """{"name":"broken-knee","version":"0.1","description":"A model file that is not ONNX","labels":{"1":"femur"}}""");
        File.WriteAllBytes(Path.Combine(models.Path, "broken-knee.onnx"), [1, 2, 3, 4]);
        Host = new KneeWebFactory(new Dictionary<string, string?> { ["KneeWeb:ModelsPath"] = models.Path });
    }

    public KneeWebFactory Host { get; }

    public Task InitializeAsync()
    {
        _ = Host.Services;
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        await Host.DisposeAsync();
        models.Dispose();
    }
}

[CollectionDefinition(Name)]
public sealed class ComponentHostCollection : ICollectionFixture<ComponentHostFixture>
{
    public const string Name = "component host";
}
