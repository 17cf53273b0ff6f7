using System.Text.Json;
using System.Text.Json.Serialization;
using KneeWeb.Api;
using KneeWeb.Data;
using KneeWeb.Jobs;
using KneeWeb.Jobs.Slurm;
using KneeWeb.Pipeline;
using KneeWeb.Security;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using MudBlazor.Services;

namespace KneeWeb.Setup;

/// <summary>One registration method per area; Program.cs reads like a table of contents.</summary>
public static class KneeWebSetup
{
    public static WebApplicationBuilder AddKneeWebOptions(this WebApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.AddOptions<KneeWebOptions>()
            .Bind(builder.Configuration.GetSection(KneeWebOptions.Section))
            .Validate(o => o.Jobs.Concurrency >= 1, "KneeWeb:Jobs:Concurrency must be at least 1.")
            .Validate(o => o.Jobs.Timeout > TimeSpan.Zero, "KneeWeb:Jobs:Timeout must be positive.")
            .Validate(o => o.MaxUploadBytes > 0, "KneeWeb:MaxUploadBytes must be positive.")
            .ValidateOnStart();
        return builder;
    }

    public static WebApplicationBuilder AddKneeWebData(this WebApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.AddKneeWebDatabase();
        return builder;
    }

    /// <summary>The SQLite database (shared by the site and the command line's account verbs).</summary>
    public static IServiceCollection AddKneeWebDatabase(this IServiceCollection services)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.AddSingleton<SqlitePragmaInterceptor>();
        services.AddDbContextFactory<KneeWebDbContext>((sp, db) =>
        {
            KneeWebOptions settings = sp.GetRequiredService<IOptions<KneeWebOptions>>().Value;
            DataFolders.SecureDatabase(settings);
            db.UseSqlite($"Data Source={settings.DatabasePath};Cache=Shared;Default Timeout=30")
              .AddInterceptors(sp.GetRequiredService<SqlitePragmaInterceptor>());
        });
        return services;
    }

    public static WebApplicationBuilder AddKneeWebJobs(this WebApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        IServiceCollection services = builder.Services;
        services.AddSingleton<JobStore>();
        services.AddSingleton<JobQueue>();
        services.AddSingleton<JobNotifier>();
        services.AddSingleton<JobCancellations>();
        services.AddSingleton(sp =>
        {
            KneeWebOptions settings = sp.GetRequiredService<IOptions<KneeWebOptions>>().Value;
            return new SegmentationEngine(settings.ModelsPath, settings.DefaultModel);
        });
        services.AddSingleton<KneePipeline>();
        services.AddSingleton<JobRunner>();
        services.AddSingleton<JobEndings>();
        services.AddKneeWebExecutor(builder.Configuration.GetSection(KneeWebOptions.Section).GetValue("Jobs:Executor", JobExecutorKind.InProcess));
        services.AddSingleton<JobRecovery>();
        services.AddSingleton<JobService>();
        services.AddSingleton<JobQcSummaries>();
        services.AddHostedService<JobWorker>();
        services.AddSingleton<RetentionService>();
        services.AddHostedService(sp => sp.GetRequiredService<RetentionService>());
        return builder;
    }

    /// <summary>The executor chosen by KneeWeb:Jobs:Executor (in-process unless it says slurm).</summary>
    private static void AddKneeWebExecutor(this IServiceCollection services, JobExecutorKind kind)
    {
        if (kind == JobExecutorKind.Slurm)
        {
            services.AddSingleton<ISlurmClient, SlurmCli>();
            services.AddSingleton<SlurmWatch>();
            services.AddSingleton<SlurmCommandLine>();
            services.AddSingleton<IJobExecutor, SlurmExecutor>();
        }
        else
        {
            services.AddSingleton<IJobExecutor, InProcessExecutor>();
        }
    }

    public static WebApplicationBuilder AddKneeWebApi(this WebApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.ConfigureHttpJsonOptions(o => ConfigureJson(o.SerializerOptions));
        builder.Services.AddProblemDetails();
        builder.Services.AddExceptionHandler<DiskFullExceptionHandler>();
        builder.Services.AddOpenApi();
        builder.Services.AddSignalR().AddJsonProtocol(o => ConfigureJson(o.PayloadSerializerOptions));
        builder.Services.AddSingleton<UploadReceiver>();
        builder.Services.AddSingleton<ModelAdminService>();
        builder.Services.AddSingleton<UserLimits>();
        builder.Services.TryAddSingleton(TimeProvider.System);
        builder.Services.AddSingleton<ServerInfoProvider>();
        builder.Services.AddHostedService<JobsHubBridge>();
        return builder;
    }

    public static WebApplicationBuilder AddKneeWebUi(this WebApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        // Serve library assets (MudBlazor, blazor.web.js) from a build output in any environment, not
        // only Development; a no-op for published output, which carries them itself.
        builder.WebHost.UseStaticWebAssets();
        builder.Services.AddRazorComponents().AddInteractiveServerComponents();
        builder.Services.AddMudServices();
        return builder;
    }

    /// <summary>Creates the data folders and brings the database schema up to date before serving.</summary>
    public static async Task InitializeKneeWebAsync(this WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        KneeWebOptions settings = app.Services.GetRequiredService<IOptions<KneeWebOptions>>().Value;
        DataFolders.Secure(settings);
        await DatabaseInitializer.InitializeAsync(app.Services.GetRequiredService<IDbContextFactory<KneeWebDbContext>>());
        await app.InitializeKneeWebSecurityAsync();
        using (JobVisibility.EnterSystem())
        {
            await app.Services.GetRequiredService<JobRecovery>().RepairAsync(CancellationToken.None);
        }

        // Load the runtime and validate every model now, so the first job doesn't pay for it and
        // a broken model is reported at start-up.
        SegmentationEngine engine = app.Services.GetRequiredService<SegmentationEngine>();
        foreach (Inference.ModelEntry model in engine.Models)
        {
            if (!model.Enabled)
            {
                app.Logger.LogWarning("Model {Model} is disabled: {Reason}", model.Name, model.DisabledReason);
            }
        }

        if (engine.RuntimeError is not null)
        {
            app.Logger.LogWarning("ONNX Runtime is not available: {Reason}", engine.RuntimeError);
        }
        app.Logger.LogInformation("KneeWeb {Version}: data folder {DataRoot}", KneePipeline.Version, settings.FullDataRoot);
    }

    public static WebApplication MapKneeWeb(this WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        app.UseMiddleware<SecurityHeaders>();
        app.UseExceptionHandler();
        app.UseStatusCodePages();
        // The viewer's library files (public code, no data) are served before sign-in is checked.
        MapNpmAssets(app);
        app.UseKneeWebSecurity();
        app.UseAntiforgery();
        // Stylesheets and scripts are public (the sign-in page needs them); everything else needs sign-in.
        app.MapStaticAssets().AllowAnonymous();
        app.MapOpenApi("/openapi/{documentName}.json");
        app.MapKneeWebAccount();
        app.MapKneeWebApi();
        app.MapKneeWebCohortApi();
        app.MapKneeWebSampleApi();
        app.MapKneeWebModelAdminApi();
        app.MapHub<JobsHub>("/hubs/jobs");
        app.MapRazorComponents<Components.App>().AddInteractiveServerRenderMode()
            .Add(endpoint =>
            {
                // The framework script (_framework/blazor.web.js) is public like other scripts; pages stay behind sign-in.
                if (endpoint is RouteEndpointBuilder route && route.RoutePattern.RawText?.TrimStart('/').StartsWith("_framework/", StringComparison.Ordinal) == true)
                {
                    endpoint.Metadata.Add(new Microsoft.AspNetCore.Authorization.AllowAnonymousAttribute());
                }
            });
        return app;
    }

    /// <summary>
    /// Serves the front-end packages that come from npm (package.json at the repository root) under
    /// /lib: the NiiVue viewer at /lib/niivue/index.js (the ES module; index.min.js in 0.69 does not export the API). They are found by walking up from the app.
    /// </summary>
    private static void MapNpmAssets(WebApplication app)
    {
        string? nodeModules = null;
        foreach (string start in new[] { AppContext.BaseDirectory, Environment.CurrentDirectory })
        {
            for (DirectoryInfo? dir = new(start); dir is not null && nodeModules is null; dir = dir.Parent)
            {
                string candidate = Path.Combine(dir.FullName, "node_modules");
                if (Directory.Exists(Path.Combine(candidate, "@niivue", "niivue", "dist")))
                {
                    nodeModules = candidate;
                }
            }
        }

        if (nodeModules is null)
        {
            app.Logger.LogWarning("node_modules/@niivue/niivue was not found: the image viewers will say so. Run the README's set-up command.");
            return;
        }

        app.UseStaticFiles(new StaticFileOptions
        {
            FileProvider = new Microsoft.Extensions.FileProviders.PhysicalFileProvider(Path.Combine(nodeModules, "@niivue", "niivue", "dist")),
            RequestPath = "/lib/niivue",
        });
    }

    public static void ConfigureJson(JsonSerializerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower;
        options.Converters.Add(new JsonStringEnumConverter());
    }
}
