using System.Text.Json;
using KneeWeb.Tests.TestData;
using Xunit;
using Microsoft.AspNetCore.Http.Connections;

namespace KneeWeb.Tests.Web;

/// <summary>
/// A bounded load on loopback against a real server process: 50 hub clients watching every job
/// while 10 uploads arrive at once. Fixed counts, a hang guard, 127.0.0.1 only. Correctness only:
/// every job completes, every watcher sees every completion, the pages keep answering, memory stays
/// bounded. How fast (page latency under this load) is `KneeWeb.Benchmarks -- latency`.
/// </summary>
[Trait("Category", "process")]
public sealed class LoadTests : IDisposable
{
    private const int Watchers = 50;
    private const int Uploads = 10;
    private readonly TempFolder data = new("kneeweb-load");
    private readonly TempFolder inputs = new("kneeweb-inputs");

    public void Dispose()
    {
        data.Dispose();
        inputs.Dispose();
    }

    [Fact]
    public async Task Fifty_watchers_and_ten_simultaneous_uploads_all_finish_with_the_site_responsive()
    {
        await using ServerProcess server = await ServerProcess.StartAsync(data.Path, new Dictionary<string, string>
        {
            ["KneeWeb__Jobs__DiagnosticStepDelay"] = "00:00:00.100",
            ["Logging__LogLevel__Default"] = "Warning",
        });
        using var overall = new CancellationTokenSource(TimeSpan.FromMinutes(20));
        var watchers = new List<JobHubClient>();
        for (int n = 0; n < Watchers; n++)
        {
            // Real sockets to the real server, half the watchers on each transport.
            JobHubClient hub = await JobHubClient.ConnectAsync(server.BaseAddress, n % 2 == 0 ? HttpTransportType.WebSockets : HttpTransportType.LongPolling);
            await hub.InvokeAsync("JoinAll");
            watchers.Add(hub);
        }

        // A 192x192x64 int16 volume (~4.7 MB uncompressed) per upload.
        string input = inputs.File("load.nii");
        KneeWeb.Imaging.Io.VolumeIo.Write(TestVolumes.Ramp(192, 192, 64), input);

        using HttpClient client = server.CreateClient();
        int pagesServed = 0;
        using var probing = CancellationTokenSource.CreateLinkedTokenSource(overall.Token);
        Task probe = Task.Run(async () =>
        {
            using HttpClient probeClient = server.CreateClient();
            do
            {
                using HttpResponseMessage r = await probeClient.GetAsync("/jobs", CancellationToken.None);
                r.EnsureSuccessStatusCode();
                Interlocked.Increment(ref pagesServed);
                await Task.Delay(100, CancellationToken.None);
            }
            while (!probing.IsCancellationRequested);
        }, CancellationToken.None);

        Guid[] ids = await Task.WhenAll(Enumerable.Range(0, Uploads).Select(_ => ApiClient.SubmitAsync(client, input)));
        foreach (Guid id in ids)
        {
            JsonElement job = await ApiClient.WaitForEndAsync(client, id);
            Assert.Equal("Completed", job.GetProperty("status").GetString());
        }

        await probing.CancelAsync();
        await probe;

        // Every watcher saw every job complete.
        foreach (JobHubClient hub in watchers)
        {
            var completed = new HashSet<Guid>();
            while (completed.Count < Uploads)
            {
                HubEvent message = await hub.NextEventAsync(TimeSpan.FromMinutes(5), m => m.Target == "completed");
                completed.Add(message.JobId!.Value);
            }

            Assert.Subset(completed, ids.ToHashSet());
        }

        long peakKb = PeakResidentKb(server.Pid);
        // The probe threw on any answer but 200 (awaited above), and asks at least once whatever the timing.
        Assert.True(pagesServed > 0, "The /jobs page never answered during the load.");
        Assert.True(peakKb < 2L * 1024 * 1024, $"Server peak resident memory {peakKb / 1024} MB.");
        string log = server.Log;
        Assert.DoesNotContain("database is locked", log, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("SQLITE_BUSY", log, StringComparison.Ordinal);

        foreach (JobHubClient hub in watchers)
        {
            await hub.DisposeAsync();
        }
    }

    private static long PeakResidentKb(int pid)
    {
        foreach (string line in File.ReadLines($"/proc/{pid}/status"))
        {
            if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
            {
                return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], System.Globalization.CultureInfo.InvariantCulture);
            }
        }

        return -1;
    }
}
