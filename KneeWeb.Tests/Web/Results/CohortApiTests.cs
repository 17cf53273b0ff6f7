using System.Net;
using System.Text.Json;
using KneeWeb.Tests.TestData;
using Xunit;

namespace KneeWeb.Tests.Web.Results;

/// <summary>The read-only result endpoints in the real host: a job's input for the viewer, and the cohort as JSON and CSV.</summary>
[Trait("Category", "host")]
public sealed class CohortApiTests : IDisposable
{
    private readonly TempFolder inputs = new("kneeweb-inputs");
    private readonly KneeWebFactory factory = new();

    public void Dispose()
    {
        factory.Dispose();
        inputs.Dispose();
    }

    [Fact]
    public async Task The_cohort_csv_holds_one_row_per_filtered_job_and_the_input_streams_back_unchanged()
    {
        HttpClient client = factory.CreateClient();
        string input = TestVolumes.WriteRamp(inputs.Path, "knee.nii.gz");
        Guid a = await ApiClient.SubmitAsync(client, input, new { subject_id = "COH-ALPHA", notes = "visit 1", tags = "#trial" });
        Guid b = await ApiClient.SubmitAsync(client, input, new { subject_id = "COH-BETA", notes = "visit 1" });
        Assert.Equal("Completed", (await ApiClient.WaitForEndAsync(client, a, TimeSpan.FromMinutes(2))).GetProperty("status").GetString());
        Assert.Equal("Completed", (await ApiClient.WaitForEndAsync(client, b, TimeSpan.FromMinutes(2))).GetProperty("status").GetString());

        HttpResponseMessage all = await client.GetAsync("/v1/cohort.csv");
        Assert.Equal(HttpStatusCode.OK, all.StatusCode);
        Assert.Equal("text/csv", all.Content.Headers.ContentType!.MediaType);
        string[] lines = (await all.Content.ReadAsStringAsync()).TrimStart('\uFEFF').Split("\r\n", StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(3, lines.Length);
        Assert.StartsWith("job_id,subject_id,knee_side,owner,created_utc,status,model,model_version,tags,notes,excluded,qc_verdict,qc_warnings,qc_errors,qc_flags", lines[0], StringComparison.Ordinal);
        // Completing the job wrote its metrics row (in-process executor): each row carries the verdict of its QC flags,
        // and the verdict filter runs on it (these jobs ran without a segmentation model, so they have no flags).
        int verdict = Array.IndexOf(lines[0].Split(','), "qc_verdict");
        Assert.All(lines.Skip(1), l => Assert.Equal("pass", l.Split(',')[verdict]));
        using (JsonDocument passing = JsonDocument.Parse(await client.GetStringAsync("/v1/cohort?verdict=pass")))
        {
            Assert.Equal(2, passing.RootElement.GetArrayLength());
        }

        using (JsonDocument failing = JsonDocument.Parse(await client.GetStringAsync("/v1/cohort?verdict=fail")))
        {
            Assert.Equal(0, failing.RootElement.GetArrayLength());
        }

        Assert.Equal(HttpStatusCode.BadRequest, (await client.GetAsync("/v1/cohort?verdict=maybe")).StatusCode);

        string[] filtered = (await client.GetStringAsync("/v1/cohort.csv?subject=beta")).TrimStart('\uFEFF').Split("\r\n", StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(2, filtered.Length);
        Assert.StartsWith($"{b:D},COH-BETA,", filtered[1], StringComparison.Ordinal);
        Assert.Equal(lines[0], filtered[0]);

        using JsonDocument tagged = JsonDocument.Parse(await client.GetStringAsync("/v1/cohort?tag=%23trial"));
        Assert.Equal([a.ToString("D")], tagged.RootElement.EnumerateArray().Select(r => r.GetProperty("job_id").GetString()));
        using JsonDocument future = JsonDocument.Parse(await client.GetStringAsync("/v1/cohort?from=2999-01-01"));
        Assert.Equal(0, future.RootElement.GetArrayLength());
        Assert.Equal(HttpStatusCode.BadRequest, (await client.GetAsync("/v1/cohort?status=nonsense")).StatusCode);

        byte[] served = await client.GetByteArrayAsync($"/v1/jobs/{a}/input");
        Assert.Equal(await File.ReadAllBytesAsync(input), served);
        byte[] asNifti = await client.GetByteArrayAsync($"/v1/jobs/{a}/input?as=nifti");
        Assert.Equal(served, asNifti);
        HttpResponseMessage missing = await client.GetAsync($"/v1/jobs/{Guid.NewGuid()}/input");
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
    }

    [Fact]
    public async Task A_non_nifti_input_is_converted_to_nifti_for_the_viewer_and_a_deleted_input_is_a_404()
    {
        HttpClient client = factory.CreateClient();
        string nrrd = inputs.File("knee.nrrd");
        KneeWeb.Imaging.Io.VolumeIo.Write(TestVolumes.Ramp(), nrrd);
        Guid id = await ApiClient.SubmitAsync(client, nrrd, new { subject_id = "NRRD-1" });
        Assert.Equal("Completed", (await ApiClient.WaitForEndAsync(client, id, TimeSpan.FromMinutes(2))).GetProperty("status").GetString());

        string converted = inputs.File("viewer.nii.gz");
        await File.WriteAllBytesAsync(converted, await client.GetByteArrayAsync($"/v1/jobs/{id}/input?as=nifti"));
        KneeWeb.Imaging.Volume back = KneeWeb.Imaging.Io.VolumeIo.Read(converted);
        KneeWeb.Imaging.Volume original = TestVolumes.Ramp();
        Assert.Equal(original.Dims, back.Dims);
        Assert.Equal(original.ToFloat32(0), back.ToFloat32(0));

        foreach (string file in Directory.GetFiles(Path.Combine(factory.DataRoot, "uploads", id.ToString("D"))))
        {
            File.Delete(file);
        }

        HttpResponseMessage gone = await client.GetAsync($"/v1/jobs/{id}/input");
        Assert.Equal(HttpStatusCode.NotFound, gone.StatusCode);
        using JsonDocument problem = JsonDocument.Parse(await gone.Content.ReadAsStringAsync());
        Assert.Equal("FILE_NOT_FOUND", problem.RootElement.GetProperty("code").GetString());
    }
}
