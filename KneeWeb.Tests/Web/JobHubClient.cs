using System.Text.Json;
using System.Threading.Channels;
using Microsoft.AspNetCore.Http.Connections;
using Microsoft.AspNetCore.SignalR.Client;
using Microsoft.AspNetCore.TestHost;

namespace KneeWeb.Tests.Web;

/// <summary>
/// A test's view of `/hubs/jobs` through the SignalR .NET client (Microsoft.AspNetCore.SignalR.Client):
/// it connects over the transport the test names, to the in-memory test server or to a real Kestrel
/// process, records every `progress`, `preview`, `completed` and `failed` event as it arrives, and
/// lets the test wait for the next event it cares about.
/// </summary>
public sealed class JobHubClient : IAsyncDisposable
{
    /// <summary>The events the hub sends (see Api.JobsHub); each carries one JSON object.</summary>
    public static readonly IReadOnlyList<string> EventNames = ["progress", "preview", "completed", "failed"];

    // A hang guard, not a speed bound: the suite must pass on a fully loaded machine.
    private static readonly TimeSpan InvokeLimit = TimeSpan.FromMinutes(2);
    private readonly HubConnection connection;
    private readonly Channel<HubEvent> events = Channel.CreateUnbounded<HubEvent>();
    private readonly List<HubEvent> backlog = [];
    private readonly TaskCompletionSource closed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private JobHubClient(HubConnection connection)
    {
        this.connection = connection;
        connection.Closed += _ =>
        {
            closed.TrySetResult();
            return Task.CompletedTask;
        };
        foreach (string name in EventNames)
        {
            connection.On<JsonElement>(name, payload => events.Writer.TryWrite(new HubEvent(name, payload.Clone(), DateTime.UtcNow)));
        }
    }

    /// <summary>Completes when the connection ends (the server closed it, or the client was disposed).</summary>
    public Task Closed => closed.Task;

    /// <summary>
    /// Connects to a WebApplicationFactory's in-memory server: LongPolling goes through its HTTP handler,
    /// WebSockets (negotiation skipped, as the server allows) through its WebSocket client. The token goes
    /// in the Authorization header; null connects with no token. Extra headers (Origin, Cookie) go on
    /// every request of the connection.
    /// </summary>
    public static Task<JobHubClient> ConnectAsync(TestServer server, HttpTransportType transport, string? token = TestAccounts.AdminToken, IReadOnlyDictionary<string, string>? headers = null)
    {
        ArgumentNullException.ThrowIfNull(server);
        return StartAsync(new Uri(server.BaseAddress, "hubs/jobs"), transport, token, headers, options =>
        {
            if (transport == HttpTransportType.WebSockets)
            {
                options.WebSocketFactory = async (context, ct) =>
                {
                    WebSocketClient client = server.CreateWebSocketClient();
                    client.ConfigureRequest = request =>
                    {
                        if (token is not null)
                        {
                            request.Headers.Authorization = "Bearer " + token;
                        }

                        foreach ((string name, string value) in options.Headers)
                        {
                            request.Headers[name] = value;
                        }
                    };
                    return await client.ConnectAsync(context.Uri, ct);
                };
            }
            else
            {
                options.HttpMessageHandlerFactory = _ => server.CreateHandler();
            }
        });
    }

    /// <summary>Connects to a real server (e.g. a <see cref="ServerProcess"/>) over real sockets.</summary>
    public static Task<JobHubClient> ConnectAsync(Uri baseAddress, HttpTransportType transport, string? token = TestAccounts.AdminToken, IReadOnlyDictionary<string, string>? headers = null)
    {
        ArgumentNullException.ThrowIfNull(baseAddress);
        return StartAsync(new Uri(baseAddress, "hubs/jobs"), transport, token, headers, _ => { });
    }

    /// <summary>Calls a hub method that answers a value (Join answers whether the caller may see the job).</summary>
    public async Task<T> InvokeAsync<T>(string method, params object?[] arguments)
    {
        using var limit = new CancellationTokenSource(InvokeLimit);
        return await connection.InvokeCoreAsync<T>(method, arguments, limit.Token);
    }

    /// <summary>Calls a hub method that answers nothing (JoinAll, Leave).</summary>
    public async Task InvokeAsync(string method, params object?[] arguments)
    {
        using var limit = new CancellationTokenSource(InvokeLimit);
        await connection.InvokeCoreAsync(method, arguments, limit.Token);
    }

    /// <summary>The next event matching the filter; others wait in a backlog for a later call.</summary>
    public async Task<HubEvent> NextEventAsync(TimeSpan timeout, Func<HubEvent, bool>? filter = null)
    {
        filter ??= _ => true;
        int index = backlog.FindIndex(e => filter(e));
        if (index >= 0)
        {
            HubEvent found = backlog[index];
            backlog.RemoveAt(index);
            return found;
        }

        using var cts = new CancellationTokenSource(timeout);
        try
        {
            while (true)
            {
                HubEvent next = await events.Reader.ReadAsync(cts.Token);
                if (filter(next))
                {
                    return next;
                }

                backlog.Add(next);
            }
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"No matching hub event within {timeout}.");
        }
    }

    public async ValueTask DisposeAsync()
    {
        await connection.DisposeAsync();
        events.Writer.TryComplete();
    }

    private static async Task<JobHubClient> StartAsync(Uri hub, HttpTransportType transport, string? token, IReadOnlyDictionary<string, string>? headers, Action<Microsoft.AspNetCore.Http.Connections.Client.HttpConnectionOptions> configure)
    {
        HubConnection connection = new HubConnectionBuilder()
            .WithUrl(hub, options =>
            {
                options.Transports = transport;
                // The hub accepts WebSockets without negotiation; LongPolling needs the negotiate round trip.
                options.SkipNegotiation = transport == HttpTransportType.WebSockets;
                if (token is not null)
                {
                    options.AccessTokenProvider = () => Task.FromResult<string?>(token);
                }

                foreach ((string name, string value) in headers ?? new Dictionary<string, string>())
                {
                    options.Headers[name] = value;
                }

                configure(options);
            })
            .Build();
        var client = new JobHubClient(connection);
        try
        {
            using var limit = new CancellationTokenSource(InvokeLimit);
            await connection.StartAsync(limit.Token);
        }
        catch
        {
            await client.DisposeAsync();
            throw;
        }

        return client;
    }
}

/// <summary>One hub event: its name, its JSON object and when this client received it.</summary>
public sealed record HubEvent(string Target, JsonElement Payload, DateTime ReceivedUtc)
{
    /// <summary>Whether the event is about the given job (events name it job_id; the state sent on Join, id).</summary>
    public bool IsAbout(Guid jobId) => JobId == jobId;

    /// <summary>The job the event is about, if it names one.</summary>
    public Guid? JobId =>
        Payload.ValueKind == JsonValueKind.Object
        && (Payload.TryGetProperty("job_id", out JsonElement id) || Payload.TryGetProperty("id", out id))
        && id.TryGetGuid(out Guid value) ? value : null;
}
