using KneeWeb.Tests.TestData;
using Microsoft.AspNetCore.Http.Connections;
using Xunit;

namespace KneeWeb.Tests.Web;

/// <summary>
/// The jobs hub over each SignalR transport, with the SignalR .NET client: in memory
/// (WebApplicationFactory) and against the real server process over real sockets.
/// </summary>
[Trait("Category", "host")]
public sealed class HubTransportTests : IDisposable
{
    private readonly TempFolder inputs = new("kneeweb-inputs");
    private readonly KneeWebFactory factory = new(new Dictionary<string, string?> { ["KneeWeb:Jobs:DiagnosticStepDelay"] = "00:00:00.050" });

    public void Dispose()
    {
        factory.Dispose();
        inputs.Dispose();
    }

    [Theory]
    [InlineData(HttpTransportType.WebSockets)]
    [InlineData(HttpTransportType.LongPolling)]
    public async Task A_client_joins_and_sees_progress_then_completed_then_the_state_on_join(HttpTransportType transport)
    {
        HttpClient client = factory.CreateClient();
        await using JobHubClient hub = await JobHubClient.ConnectAsync(factory.Server, transport);
        await hub.InvokeAsync("JoinAll");

        Guid id = await ApiClient.SubmitAsync(client, TestVolumes.WriteRamp(inputs.Path));
        await HubAssertions.ProgressThenCompletedAsync(hub, id);

        Assert.True(await hub.InvokeAsync<bool>("Join", id.ToString()));
        HubEvent state = await hub.NextEventAsync(TimeSpan.FromMinutes(2), m => m.Target == "progress" && m.IsAbout(id));
        Assert.Equal("Completed", state.Payload.GetProperty("status").GetString());
        Assert.False(await hub.InvokeAsync<bool>("Join", Guid.NewGuid().ToString()));
        Assert.False(await hub.InvokeAsync<bool>("Join", "not-a-job"));
    }
}

/// <summary>The same over real sockets to a real Kestrel process, both transports at once.</summary>
[Trait("Category", "process")]
public sealed class HubOverRealSocketsTests : IDisposable
{
    private readonly TempFolder data = new("kneeweb-process");
    private readonly TempFolder inputs = new("kneeweb-inputs");

    public void Dispose()
    {
        data.Dispose();
        inputs.Dispose();
    }

    [Fact]
    public async Task WebSockets_and_LongPolling_clients_of_a_real_server_both_see_a_job_run()
    {
        await using ServerProcess server = await ServerProcess.StartAsync(data.Path, new Dictionary<string, string> { ["KneeWeb__Jobs__DiagnosticStepDelay"] = "00:00:00.050" });
        await using JobHubClient sockets = await JobHubClient.ConnectAsync(server.BaseAddress, HttpTransportType.WebSockets);
        await using JobHubClient polling = await JobHubClient.ConnectAsync(server.BaseAddress, HttpTransportType.LongPolling);
        await sockets.InvokeAsync("JoinAll");
        await polling.InvokeAsync("JoinAll");

        using HttpClient client = server.CreateClient();
        Guid id = await ApiClient.SubmitAsync(client, TestVolumes.WriteRamp(inputs.Path));
        await HubAssertions.ProgressThenCompletedAsync(sockets, id);
        await HubAssertions.ProgressThenCompletedAsync(polling, id);

        // Without a token the real server refuses both transports.
        await Assert.ThrowsAnyAsync<Exception>(() => JobHubClient.ConnectAsync(server.BaseAddress, HttpTransportType.WebSockets, token: null));
        await Assert.ThrowsAnyAsync<Exception>(() => JobHubClient.ConnectAsync(server.BaseAddress, HttpTransportType.LongPolling, token: null));
    }
}

internal static class HubAssertions
{
    /// <summary>Reads the job's events in order: progress with rising steps, then completed at 100 %.</summary>
    public static async Task ProgressThenCompletedAsync(JobHubClient hub, Guid id)
    {
        var steps = new List<int>();
        while (true)
        {
            HubEvent next = await hub.NextEventAsync(TimeSpan.FromMinutes(5), m => m.IsAbout(id));
            Assert.NotEqual("failed", next.Target);
            if (next.Target == "preview")
            {
                continue;
            }

            steps.Add(next.Payload.GetProperty("step_index").GetInt32());
            if (next.Target == "completed")
            {
                Assert.Equal("Completed", next.Payload.GetProperty("status").GetString());
                Assert.Equal(100, next.Payload.GetProperty("percent").GetDouble());
                break;
            }

            Assert.Equal("progress", next.Target);
        }

        Assert.True(steps.Count >= 2, $"Only {steps.Count} events before completed.");
        Assert.Equal(steps.Order(), steps);
    }
}
