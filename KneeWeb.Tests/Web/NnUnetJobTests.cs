using System.Text.Json;
using KneeWeb.Imaging;
using KneeWeb.Imaging.Io;
using KneeWeb.Tests.TestData;
using Microsoft.AspNetCore.Http.Connections;
using Xunit;

namespace KneeWeb.Tests.Web;

/// <summary>An imported nnU-Net model (the fixture networks) as a site job: upload, live progress over the hub, results.</summary>
[Trait("Category", "host")]
public sealed class NnUnetJobTests : IDisposable
{
    private readonly TempFolder models = new("kneeweb-nnunet-site-models");
    private readonly KneeWebFactory factory;

    public NnUnetJobTests()
    {
        // The committed trained folder through KneeWeb's own importer, as an admin would install it.
        Inference.NnUnet.NnUnetFixtures.Import(Inference.NnUnet.NnUnetFixtures.Plain, models.Path, "synonyms-fullres");
        factory = new KneeWebFactory(new Dictionary<string, string?> { ["KneeWeb:ModelsPath"] = models.Path });
    }

    public void Dispose()
    {
        factory.Dispose();
        models.Dispose();
    }

    [Fact]
    public async Task An_imported_model_runs_as_a_job_with_live_progress_and_results()
    {
        HttpClient client = factory.CreateClient();
        string image = TestFiles.PathOf("NnUnet/reference/aniso.nii.gz");
        await using JobHubClient hub = await JobHubClient.ConnectAsync(factory.Server, HttpTransportType.WebSockets);
        await hub.InvokeAsync("JoinAll");
        Guid id = await ApiClient.SubmitAsync(client, image, new { model = "synonyms-fullres", device = "cpu", mirroring = "off", thickness = false });
        await hub.InvokeAsync("Join", id.ToString());

        var stepsSeen = new List<string>();
        while (true)
        {
            HubEvent message = await hub.NextEventAsync(TimeSpan.FromMinutes(3), m => m.Target is "progress" or "completed");
            if (message.Target == "completed")
            {
                break;
            }

            stepsSeen.Add(message.Payload.GetProperty("step").GetString()!);
        }

        Assert.Contains("Running segmentation", stepsSeen);
        JsonElement job = await ApiClient.WaitForEndAsync(client, id, TimeSpan.FromMinutes(1));
        Assert.True(job.GetProperty("status").GetString() == "Completed", job.ToString());

        using JsonDocument stats = JsonDocument.Parse(await client.GetStringAsync($"/v1/jobs/{id}/artifacts/stats.json"));
        JsonElement segmentation = stats.RootElement.GetProperty("segmentation");
        Assert.Equal("synonyms-fullres", segmentation.GetProperty("model").GetString());
        Assert.False(segmentation.GetProperty("mirrored").GetBoolean());
        Assert.Equal("off", stats.RootElement.GetProperty("options").GetProperty("mirroring").GetString());

        using var folder = new TempFolder("kneeweb-nnunet-job");
        string segPath = folder.File("seg.nii.gz");
        await File.WriteAllBytesAsync(segPath, await client.GetByteArrayAsync($"/v1/jobs/{id}/artifacts/segmentation.nii.gz"));
        Volume seg = VolumeIo.Read(segPath);
        Volume input = VolumeIo.Read(image);
        Assert.Equal(input.Dims, seg.Dims);
        Assert.True(seg.Geometry.IndexToRas.ApproximatelyEquals(input.Geometry.IndexToRas, 1e-4));
        Assert.True(seg.Span<byte>().ToArray().Any(l => l != 0), "the job's segmentation is empty");
    }

    [Fact]
    public async Task The_mirroring_option_reaches_the_job_and_its_run()
    {
        // The same multipart form the Upload page's script posts, with the page's mirroring choice.
        HttpClient client = factory.CreateClient();
        Guid id = await ApiClient.SubmitAsync(client, TestFiles.PathOf("NnUnet/reference/aniso.nii.gz"), new { model = "synonyms-fullres", device = "cpu", mirroring = "on", thickness = false });
        JsonElement job = await ApiClient.WaitForEndAsync(client, id);
        Assert.True(job.GetProperty("status").GetString() == "Completed", job.ToString());

        using JsonDocument stats = JsonDocument.Parse(await client.GetStringAsync($"/v1/jobs/{id}/artifacts/stats.json"));
        Assert.Equal("on", stats.RootElement.GetProperty("options").GetProperty("mirroring").GetString());
        Assert.True(stats.RootElement.GetProperty("segmentation").GetProperty("mirrored").GetBoolean());
    }
}
