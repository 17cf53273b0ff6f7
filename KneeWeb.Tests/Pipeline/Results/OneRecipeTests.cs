using KneeWeb.Cli;
using KneeWeb.Imaging;
using KneeWeb.Imaging.Io;
using KneeWeb.Imaging.Phantom;
using KneeWeb.Imaging.Segmentation;
using KneeWeb.Inference;
using KneeWeb.Pipeline;
using KneeWeb.Pipeline.Results;
using Xunit;

namespace KneeWeb.Tests.Pipeline.Results;

/// <summary>
/// `KneeWeb analyze` and a site job run one recipe: given the same labels they write the same document.
/// The site job segments the half-size phantom with phantom-knee-small; `KneeWeb segment` with the same
/// model gives the labels it segmented, which `KneeWeb analyze` then analyses.
/// </summary>
[Trait("Category", "unit")]
public sealed class OneRecipeTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("kneeweb-one-recipe-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    [Fact]
    public async Task Analyze_and_a_site_job_write_the_same_document_for_the_same_labels()
    {
        string? models = ModelRegistry.FindDefaultFolder();
        Assert.True(models is not null, "models/ not found above the test folder");
        PhantomResult phantom = KneePhantom.Generate(new PhantomOptions { Coarsening = 2, Seed = 5 });
        string image = Path.Combine(folder, "knee.nii.gz");
        VolumeIo.Write(phantom.Image, image);

        // The site job: the worker's recipe on the image.
        var context = new PipelineContext
        {
            JobId = Guid.NewGuid(),
            InputPath = image,
            InputFileName = "knee.nii.gz",
            Options = new PipelineOptions { Nsm = "bone-cartilage", Device = "cpu" },
            OutputFolder = Path.Combine(folder, "job"),
        };
        await new KneePipeline(new SegmentationEngine(models!, defaultModel: "phantom-knee-small")).RunAsync(context, new PipelineRun(new Quiet()), CancellationToken.None);
        StatsDocument site = StatsDocumentIo.ReadFile(Path.Combine(context.OutputFolder, "stats.json"))!;

        // The labels the job segmented, then `KneeWeb analyze` on them.
        string labels = Path.Combine(folder, "raw-labels.nii.gz");
        Assert.Equal(0, await CliApp.RunAsync(["segment", image, "--model", "phantom-knee-small", "--device", "cpu", "--models", models!, "--out", labels]));
        Volume cleaned = Postprocessing.Run(VolumeIo.Read(labels), new PostprocessOptions()).Labels;
        Assert.Equal((byte[])VolumeIo.Read(Path.Combine(context.OutputFolder, "segmentation.nii.gz")).Voxels, (byte[])cleaned.Voxels);
        string output = Path.Combine(folder, "analysis");
        Assert.Equal(0, await CliApp.RunAsync(["analyze", "--labels", labels, "--image", image, "--nsm", "bone-cartilage", "--models", models!, "--out", output]));
        StatsDocument analyzed = StatsDocumentIo.ReadFile(Path.Combine(output, "stats.json"))!;

        // Provenance that must differ: ids and times; the entry and the input (an image or a label map);
        // the model, image statistics and segmentation run (analyze segments nothing); every timing
        // (step durations, timings_s, the fit's own time). Steps 1-3 are skipped in analyze, run in the job.
        Assert.Equal((PipelineEntry.Image, PipelineEntry.Labels), (site.Entry!.Value, analyzed.Entry!.Value));
        Assert.NotEqual(site.JobId, analyzed.JobId);
        Assert.Equal(("knee.nii.gz", "raw-labels.nii.gz"), (site.Input!.FileName, analyzed.Input!.FileName));
        Assert.Equal(site.Input.Dims, analyzed.Input.Dims);
        Assert.Equal(site.Input.AffineRas!.SelectMany(r => r), analyzed.Input.AffineRas!.SelectMany(r => r));
        Assert.NotNull(site.Model);
        Assert.Null(analyzed.Model);
        Assert.Null(analyzed.Segmentation);
        Assert.Null(analyzed.ImageStats);

        // Everything else, section by section.
        Assert.Equal(site.SchemaVersion, analyzed.SchemaVersion);
        Assert.Equal(site.KneeWebVersion, analyzed.KneeWebVersion);
        Assert.Equal(Json(site with { Options = null }), Json(analyzed with { Options = null }), StringComparer.Ordinal);
        Assert.Equal((site.Options!.Nsm, site.Options.Thickness, site.Options.KneeSide), (analyzed.Options!.Nsm, analyzed.Options.Thickness, analyzed.Options.KneeSide));
        Assert.Equal(site.VolumesMm3, analyzed.VolumesMm3);
        Assert.Equal(site.ThicknessMm, analyzed.ThicknessMm);
        Assert.Equal(site.Meshes, analyzed.Meshes);
        Assert.Equal(site.Side, analyzed.Side);
        Assert.Equal(site.FemoralSubregions, analyzed.FemoralSubregions);
        Assert.Equal(site.Qc!.Verdict, analyzed.Qc!.Verdict);
        Assert.Equal(site.Qc.Flags, analyzed.Qc.Flags);
        Assert.Equal(site.BScore, analyzed.BScore);
        Assert.Equal(site.BScoreReference, analyzed.BScoreReference);
        Assert.Equal(site.NsmSkipped, analyzed.NsmSkipped);
        Assert.Equal(site.Nsm!.Latent, analyzed.Nsm!.Latent);
        Assert.Equal(site.Nsm.Transform!.TranslationMm, analyzed.Nsm.Transform!.TranslationMm);
        Assert.Equal(site.Nsm.Transform.Rotation!.SelectMany(r => r), analyzed.Nsm.Transform.Rotation!.SelectMany(r => r));
        Assert.Equal(site.Nsm with { Latent = null, Transform = null, FitTimeSeconds = null }, analyzed.Nsm with { Latent = null, Transform = null, FitTimeSeconds = null });
        // stats.json is written by the save step, so it records steps 1-8.
        Assert.Equal(KneeSteps.All.Take(8).Select(s => s.Name), site.Steps.Select(s => s.Name));
        Assert.Equal(site.Steps.Skip(3).Select(s => (s.Index, s.Name, s.State)), analyzed.Steps.Skip(3).Select(s => (s.Index, s.Name, s.State)));
        Assert.All(analyzed.Steps.Take(3), s => Assert.Equal(StepState.Skipped, s.State));
        Assert.All(site.Steps, s => Assert.NotEqual(StepState.Skipped, s.State));
    }

    /// <summary>The document without what must differ (see the test), for one whole-document comparison as well.</summary>
    private static string Json(StatsDocument doc) => StatsDocumentIo.Write(doc with
    {
        JobId = null,
        CreatedUtc = null,
        Entry = null,
        Input = null,
        Model = null,
        ImageStats = null,
        Segmentation = null,
        Steps = [.. doc.Steps.Skip(3).Select(s => s with { DurationSeconds = null })],
        TimingsSeconds = new Dictionary<string, double>(),
        Nsm = doc.Nsm! with { FitTimeSeconds = null },
    });

    private sealed class Quiet : IPipelineObserver
    {
        public void OnProgress(PipelineProgress progress)
        {
        }

        public void OnStepFinished(StepDefinition step, TimeSpan duration)
        {
        }

        public void OnStepSkipped(StepDefinition step, string reason)
        {
        }

        public void OnPreview(PipelinePreview preview)
        {
        }
    }
}
