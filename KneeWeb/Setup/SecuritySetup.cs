using KneeWeb.Data;
using KneeWeb.Security;
using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.AspNetCore.DataProtection.KeyManagement;
using Microsoft.AspNetCore.DataProtection.Repositories;
using Microsoft.AspNetCore.Identity;
using Microsoft.AspNetCore.SignalR;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace KneeWeb.Setup;

/// <summary>
/// Accounts, sign-in and access: ASP.NET Core Identity (EF Core stores, cookie sign-in), personal API
/// tokens, optional trusted-proxy sign-in, a fallback policy that requires sign-in everywhere (pages,
/// API, downloads, hubs) except where an endpoint says AllowAnonymous (/v1/healthz, the sign-in page,
/// static assets), antiforgery on state-changing API calls made with a cookie, and the job access
/// scope of every request.
/// </summary>
public static class SecuritySetup
{
    /// <summary>Accounts without the web parts: for the command line and the site alike.</summary>
    public static IServiceCollection AddKneeWebAccounts(this IServiceCollection services)
    {
        ArgumentNullException.ThrowIfNull(services);
        // Identity's EF stores resolve the context per scope; KneeWeb otherwise uses the factory.
        services.TryAddScoped(sp => sp.GetRequiredService<IDbContextFactory<KneeWebDbContext>>().CreateDbContext());
        services.TryAddSingleton<AccountSessionEvents>();
        // Registered before Identity (which only adds its own hasher when none is): counts verifications.
        services.TryAddSingleton<CountingPasswordHasher>();
        services.TryAddSingleton<IPasswordHasher<IdentityUser>>(sp => sp.GetRequiredService<CountingPasswordHasher>());
        services.AddIdentityCore<IdentityUser>(o =>
            {
                // Length over character classes (NIST SP 800-63B): generated passwords are 20 letters and digits.
                o.Password.RequiredLength = 12;
                o.Password.RequireDigit = false;
                o.Password.RequireLowercase = false;
                o.Password.RequireUppercase = false;
                o.Password.RequireNonAlphanumeric = false;
                // Failed passwords never lock an account (anyone could lock anyone out): the sign-in
                // form is throttled per address and per name instead (SignInThrottle). Locks are an Admin's.
                o.Lockout.AllowedForNewUsers = true;
                o.User.RequireUniqueEmail = false;
            })
            .AddRoles<IdentityRole>()
            .AddEntityFrameworkStores<KneeWebDbContext>()
            .AddSignInManager();
        services.TryAddSingleton<ApiTokenService>();
        services.TryAddSingleton<AuditLog>();
        services.TryAddSingleton<JobAccess>();
        services.TryAddScoped<AccountAdmin>();
        services.TryAddScoped<SignInGate>();
        return services;
    }

    public static WebApplicationBuilder AddKneeWebSecurity(this WebApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        IServiceCollection services = builder.Services;
        services.AddOptions<SecurityOptions>().Bind(builder.Configuration.GetSection(SecurityOptions.Section));
        services.AddKneeWebAccounts();

        // Keys for cookies and antiforgery live with the data, so a restart keeps people signed in. The
        // folder is read from the bound settings when first needed (tests and env vars override DataRoot).
        services.AddDataProtection().SetApplicationName("KneeWeb");
        services.AddOptions<KeyManagementOptions>()
            .Configure<IOptions<KneeWebOptions>, ILoggerFactory>((o, settings, logs) =>
                o.XmlRepository = new FileSystemXmlRepository(KeyFolder(settings.Value), logs));

        services.AddAuthentication(o =>
            {
                o.DefaultScheme = Schemes.Auto;
                o.DefaultChallengeScheme = Schemes.Auto;
                o.DefaultForbidScheme = Schemes.Auto;
            })
            .AddPolicyScheme(Schemes.Auto, "Cookie, API token or proxy header", o => o.ForwardDefaultSelector = SelectScheme)
            .AddScheme<Microsoft.AspNetCore.Authentication.AuthenticationSchemeOptions, TokenAuthenticationHandler>(Schemes.Token, null)
            .AddScheme<Microsoft.AspNetCore.Authentication.AuthenticationSchemeOptions, ProxyHeaderAuthenticationHandler>(Schemes.ProxyHeader, null)
            .AddIdentityCookies();
        services.ConfigureApplicationCookie(o =>
        {
            o.Cookie.Name = "KneeWeb.Session";
            o.Cookie.HttpOnly = true;
            o.Cookie.SameSite = SameSiteMode.Lax;
            o.Cookie.SecurePolicy = CookieSecurePolicy.SameAsRequest;
            o.LoginPath = "/account/signin";
            o.LogoutPath = "/account/signout";
            o.AccessDeniedPath = "/account/denied";
            o.SlidingExpiration = true;
            o.Events.OnRedirectToLogin = ctx => Refuse(ctx, StatusCodes.Status401Unauthorized);
            o.Events.OnRedirectToAccessDenied = ctx => Refuse(ctx, StatusCodes.Status403Forbidden);
            // Instead of Identity's 30-minute stamp check: a signed-out, locked or changed account's
            // cookies are refused within seconds (at once when the change was made by this process).
            o.Events.OnValidatePrincipal = AccountStamps.ValidateCookieAsync;
        });
        services.AddOptions<CookieAuthenticationOptions>(IdentityConstants.ApplicationScheme)
            .Configure<IOptions<SecurityOptions>>((o, security) => o.ExpireTimeSpan = security.Value.SessionIdle);

        services.AddAuthorizationBuilder()
            .SetFallbackPolicy(new AuthorizationPolicyBuilder().RequireAuthenticatedUser().Build())
            .AddPolicy(Roles.Admin, p => p.RequireRole(Roles.Admin));
        services.AddCascadingAuthenticationState();
        services.AddScoped<Microsoft.AspNetCore.Components.Authorization.AuthenticationStateProvider, RevalidatingAuthenticationState>();
        services.AddSingleton<AccountStamps>();
        services.AddSingleton<SessionConnections>();
        services.AddHostedService(sp => sp.GetRequiredService<SessionConnections>());
        // A global hub filter sees the job hub's connections and the Blazor circuits' alike.
        services.Configure<HubOptions>(o => o.AddFilter<SessionConnections>());
        services.AddSingleton<SignInThrottle>();
        services.AddRateLimiter(o =>
        {
            o.AddPolicy(SignInThrottle.Policy, http =>
            {
                SignInThrottleOptions throttle = http.RequestServices.GetRequiredService<IOptions<SecurityOptions>>().Value.SignInThrottle;
                string address = http.Connection.RemoteIpAddress?.ToString() ?? "unknown";
                return System.Threading.RateLimiting.RateLimitPartition.GetFixedWindowLimiter(address, _ => SignInThrottle.Window(throttle.PerAddress, throttle.Window));
            });
            o.OnRejected = async (context, ct) =>
            {
                TimeSpan retry = context.Lease.TryGetMetadata(System.Threading.RateLimiting.MetadataName.RetryAfter, out TimeSpan r) ? r : TimeSpan.FromMinutes(1);
                await SignInThrottle.WriteThrottledAsync(context.HttpContext, retry);
            };
        });
        services.AddHttpContextAccessor();
        services.AddScoped<PageAccess>();
        services.AddSingleton<Api.JobsHubAudience>();
        services.AddScoped<Microsoft.AspNetCore.Components.Server.Circuits.CircuitHandler, JobVisibilityCircuitHandler>();
        return builder;
    }

    /// <summary>Creates the roles, and on a fresh install the first Admin (password in &lt;DataRoot&gt;/initial-admin.txt).</summary>
    public static async Task InitializeKneeWebSecurityAsync(this WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        await using AsyncServiceScope scope = app.Services.CreateAsyncScope();
        string? created = await InitialAdmin.EnsureAsync(
            scope.ServiceProvider.GetRequiredService<AccountAdmin>(),
            app.Services.GetRequiredService<IOptions<KneeWebOptions>>().Value,
            app.Services.GetRequiredService<IOptions<SecurityOptions>>().Value);
        if (created is not null)
        {
            // The password went to the console and the file only, never into the log.
            app.Logger.LogWarning("Created the initial Admin account; its password is in {Path}.", Path.Combine(app.Services.GetRequiredService<IOptions<KneeWebOptions>>().Value.FullDataRoot, InitialAdmin.FileName));
        }
    }

    /// <summary>Authentication, authorization, the request's job access scope, and the API antiforgery rule.</summary>
    public static WebApplication UseKneeWebSecurity(this WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        // Cross-origin hub and circuit connections are refused before anything else looks at them.
        app.UseMiddleware<OriginCheck>();
        app.UseAuthentication();
        app.UseAuthorization();
        app.UseRateLimiter();
        app.Use(ApplyJobVisibilityAsync);
        app.Use(RequireApiAntiforgeryAsync);
        return app;
    }

    public static bool IsApiPath(PathString path) =>
        path.StartsWithSegments("/v1", StringComparison.OrdinalIgnoreCase)
        || path.StartsWithSegments("/hubs", StringComparison.OrdinalIgnoreCase)
        || path.StartsWithSegments("/openapi", StringComparison.OrdinalIgnoreCase)
        || path.StartsWithSegments("/_blazor", StringComparison.OrdinalIgnoreCase);

    private static DirectoryInfo KeyFolder(KneeWebOptions settings)
    {
        string keys = Path.Combine(settings.FullDataRoot, "keys");
        if (!Directory.Exists(keys))
        {
            // The key ring signs sign-in cookies: readable by the site's user only.
            if (OperatingSystem.IsWindows())
            {
                Directory.CreateDirectory(keys);
            }
            else
            {
                Directory.CreateDirectory(keys, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            }
        }

        return new DirectoryInfo(keys);
    }

    private static string SelectScheme(HttpContext http)
    {
        if (TokenAuthenticationHandler.TokenOf(http.Request) is not null)
        {
            return Schemes.Token;
        }

        ProxyHeaderOptions proxy = http.RequestServices.GetRequiredService<IOptions<SecurityOptions>>().Value.ProxyHeader;
        return ProxyHeaderAuthenticationHandler.Applies(http.Request, proxy) ? Schemes.ProxyHeader : IdentityConstants.ApplicationScheme;
    }

    // Pages are sent to the sign-in form (or the "not allowed" page); API, hub and circuit calls get a
    // bare status a script can act on.
    private static Task Refuse(Microsoft.AspNetCore.Authentication.RedirectContext<CookieAuthenticationOptions> ctx, int status)
    {
        if (IsApiPath(ctx.Request.Path))
        {
            ctx.Response.StatusCode = status;
            return Task.CompletedTask;
        }

        ctx.Response.Redirect(ctx.RedirectUri);
        return Task.CompletedTask;
    }

    // The second layer of job access: every database context made while serving this request filters
    // jobs to what its user may see (anonymous: nothing).
    private static async Task ApplyJobVisibilityAsync(HttpContext http, Func<Task> next)
    {
        AccessSubject subject = http.User.Identity?.IsAuthenticated == true
            ? await http.RequestServices.GetRequiredService<JobAccess>().SubjectAsync(http, http.RequestAborted)
            : AccessSubject.Anonymous;
        using (JobVisibility.Enter(subject.Visibility))
        {
            await next();
        }
    }

    /// <summary>
    /// The antiforgery rule for the API: a state-changing call (POST, PUT, PATCH, DELETE under /v1)
    /// made with ambient credentials (the sign-in cookie, or a proxy header the browser did not choose)
    /// must carry the antiforgery token in the RequestVerificationToken header, or it is refused with
    /// 400. Calls with a personal API token are exempt: a browser never adds a bearer token by itself,
    /// so another site cannot forge one. The header is required (never the form field) so an upload's
    /// body is not read into a form to look for a token.
    /// </summary>
    private static async Task RequireApiAntiforgeryAsync(HttpContext http, Func<Task> next)
    {
        HttpRequest request = http.Request;
        bool stateChanging = HttpMethods.IsPost(request.Method) || HttpMethods.IsPut(request.Method) || HttpMethods.IsPatch(request.Method) || HttpMethods.IsDelete(request.Method);
        if (stateChanging
            && request.Path.StartsWithSegments("/v1", StringComparison.OrdinalIgnoreCase)
            && http.User.Identity is { IsAuthenticated: true } identity
            && identity.AuthenticationType != Schemes.Token)
        {
            IAntiforgery antiforgery = http.RequestServices.GetRequiredService<IAntiforgery>();
            string header = http.RequestServices.GetRequiredService<IOptions<AntiforgeryOptions>>().Value.HeaderName ?? "RequestVerificationToken";
            bool valid = false;
            if (request.Headers.ContainsKey(header))
            {
                try
                {
                    await antiforgery.ValidateRequestAsync(http);
                    valid = true;
                }
                catch (AntiforgeryValidationException)
                {
                }
            }

            if (!valid)
            {
                await Results.Problem(
                    statusCode: StatusCodes.Status400BadRequest,
                    title: "The antiforgery token is missing or invalid.",
                    detail: $"A state-changing call made with the sign-in cookie must send the page's antiforgery token in the {header} header; scripts use a personal API token (Authorization: Bearer) instead.",
                    extensions: new Dictionary<string, object?> { ["code"] = "ANTIFORGERY" }).ExecuteAsync(http);
                return;
            }
        }

        await next();
    }
}
