using KneeWeb.Jobs;
using KneeWeb.Pipeline;
using KneeWeb.Setup;
using Microsoft.Extensions.Options;

namespace KneeWeb.Api;

/// <summary>What `/v1/server/info` and the About page report.</summary>
public sealed class ServerInfoProvider(JobService jobs, SegmentationEngine engine, IJobExecutor executor, IOptions<KneeWebOptions> options)
{
    public async Task<ServerInfoView> GetAsync(CancellationToken ct)
    {
        KneeWebOptions settings = options.Value;
        long free = -1;
        try
        {
            Directory.CreateDirectory(settings.FullDataRoot);
            free = new DriveInfo(settings.FullDataRoot).AvailableFreeSpace;
        }
        catch (IOException)
        {
        }

        int queued = await jobs.CountQueuedAsync(ct);
        int running = (await jobs.ListAsync(new JobFilter(Data.JobStatus.Running), ct)).Count;
        return new ServerInfoView(
            "KneeWeb",
            KneePipeline.Version,
            System.Runtime.InteropServices.RuntimeInformation.FrameworkDescription,
            engine.ExecutionProviders,
            engine.RuntimeError ?? $"ONNX Runtime {engine.Runtime?.Version}",
            Models(),
            queued,
            running,
            free,
            executor.Concurrency,
            await executor.HealthAsync(ct));
    }

    public List<ModelView> Models()
    {
        var models = new List<ModelView>();
        foreach (Inference.ModelEntry m in engine.Models)
        {
            models.Add(new ModelView(m.Name, m.Version, m.Description, m.Enabled, m.DisabledReason, m.SwitchedOff, m.ComputedSha256, m.Sidecar?.NnUnet?.Source));
        }

        return models;
    }
}
