using KneeWeb.Cli;
using KneeWeb.Setup;

if (CliApp.IsCommandLine(args))
{
    return await CliApp.RunAsync(args);
}

WebApplicationBuilder builder = WebApplication.CreateBuilder(args);
builder.AddKneeWebOptions()
       .AddKneeWebData()
       .AddKneeWebJobs()
       .AddKneeWebSecurity()
       .AddKneeWebApi()
       .AddKneeWebUi();

WebApplication app = builder.Build();
await app.InitializeKneeWebAsync();
app.MapKneeWeb();
await app.RunAsync();
return 0;

/// <summary>Entry point type, public for WebApplicationFactory in the tests.</summary>
public partial class Program;
