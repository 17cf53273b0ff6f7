using System.IO.Compression;
using System.Net;
using System.Text.Json;
using KneeWeb.Tests.Imaging.Io;
using KneeWeb.Tests.TestData;
using Xunit;

namespace KneeWeb.Tests.Web;

/// <summary>A DICOM zip with two series: the upload answers with the list, and the chosen series becomes the job (and what its viewer shows).</summary>
[Trait("Category", "host")]
public sealed class DicomUploadTests : IDisposable
{
    private readonly KneeWebFactory factory = new();
    private readonly TempFolder temp = new("kneeweb-dicom-upload");

    public void Dispose()
    {
        factory.Dispose();
        temp.Dispose();
    }

    [Fact]
    public async Task Two_series_are_listed_for_a_choice_and_the_chosen_one_is_analysed()
    {
        string folder = temp.File("dicom");
        PythonTools.Run($"OUT = r'{folder}'\nTWO = True\n" + DicomTests.Generator);
        string zip = temp.File("knee.zip");
        ZipFile.CreateFromDirectory(folder, zip);
        HttpClient client = factory.CreateClient();

        using HttpResponseMessage refused = await ApiClient.PostJobAsync(client, zip);
        Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
        using JsonDocument problem = JsonDocument.Parse(await refused.Content.ReadAsStringAsync());
        Assert.Equal("DICOM_ERROR", problem.RootElement.GetProperty("code").GetString());
        JsonElement[] series = [.. problem.RootElement.GetProperty("series").EnumerateArray()];
        Assert.Equal(["PD COR", "T2 SAG"], series.Select(s => s.GetProperty("description").GetString()).Order());
        Assert.Empty(Directory.GetFileSystemEntries(Path.Combine(factory.DataRoot, "uploads")));

        string key = series.Single(s => s.GetProperty("description").GetString() == "T2 SAG").GetProperty("key").GetString()!;
        Guid id = await ApiClient.SubmitAsync(client, zip, new { series = key });
        JsonElement job = await ApiClient.WaitForEndAsync(client, id, TimeSpan.FromSeconds(120));
        Assert.True(job.GetProperty("status").GetString() == "Completed", job.ToString());
        Assert.Equal("DicomZip", job.GetProperty("detected_format").GetString());
        using JsonDocument stats = JsonDocument.Parse(await client.GetStringAsync($"/v1/jobs/{id}/artifacts/stats.json"));
        // T2 SAG: 10 columns x 8 rows x 6 slices.
        Assert.Equal([10, 8, 6], stats.RootElement.GetProperty("input").GetProperty("dims").EnumerateArray().Select(d => d.GetInt32()));
        Assert.DoesNotContain("Secret", stats.RootElement.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("ID12345", stats.RootElement.ToString(), StringComparison.Ordinal);
        JsonElement metadata = stats.RootElement.GetProperty("input").GetProperty("metadata");
        Assert.Equal("T2 SAG", metadata.GetProperty("SeriesDescription").GetString());
        Assert.True(metadata.TryGetProperty("MagneticFieldStrength", out JsonElement tesla) && tesla.GetString() == "3", metadata.ToString());

        // The viewer's copy is the analysed series, not a 422 "holds 2 series; choose one".
        using HttpResponseMessage forViewer = await client.GetAsync($"/v1/jobs/{id}/input?as=nifti");
        Assert.True(forViewer.StatusCode == HttpStatusCode.OK, await forViewer.Content.ReadAsStringAsync());
        string copy = temp.File("viewer.nii.gz");
        await File.WriteAllBytesAsync(copy, await forViewer.Content.ReadAsByteArrayAsync());
        KneeWeb.Imaging.Volume shown = KneeWeb.Imaging.Io.VolumeIo.Read(copy);
        Assert.Equal((10, 8, 6), (shown.Dims.I, shown.Dims.J, shown.Dims.K));
    }
}
