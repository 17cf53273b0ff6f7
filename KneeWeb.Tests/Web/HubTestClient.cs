using Xunit;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using System.Threading.Channels;

namespace KneeWeb.Tests.Web;

/// <summary>
/// A minimal SignalR client speaking the JSON hub protocol over a WebSocket, as any script or
/// other-language client would. (The .NET SignalR client package is absent from the registry copy.)
/// </summary>
public sealed class HubTestClient : IAsyncDisposable
{
    private const char RecordSeparator = '\u001e';
    private readonly WebSocket socket;
    private readonly Channel<HubMessage> messages = Channel.CreateUnbounded<HubMessage>();
    private readonly CancellationTokenSource stop = new();
    private readonly Task receiveLoop;
    private readonly List<HubMessage> backlog = [];
    private readonly TaskCompletionSource closed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int invocationId;

    /// <summary>Completes when the server closes (or aborts) the connection.</summary>
    public Task Closed => closed.Task;

    private HubTestClient(WebSocket socket)
    {
        this.socket = socket;
        receiveLoop = Task.Run(ReceiveAsync);
    }

    /// <summary>Connects as the test Admin (its API token goes in access_token=, as browsers' WebSockets must).</summary>
    public static Task<HubTestClient> ConnectAsync(Func<Uri, CancellationToken, Task<WebSocket>> connect, Uri hubUri) =>
        ConnectAsync(connect, hubUri, TestAccounts.AdminToken);

    /// <summary>Connects with the given API token, or with none (null).</summary>
    public static async Task<HubTestClient> ConnectAsync(Func<Uri, CancellationToken, Task<WebSocket>> connect, Uri hubUri, string? token)
    {
        ArgumentNullException.ThrowIfNull(connect);
        ArgumentNullException.ThrowIfNull(hubUri);
        if (token is not null && !hubUri.Query.Contains("access_token=", StringComparison.Ordinal))
        {
            hubUri = new Uri(hubUri + (hubUri.Query.Length > 0 ? "&" : "?") + "access_token=" + Uri.EscapeDataString(token));
        }

        WebSocket socket = await connect(hubUri, CancellationToken.None);
        await SendRawAsync(socket, "{\"protocol\":\"json\",\"version\":1}");
        var client = new HubTestClient(socket);
        HubMessage handshake = await client.NextAsync(TimeSpan.FromMinutes(2), m => m.IsHandshake);
        Assert.True(handshake.Error is null, $"Hub handshake failed: {handshake.Error}");
        return client;
    }

    /// <summary>Calls a hub method and returns its result.</summary>
    public async Task<JsonElement?> InvokeAsync(string target, params object[] arguments)
    {
        string id = Interlocked.Increment(ref invocationId).ToString(System.Globalization.CultureInfo.InvariantCulture);
        string json = JsonSerializer.Serialize(new { type = 1, invocationId = id, target, arguments });
        await SendRawAsync(socket, json);
        HubMessage completion = await NextAsync(TimeSpan.FromMinutes(2), m => m.Type == 3 && m.InvocationId == id);
        Assert.True(completion.Error is null, $"Hub method {target} failed: {completion.Error}");
        return completion.Result;
    }

    /// <summary>The next server-to-client event matching the filter.</summary>
    public Task<HubMessage> NextEventAsync(TimeSpan timeout, Func<HubMessage, bool>? filter = null) =>
        NextAsync(timeout, m => m.Type == 1 && (filter is null || filter(m)));

    /// <summary>The next message matching the filter; others wait in a backlog for a later call.</summary>
    public async Task<HubMessage> NextAsync(TimeSpan timeout, Func<HubMessage, bool> filter)
    {
        ArgumentNullException.ThrowIfNull(filter);
        int index = backlog.FindIndex(m => filter(m));
        if (index >= 0)
        {
            HubMessage found = backlog[index];
            backlog.RemoveAt(index);
            return found;
        }

        using var cts = new CancellationTokenSource(timeout);
        try
        {
            while (true)
            {
                HubMessage message = await messages.Reader.ReadAsync(cts.Token);
                if (filter(message))
                {
                    return message;
                }

                backlog.Add(message);
            }
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"No matching hub message within {timeout}.");
        }
    }

    public async ValueTask DisposeAsync()
    {
        await stop.CancelAsync();
        try
        {
            if (socket.State == WebSocketState.Open)
            {
                await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "done", CancellationToken.None);
            }
        }
        catch (WebSocketException)
        {
        }

        try
        {
            await receiveLoop;
        }
        catch (OperationCanceledException)
        {
        }
        catch (ObjectDisposedException)
        {
            // The test server's socket may be torn down while the loop still waits for a frame.
        }

        socket.Dispose();
        stop.Dispose();
    }

    private static Task SendRawAsync(WebSocket socket, string json) =>
        socket.SendAsync(Encoding.UTF8.GetBytes(json + RecordSeparator), WebSocketMessageType.Text, true, CancellationToken.None);

    private async Task ReceiveAsync()
    {
        var buffer = new byte[1 << 16];
        var pending = new StringBuilder();
        try
        {
            while (!stop.IsCancellationRequested && socket.State == WebSocketState.Open)
            {
                WebSocketReceiveResult result = await socket.ReceiveAsync(buffer, stop.Token);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    break;
                }

                pending.Append(Encoding.UTF8.GetString(buffer, 0, result.Count));
                string text = pending.ToString();
                int end;
                while ((end = text.IndexOf(RecordSeparator, StringComparison.Ordinal)) >= 0)
                {
                    string frame = text[..end];
                    text = text[(end + 1)..];
                    messages.Writer.TryWrite(HubMessage.Parse(frame, DateTime.UtcNow));
                }

                pending.Clear().Append(text);
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or WebSocketException)
        {
        }
        finally
        {
            messages.Writer.TryComplete();
            closed.TrySetResult();
        }
    }
}

/// <summary>One hub protocol message with the time it arrived.</summary>
public sealed record HubMessage(int Type, string? Target, string? InvocationId, JsonElement[] Arguments, JsonElement? Result, string? Error, bool IsHandshake, DateTime ReceivedUtc)
{
    public static HubMessage Parse(string json, DateTime receivedUtc)
    {
        using JsonDocument doc = JsonDocument.Parse(json);
        JsonElement root = doc.RootElement;
        if (!root.TryGetProperty("type", out JsonElement typeElement))
        {
            return new HubMessage(0, null, null, [], null, root.TryGetProperty("error", out JsonElement e) ? e.GetString() : null, true, receivedUtc);
        }

        JsonElement[] args = root.TryGetProperty("arguments", out JsonElement a) ? [.. a.EnumerateArray().Select(x => x.Clone())] : [];
        return new HubMessage(
            typeElement.GetInt32(),
            root.TryGetProperty("target", out JsonElement t) ? t.GetString() : null,
            root.TryGetProperty("invocationId", out JsonElement i) ? i.GetString() : null,
            args,
            root.TryGetProperty("result", out JsonElement r) ? r.Clone() : null,
            root.TryGetProperty("error", out JsonElement err) ? err.GetString() : null,
            false,
            receivedUtc);
    }
}
