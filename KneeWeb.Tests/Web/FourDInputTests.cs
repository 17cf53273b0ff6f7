using System.Text.Json;
using KneeWeb.Imaging;
using KneeWeb.Imaging.Io;
using KneeWeb.Tests.TestData;
using Xunit;

namespace KneeWeb.Tests.Web;

/// <summary>A 4D input keeps all its volumes; the job analyses the frame it asks for and records the choice.</summary>
[Trait("Category", "host")]
public sealed class FourDInputTests : IDisposable
{
    private readonly KneeWebFactory factory = new();
    private readonly TempFolder inputs = new("kneeweb-4d");

    public void Dispose()
    {
        factory.Dispose();
        inputs.Dispose();
    }

    private string Write4D()
    {
        var dims = new Dims3(8, 6, 4);
        int n = (int)dims.VoxelCount;
        var voxels = new float[n * 3];
        for (int frame = 0; frame < 3; frame++)
        {
            // Frame f holds the constant 10 * (f + 1).
            Array.Fill(voxels, 10f * (frame + 1), frame * n, n);
        }

        var volume = new Volume(new VolumeGeometry(dims, AffineRas.FromSpacing(new Vec3d(1, 1, 2), new Vec3d(0, 0, 0))), VoxelType.Float32, voxels, frames: 3);
        string path = inputs.File("dynamic.nii.gz");
        VolumeIo.Write(volume, path);
        return path;
    }

    [Fact]
    public async Task The_chosen_frame_is_analysed_and_recorded_and_a_missing_frame_is_a_config_error()
    {
        HttpClient client = factory.CreateClient();
        string path = Write4D();

        Guid id = await ApiClient.SubmitAsync(client, path, new { frame = 1 });
        JsonElement job = await ApiClient.WaitForEndAsync(client, id);
        Assert.Equal("Completed", job.GetProperty("status").GetString());
        using JsonDocument stats = JsonDocument.Parse(await client.GetStringAsync($"/v1/jobs/{id}/artifacts/stats.json"));
        JsonElement input = stats.RootElement.GetProperty("input");
        Assert.Equal(3, input.GetProperty("frames").GetInt32());
        Assert.Equal(1, input.GetProperty("frame_used").GetInt32());
        Assert.Equal(20, stats.RootElement.GetProperty("image_stats").GetProperty("mean").GetDouble());

        Guid bad = await ApiClient.SubmitAsync(client, path, new { frame = 5 });
        JsonElement failed = await ApiClient.WaitForEndAsync(client, bad);
        Assert.Equal("Failed", failed.GetProperty("status").GetString());
        Assert.Equal("CONFIG_ERROR", failed.GetProperty("error").GetProperty("code").GetString());
        Assert.Contains("Frame 5", failed.GetProperty("error").GetProperty("message").GetString(), StringComparison.Ordinal);
    }
}
