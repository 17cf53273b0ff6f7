using System.Net;
using System.Text.Json;
using KneeWeb.Imaging;
using KneeWeb.Imaging.Io;
using KneeWeb.Tests.Inference;
using KneeWeb.Tests.TestData;
using Xunit;
using Microsoft.AspNetCore.Http.Connections;

namespace KneeWeb.Tests.Web;

/// <summary>Jobs that segment for real: the committed demo model through ONNX Runtime, end to end.</summary>
[Trait("Category", "host")]
public sealed class SegmentationJobTests : IDisposable
{
    private readonly TempFolder models = new("kneeweb-models");
    private readonly TempFolder inputs = new("kneeweb-inputs");
    private readonly KneeWebFactory factory;

    public SegmentationJobTests()
    {
        string repoModels = Path.Combine(ServerProcess.RepositoryRoot(), "models");
        foreach (string file in Directory.GetFiles(repoModels, "demo-knee.*"))
        {
            File.Copy(file, Path.Combine(models.Path, Path.GetFileName(file)));
        }

        // A broken copy: the checksum in its sidecar does not match its file.
        File.Copy(Path.Combine(repoModels, "demo-knee.onnx"), models.File("broken-knee.onnx"));
        string sidecar = File.ReadAllText(Path.Combine(repoModels, "demo-knee.json"))
            .Replace("\"demo-knee\"", "\"broken-knee\"", StringComparison.Ordinal);
        using (JsonDocument doc = JsonDocument.Parse(sidecar))
        {
            string sha = doc.RootElement.GetProperty("sha256").GetString()!;
            sidecar = sidecar.Replace(sha, new string('0', 64), StringComparison.Ordinal);
        }

        File.WriteAllText(models.File("broken-knee.json"), sidecar);
        factory = new KneeWebFactory(new Dictionary<string, string?> { ["KneeWeb:ModelsPath"] = models.Path });
    }

    public void Dispose()
    {
        factory.Dispose();
        models.Dispose();
        inputs.Dispose();
    }

    [Fact]
    public async Task A_job_with_the_demo_model_writes_a_segmentation_in_the_input_geometry_that_matches_the_truth()
    {
        HttpClient client = factory.CreateClient();
        (Volume image, byte[] truth) = SyntheticKnee.Create(new Vec3d(0.5, 0.5, 1.0), sizeMm: 40);
        string path = inputs.File("synthetic.nii.gz");
        VolumeIo.Write(image, path);

        await using JobHubClient hub = await JobHubClient.ConnectAsync(factory.Server, HttpTransportType.LongPolling);
        await hub.InvokeAsync("JoinAll");
        Guid id = await ApiClient.SubmitAsync(client, path, new { model = "demo-knee", device = "cpu" });
        await hub.InvokeAsync("Join", id.ToString());

        JsonElement job = await ApiClient.WaitForEndAsync(client, id, TimeSpan.FromMinutes(3));
        Assert.True(job.GetProperty("status").GetString() == "Completed", job.ToString());
        HubEvent preview = await hub.NextEventAsync(TimeSpan.FromMinutes(2), m => m.Target == "preview");
        byte[] png = Convert.FromBase64String(preview.Payload.GetProperty("png_base64").GetString()!);
        Assert.Equal([0x89, (byte)'P', (byte)'N', (byte)'G'], png[..4]);

        string segPath = inputs.File("seg.nii.gz");
        await File.WriteAllBytesAsync(segPath, await client.GetByteArrayAsync($"/v1/jobs/{id}/artifacts/segmentation.nii.gz"));
        Volume seg = VolumeIo.Read(segPath);
        Assert.Equal(image.Dims, seg.Dims);
        Assert.True(seg.Geometry.IndexToRas.ApproximatelyEquals(image.Geometry.IndexToRas, 1e-6));
        byte[] labels = seg.Span<byte>().ToArray();
        foreach (byte label in truth.Distinct().Where(l => l != 0))
        {
            double dice = SyntheticKnee.Dice(labels, truth, label);
            Assert.True(dice >= 0.9, $"Dice of label {label} is {dice:0.000}.");
        }

        using JsonDocument stats = JsonDocument.Parse(await client.GetStringAsync($"/v1/jobs/{id}/artifacts/stats.json"));
        JsonElement segmentation = stats.RootElement.GetProperty("segmentation");
        Assert.Equal("cpu", segmentation.GetProperty("execution_provider").GetString());
        Assert.Equal("demo-knee", stats.RootElement.GetProperty("model").GetProperty("name").GetString());
        Assert.True(stats.RootElement.GetProperty("volumes_mm3").EnumerateObject().Any());
        Assert.True(stats.RootElement.GetProperty("timings_s").GetProperty("Running segmentation").GetDouble() > 0);
        string artifacts = await client.GetStringAsync($"/v1/jobs/{id}/artifacts");
        Assert.Contains("segmentation.nrrd", artifacts, StringComparison.Ordinal);
        Assert.Contains("meshes/femur.vtk", artifacts, StringComparison.Ordinal);
        Assert.Contains("thickness.csv", artifacts, StringComparison.Ordinal);
        JsonElement[] steps = [.. stats.RootElement.GetProperty("steps").EnumerateArray()];
        Assert.Equal("finished", steps.Single(s => s.GetProperty("name").GetString() == "Generating 3D meshes").GetProperty("state").GetString());
        Assert.Equal("finished", steps.Single(s => s.GetProperty("name").GetString() == "Calculating cartilage thickness").GetProperty("state").GetString());
        Assert.True(stats.RootElement.GetProperty("meshes").GetProperty("femur").GetProperty("vertices").GetInt32() > 100);
        Assert.Equal(JsonValueKind.Object, stats.RootElement.GetProperty("thickness_mm").ValueKind);
    }

    [Fact]
    public async Task A_model_with_a_broken_sidecar_is_listed_disabled_with_its_reason_and_cannot_be_chosen()
    {
        HttpClient client = factory.CreateClient();
        using JsonDocument info = JsonDocument.Parse(await client.GetStringAsync("/v1/server/info"));
        JsonElement broken = info.RootElement.GetProperty("models").EnumerateArray().Single(m => m.GetProperty("name").GetString() == "broken-knee");
        Assert.False(broken.GetProperty("enabled").GetBoolean());
        Assert.Contains("sha256", broken.GetProperty("disabled_reason").GetString(), StringComparison.OrdinalIgnoreCase);
        Assert.Contains("cpu", info.RootElement.GetProperty("execution_providers").EnumerateArray().Select(p => p.GetString()!.ToLowerInvariant()).ToList()[^1], StringComparison.Ordinal);

        string page = await client.GetStringAsync("/models");
        Assert.Contains("broken-knee", page, StringComparison.Ordinal);
        Assert.Contains("disabled-reason", page, StringComparison.Ordinal);

        using HttpResponseMessage response = await ApiClient.PostJobAsync(client, TestVolumes.WriteRamp(inputs.Path), new { model = "broken-knee" });
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        string body = await response.Content.ReadAsStringAsync();
        Assert.Contains("CONFIG_ERROR", body, StringComparison.Ordinal);
        Assert.Contains("disabled", body, StringComparison.Ordinal);
    }
}
