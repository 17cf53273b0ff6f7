using KneeWeb.Data;
using KneeWeb.Jobs;
using KneeWeb.Jobs.Cohort;
using KneeWeb.Setup;
using KneeWeb.Tests.Web;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace KneeWeb.Tests.Jobs.Cohort;

/// <summary>
/// Synthetic metrics rows of a model's cohort: knees whose numbers move together with their size, with small
/// independent noise, for the outlier check's tests (unit, component and host).
/// </summary>
public static class KneeCohort
{
    /// <summary>Metrics of a knee of relative size <paramref name="size"/> (about 1), with small independent noise.</summary>
    public static JobMetrics Knee(Random random, double size, double noise = 0.02, string model = "knee-b")
    {
        ArgumentNullException.ThrowIfNull(random);
        double N() => 1 + (noise * Gaussian(random));
        var m = new JobMetrics
        {
            JobId = Guid.NewGuid(),
            ModelName = model,
            FemurVolumeMm3 = 95_000 * size * size * size * N(),
            TibiaVolumeMm3 = 70_000 * size * size * size * N(),
            PatellaVolumeMm3 = 12_000 * size * size * size * N(),
            FemoralCartilageVolumeMm3 = 4_300 * size * size * N(),
            MedialTibialCartilageVolumeMm3 = 1_200 * size * size * N(),
            LateralTibialCartilageVolumeMm3 = 1_100 * size * size * N(),
            FemoralCartilageThicknessMm = 2.0 * size * N(),
            MedialTibialCartilageThicknessMm = 1.6 * size * N(),
            LateralTibialCartilageThicknessMm = 1.8 * size * N(),
            PatellarCartilageThicknessMm = 2.4 * size * N(),
            BScore = 0.3 * Gaussian(random),
        };
        JobMetricsMapping.SetQc(m, []);
        return m;
    }

    /// <summary><paramref name="count"/> QC-pass knees of sizes 0.85 to 1.15, reproducible from <paramref name="seed"/>.</summary>
    public static List<JobMetrics> Of(int count, int seed, string model = "knee-b")
    {
        var random = new Random(seed);
        return [.. Enumerable.Range(0, count).Select(_ => Knee(random, 0.85 + (0.3 * random.NextDouble()), model: model))];
    }

    /// <summary>
    /// Seeds a running host with a 30-job cohort of a new model (subjects "<paramref name="tag"/>-00" ...), one of
    /// them planted with a medial tibial cartilage 60 % thicker than its size explains, writes a QC-pass stats.json
    /// (no flags) for the planted job and one neighbour, and lets the host's real <see cref="CohortOutlierService"/>
    /// score the model. Returns the two job ids; the planted one is flagged COHORT_OUTLIER only by the check.
    /// </summary>
    public static async Task<(Guid Planted, Guid Neighbour)> SeedOutlierAsync(IServiceProvider services, string tag)
    {
        ArgumentNullException.ThrowIfNull(services);
        string model = $"model-{tag}";
        List<JobMetrics> rows = Of(30, 11, model);
        JobMetrics planted = rows[5];
        JobMetrics neighbour = rows[6];
        planted.MedialTibialCartilageThicknessMm *= 1.6;
        JobStore store = services.GetRequiredService<JobStore>();
        using (JobVisibility.EnterSystem())
        {
            await store.WriteAsync(async db =>
            {
                for (int i = 0; i < rows.Count; i++)
                {
                    JobMetrics m = rows[i];
                    DateTime created = DateTime.UtcNow.AddMinutes(-i);
                    m.VisitUtc = created;
                    m.RecordedUtc = created;
                    db.Jobs.Add(new Job
                    {
                        Id = m.JobId,
                        Owner = TestAccounts.AdminName,
                        SubjectId = string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{tag}-{i:00}"),
                        InputFileName = "knee.nii.gz",
                        DetectedFormat = "nifti",
                        Status = JobStatus.Completed,
                        Percent = 100,
                        CreatedUtc = created,
                        FinishedUtc = created,
                        Attempt = 1,
                        Metrics = m,
                    });
                }

                await db.SaveChangesAsync();
            });
        }

        string jobsPath = services.GetRequiredService<IOptions<KneeWebOptions>>().Value.JobsPath;
        foreach (Guid id in new[] { planted.JobId, neighbour.JobId })
        {
            string folder = Path.Combine(jobsPath, id.ToString("D"));
            Directory.CreateDirectory(folder);
            await File.WriteAllTextAsync(Path.Combine(folder, "stats.json"), """{ "volumes_mm3": { "femur": 95000.0 }, "qc": { "flags": [] } }""");
        }

        OutlierAnalysis? analysis = await services.GetRequiredService<CohortOutlierService>().RefreshAsync(model);
        if (analysis is not { Scored: true })
        {
            throw new InvalidOperationException($"The outlier check did not score the seeded cohort: {analysis?.Message}");
        }

        return (planted.JobId, neighbour.JobId);
    }

    private static double Gaussian(Random random) =>
        Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
}
