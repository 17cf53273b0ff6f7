using System.Text.Json;
using KneeWeb.Imaging.Segmentation;
using KneeWeb.Jobs;
using KneeWeb.Pipeline;
using KneeWeb.Pipeline.Results;
using KneeWeb.Tests.TestData;
using Xunit;

namespace KneeWeb.Tests.Pipeline.Results;

/// <summary>The current schema: what it writes, that it reads it back exactly, and that anything else is a clear error.</summary>
[Trait("Category", "unit")]
public sealed class StatsDocumentIoTests
{
    private static readonly StatsDocument Sample = StatsDocumentIo.Read(TestFiles.ReadText("Results/v1/stats-process-phantom-half-nsm.json"));

    [Fact]
    public void The_document_is_written_with_snake_case_names_units_and_the_qc_verdict()
    {
        StatsDocument doc = Sample with
        {
            Qc = QcSection.Of([new QcFlagSection("STRUCTURE_MISSING", QcSeverity.Error, "patella", "No patella."), new QcFlagSection("SIDE_UNKNOWN", QcSeverity.Warning, "knee", "?")]),
        };
        using JsonDocument json = JsonDocument.Parse(StatsDocumentIo.Write(doc));
        JsonElement root = json.RootElement;

        Assert.Equal(2, root.GetProperty("schema_version").GetInt32());
        Assert.Equal("image", root.GetProperty("entry").GetString());
        Assert.Equal("fail", root.GetProperty("qc").GetProperty("verdict").GetString());
        Assert.Equal("error", root.GetProperty("qc").GetProperty("flags")[0].GetProperty("severity").GetString());
        Assert.Equal(109066.487, root.GetProperty("volumes_mm3").GetProperty("femur").GetDouble());
        Assert.Equal(2.292, root.GetProperty("thickness_mm").GetProperty("femoral_cartilage").GetProperty("mean").GetDouble());
        Assert.Equal(8.8294, root.GetProperty("timings_s").GetProperty(KneeSteps.Segment.Name).GetDouble());
        Assert.Equal("finished", root.GetProperty("steps")[0].GetProperty("state").GetString());
        Assert.Equal(-0.43311058846554507, root.GetProperty("bscore").GetDouble());
        Assert.Equal(JsonValueKind.Null, root.GetProperty("nsm_skipped").ValueKind);
        Assert.Equal("1.32.0", root.GetProperty("model").GetProperty("onnxruntime").GetString());
    }

    [Fact]
    public void Write_read_write_is_byte_identical()
    {
        string written = StatsDocumentIo.Write(Sample);
        StatsDocument read = StatsDocumentIo.Read(written);

        Assert.Equal(written, StatsDocumentIo.Write(read));
        Assert.Equal(Sample.VolumesMm3, read.VolumesMm3);
        Assert.Equal(Sample.Nsm!.Latent, read.Nsm!.Latent);
        Assert.Equal(Sample.CreatedUtc, read.CreatedUtc);
    }

    [Fact]
    public void A_verdict_that_disagrees_with_the_flags_is_recomputed_from_them()
    {
        StatsDocument failing = Sample with { Qc = QcSection.Of([new QcFlagSection("STRUCTURE_MISSING", QcSeverity.Error, "patella", "No patella.")]) };
        string edited = StatsDocumentIo.Write(failing).Replace("\"verdict\": \"fail\"", "\"verdict\": \"pass\"", StringComparison.Ordinal);
        Assert.Contains("\"verdict\": \"pass\"", edited, StringComparison.Ordinal);

        Assert.Equal(QcVerdict.Fail, StatsDocumentIo.Read(edited).Qc!.Verdict);
    }

    [Theory]
    [InlineData("", "not valid JSON")]
    [InlineData("{\"volumes_mm3\": {\"femur\": 1", "not valid JSON")]
    [InlineData("[1, 2]", "holds a JSON array")]
    [InlineData("\"stats\"", "holds a JSON string")]
    [InlineData("{\"name\": \"a package.json\", \"version\": \"1.0.0\"}", "none of the sections KneeWeb writes")]
    [InlineData("{\"schema_version\": 99}", "newer KneeWeb")]
    [InlineData("{\"schema_version\": \"two\"}", "not a whole number")]
    [InlineData("{\"schema_version\": 1}", "which no KneeWeb wrote")]
    [InlineData("{\"schema_version\": 2, \"volumes_mm3\": {\"femur\": \"big\"}}", "$.volumes_mm3.femur")]
    [InlineData("{\"schema_version\": 2, \"surprise\": 1}", "does not match schema version 2")]
    [InlineData("{\"schema_version\": 2, \"qc\": {\"verdict\": \"pass\", \"flags\": [{\"code\": null, \"severity\": \"info\", \"message\": \"m\"}]}}", "$.qc.flags[0]")]
    [InlineData("{\"schema_version\": 2, \"qc\": {\"verdict\": 3, \"flags\": []}}", "$.qc.verdict")]
    public void A_malformed_or_foreign_file_is_a_clear_error(string json, string expected)
    {
        StatsDocumentException e = Assert.Throws<StatsDocumentException>(() => StatsDocumentIo.Read(json));
        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
        Assert.StartsWith("stats.json", e.Message, StringComparison.Ordinal);

        // Pages and the cohort catch JsonException around ResultStats: the error is one.
        Assert.IsAssignableFrom<JsonException>(Assert.ThrowsAny<Exception>(() => ResultStats.Parse(json)));
    }

    [Fact]
    public void A_deeply_nested_file_is_refused_without_a_stack_overflow()
    {
        string json = "{\"qc\": " + new string('[', 100_000) + new string(']', 100_000) + "}";

        StatsDocumentException e = Assert.Throws<StatsDocumentException>(() => StatsDocumentIo.Read(json));
        Assert.Contains("not valid JSON", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void An_oversized_file_is_refused_before_it_is_read()
    {
        string folder = Directory.CreateTempSubdirectory("kneeweb-stats-").FullName;
        try
        {
            string path = Path.Combine(folder, StatsDocumentIo.FileName);
            using (FileStream file = File.Create(path))
            {
                file.SetLength(StatsDocumentIo.MaxBytes + 1);
            }

            StatsDocumentException e = Assert.Throws<StatsDocumentException>(() => StatsDocumentIo.ReadFile(path));
            Assert.Contains("larger than any results document", e.Message, StringComparison.Ordinal);
            Assert.Null(StatsDocumentIo.ReadFile(Path.Combine(folder, "none.json")));
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }
}
