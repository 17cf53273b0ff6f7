using KneeWeb.Imaging;
using KneeWeb.Imaging.Io;
using KneeWeb.Jobs;
using KneeWeb.Pipeline;
using KneeWeb.Tests.Inference;
using KneeWeb.Tests.TestData;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace KneeWeb.Tests.Web;

/// <summary>
/// What the job page hears during a real segmentation (demo model, ONNX Runtime, real host): the bar moves inside
/// the segmentation step, and a preview arrives while the model still runs, named by its anatomical plane.
/// </summary>
[Trait("Category", "host")]
public sealed class LiveProgressTests : IDisposable
{
    private readonly TempFolder models = new("kneeweb-live-models");
    private readonly TempFolder inputs = new("kneeweb-live-inputs");
    private readonly KneeWebFactory factory;

    public LiveProgressTests()
    {
        string repoModels = Path.Combine(ServerProcess.RepositoryRoot(), "models");
        foreach (string file in Directory.GetFiles(repoModels, "demo-knee.*"))
        {
            File.Copy(file, Path.Combine(models.Path, Path.GetFileName(file)));
        }

        factory = new KneeWebFactory(new Dictionary<string, string?> { ["KneeWeb:ModelsPath"] = models.Path });
    }

    public void Dispose()
    {
        factory.Dispose();
        models.Dispose();
        inputs.Dispose();
    }

    private static readonly string[] AnatomicalPlanes = ["axial", "coronal", "sagittal"];

    private abstract record Heard(long Order);

    private sealed record HeardUpdate(long Order, JobUpdate Update) : Heard(Order);

    private sealed record HeardPreview(long Order, JobPreview Preview) : Heard(Order);

    [Fact]
    public async Task Progress_rises_inside_segmentation_and_a_preview_arrives_before_the_step_ends()
    {
        HttpClient client = factory.CreateClient();
        (Volume image, _) = SyntheticKnee.Create(new Vec3d(0.5, 0.5, 1.0), sizeMm: 40);
        string path = inputs.File("synthetic.nii.gz");
        VolumeIo.Write(image, path);

        JobNotifier notifier = factory.Services.GetRequiredService<JobNotifier>();
        var heard = new List<Heard>();
        long order = 0;
        var ended = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Guid id = Guid.Empty;
        Task OnUpdate(JobUpdate u)
        {
            lock (heard)
            {
                heard.Add(new HeardUpdate(++order, u));
            }

            if (u.JobId == id && u.Status is not (Data.JobStatus.Queued or Data.JobStatus.Running))
            {
                ended.TrySetResult();
            }

            return Task.CompletedTask;
        }

        Task OnPreview(JobPreview p)
        {
            lock (heard)
            {
                heard.Add(new HeardPreview(++order, p));
            }

            return Task.CompletedTask;
        }

        notifier.Updated += OnUpdate;
        notifier.PreviewPublished += OnPreview;
        try
        {
            id = await ApiClient.SubmitAsync(client, path, new { model = "demo-knee", device = "cpu" });
            System.Text.Json.JsonElement job = await ApiClient.WaitForEndAsync(client, id);
            Assert.True(job.GetProperty("status").GetString() == "Completed", job.ToString());
            // The final update may trail the API's answer by a moment: wait for it (an event, not a time).
            await ended.Task.WaitAsync(ApiClient.HangLimit);
        }
        finally
        {
            notifier.Updated -= OnUpdate;
            notifier.PreviewPublished -= OnPreview;
        }

        Heard[] mine;
        lock (heard)
        {
            mine = [.. heard.Where(h => h is HeardUpdate u ? u.Update.JobId == id : ((HeardPreview)h).Preview.JobId == id)];
        }

        int segment = KneeSteps.Segment.Index;
        HeardUpdate[] inSegmentation = [.. mine.OfType<HeardUpdate>().Where(h => h.Update.StepIndex == segment && h.Update.StepState == "running")];
        double[] fractions = [.. inSegmentation.Select(h => h.Update.StepFraction)];
        double[] inside = [.. fractions.Where(f => f is > 0 and < 1).Distinct()];
        Assert.True(inside.Length >= 2, $"The segmentation step reported no progress between its start and end: {string.Join(", ", fractions)}");
        for (int i = 1; i < inSegmentation.Length; i++)
        {
            Assert.True(fractions[i] >= fractions[i - 1], $"Segmentation fractions went back: {string.Join(", ", fractions)}");
            Assert.True(inSegmentation[i].Update.Percent >= inSegmentation[i - 1].Update.Percent, "The overall percent went back during segmentation.");
        }

        // Before the model's last tile is reported, not merely before the step's end (the final preview always came then).
        long tilesDone = mine.OfType<HeardUpdate>().First(h => h.Update.StepIndex > segment || (h.Update.StepIndex == segment && h.Update.StepFraction >= 1)).Order;
        HeardPreview[] previews = [.. mine.OfType<HeardPreview>()];
        Assert.True(previews.Any(p => p.Order < tilesDone), $"No preview while the segmentation ran ({previews.Length} previews in all, all after its last tile).");
        Assert.All(previews, p => Assert.Contains(p.Preview.Plane, AnatomicalPlanes));
        Assert.All(previews, p => Assert.Equal([0x89, (byte)'P', (byte)'N', (byte)'G'], Convert.FromBase64String(p.Preview.PngBase64)[..4]));
    }
}
