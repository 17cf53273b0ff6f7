using KneeWeb.Imaging.Segmentation;
using KneeWeb.Jobs;
using KneeWeb.Pipeline;
using KneeWeb.Pipeline.Results;
using KneeWeb.Tests.TestData;
using Xunit;

namespace KneeWeb.Tests.Pipeline.Results;

/// <summary>
/// stats.json files of completed jobs, written by KneeWeb before the typed document (golden files in
/// TestData/Results/v1, never edited), still read with the right values.
/// </summary>
[Trait("Category", "unit")]
public sealed class LegacyStatsReaderTests
{
    private static StatsDocument Read(string name) => StatsDocumentIo.Read(TestFiles.ReadText("Results/v1/" + name));

    [Fact]
    public void A_site_job_file_reads_with_every_section()
    {
        StatsDocument doc = Read("stats-process-phantom-half-nsm.json");

        Assert.Equal(StatsDocument.CurrentSchemaVersion, doc.SchemaVersion);
        Assert.Equal(PipelineEntry.Image, doc.Entry);
        Assert.Equal("8f203df4-425a-45c4-bcb0-dd682c786383", doc.JobId);
        Assert.Equal(new DateTime(2026, 12, 6, 20, 33, 59, DateTimeKind.Utc).AddTicks(1668223), doc.CreatedUtc);
        Assert.Equal(DateTimeKind.Utc, doc.CreatedUtc!.Value.Kind);
        Assert.Equal("bone-cartilage", doc.Options!.Nsm);
        Assert.Equal("phantom-knee-small", doc.Options.Model);
        Assert.Equal(new ModelSection("phantom-knee-small", "1.0.0", doc.Model!.Description, "94acd0b74bf735ec0a410d595f29c14cdf8a4ccb7ebf3733139a999843ced6ca", "1.32.0"), doc.Model);
        Assert.Equal([192, 192, 80], doc.Input!.Dims!);
        Assert.Equal([0.72, 0.72, 1.4], doc.Input.SpacingMm!);
        Assert.Equal("Nifti1", doc.Input.Format);
        Assert.Equal(894, doc.ImageStats!.Max);
        Assert.Equal(8.7601935, doc.Segmentation!.TimingsSeconds["total"]);
        Assert.Equal([192, 192, 80], doc.Segmentation.ModelGrid!);

        Assert.Equal(109066.487, doc.VolumesMm3!["femur"]);
        Assert.Equal(14, doc.VolumesMm3.Count);
        Assert.Equal(new ThicknessSection(2.292, 0.4182, 2.3794, 1.5843, 2.8648, 5791), doc.ThicknessMm!["femoral_cartilage"]);
        Assert.Equal(new MeshSection(20000, 39996, true, 14713.84, 108962.6), doc.Meshes!["femur"]);
        Assert.Equal("right", doc.Side);
        Assert.Equal(new SubregionSection(6.023, 26.04, -12.12, 0.6), doc.FemoralSubregions);

        Assert.Equal(-0.43311058846554507, doc.BScore);
        Assert.Null(doc.BScoreBone);
        Assert.Equal(0.445890856376175, doc.BScoreReference!.HealthyMean);
        Assert.Null(doc.NsmSkipped);
        NsmSection nsm = doc.Nsm!;
        Assert.Equal(("bone-cartilage", "femur-nsm-demo", "1.0.0"), (nsm.Mode, nsm.Model!.Name, nsm.Model.Version));
        Assert.Equal((216, 0.1767, 0.19663, true, 5.779), (nsm.Iterations!.Value, nsm.AssdMm!.Value, nsm.BestLoss!.Value, nsm.Converged!.Value, nsm.FitTimeSeconds!.Value));
        Assert.Equal(8, nsm.Latent!.Count);
        Assert.Equal(8, nsm.LatentSize);
        Assert.Equal(-0.6912490129470825, nsm.Latent[0]);
        Assert.Equal([-5.992387, -12.54021, -26.105477], nsm.Transform!.TranslationMm!);
        Assert.Equal("femur_nsm.vtk", nsm.Mesh);

        Assert.Equal(
            [("COMPONENTS_REMOVED", QcSeverity.Info, "femur"), ("COMPONENTS_REMOVED", QcSeverity.Info, "medial_meniscus"), ("COMPONENTS_REMOVED", QcSeverity.Info, "lateral_meniscus"), ("HOLES_FILLED", QcSeverity.Info, "tibia")],
            doc.Qc!.Flags.Select(f => (f.Code, f.Severity, f.Structure)));
        Assert.Equal(QcVerdict.Pass, doc.Qc.Verdict);

        Assert.Equal(8, doc.Steps.Count);
        Assert.All(doc.Steps, s => Assert.Equal(StepState.Finished, s.State));
        Assert.Equal(KneeSteps.Segment.Name, doc.Steps[2].Name);
        Assert.Equal(8.8294, doc.TimingsSeconds[KneeSteps.Segment.Name]);
        Assert.Equal(0.0005, doc.TimingsSeconds[KneeSteps.BScore.Name]);
    }

    [Fact]
    public void An_analyze_file_reads_with_its_timings_in_seconds_and_its_bare_qc_list()
    {
        StatsDocument doc = Read("stats-analyze-phantom-half-nsm.json");

        Assert.Equal(PipelineEntry.Labels, doc.Entry);
        Assert.Equal("labels.nii.gz", doc.Input!.FileName);
        Assert.Null(doc.Model);
        Assert.Null(doc.Segmentation);
        Assert.Equal(109075.922, doc.VolumesMm3!["femur"]);
        Assert.Equal(new ThicknessSection(2.2921, 0.4193, 2.3795, 1.5723, 2.8648, 5760), doc.ThicknessMm!["femoral_cartilage"]);
        Assert.Equal(-0.31767644265522055, doc.BScore);
        Assert.Equal((241, 0.1795), (doc.Nsm!.Iterations!.Value, doc.Nsm.AssdMm!.Value));
        Assert.Equal(2, doc.Qc!.Flags.Count);
        Assert.Equal(QcVerdict.Pass, doc.Qc.Verdict);
        Assert.Equal(["postprocess", "meshes", "thickness", "nsm"], doc.TimingsSeconds.Keys);
        Assert.Equal(2.5929, doc.TimingsSeconds["postprocess"], 9);
        Assert.Equal(5.0864, doc.TimingsSeconds["nsm"], 9);
    }

    [Fact]
    public void An_analyze_file_without_the_shape_model_says_why()
    {
        StatsDocument doc = Read("stats-analyze-phantom-half.json");

        Assert.Null(doc.Nsm);
        Assert.Null(doc.BScore);
        Assert.Equal("The neural shape model was turned off.", doc.NsmSkipped);
        Assert.Equal(new ThicknessSection(1.9829, 0.4378, 2.1376, 1.0349, 2.6265, 394), doc.ThicknessMm!["medial_tibial_cartilage"]);
        Assert.Equal(1.5491, doc.TimingsSeconds["thickness"], 9);
    }

    [Theory]
    [InlineData("stats-process-phantom-half-nsm.json")]
    [InlineData("stats-analyze-phantom-half-nsm.json")]
    [InlineData("stats-analyze-phantom-half.json")]
    public void An_old_file_becomes_a_current_document_that_reads_back_unchanged(string name)
    {
        string first = StatsDocumentIo.Write(Read(name));
        string second = StatsDocumentIo.Write(StatsDocumentIo.Read(first));

        Assert.Contains($"\"schema_version\": {StatsDocument.CurrentSchemaVersion}", first, StringComparison.Ordinal);
        Assert.Equal(first, second);
    }

    [Fact]
    public void The_result_page_view_shows_an_old_site_file_as_before()
    {
        ResultStats stats = ResultStats.Parse(TestFiles.ReadText("Results/v1/stats-process-phantom-half-nsm.json"));

        Assert.Equal("phantom-knee-small", stats.ModelName);
        Assert.Equal("right", stats.KneeSide);
        Assert.Equal([new KeyValuePair<string, double>("overall", -0.43311058846554507)], stats.BScore!);
        Assert.Equal(4, stats.QcFlags.Count);
        Assert.Equal("info", stats.QcFlags[0].Severity);
        Assert.Equal(QcVerdict.Pass, stats.Verdict);
        Assert.Equal("finished", stats.Steps[0].State);
        Assert.Equal(8, stats.Nsm!.LatentSize);
        Assert.Contains(stats.Thickness!, r => r.Region == "femoral_medial_weight_bearing" && r.N == 601);
        Assert.Equal(6, stats.ImageStats!.Count);
        Assert.Equal(1, stats.SegmentationRun!.Tiles);
    }
}
