using System.Globalization;
using KneeWeb.Data;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Trainers;

namespace KneeWeb.Jobs.Cohort;

/// <summary>A metric that drove a job's outlier score: its share of the residual and how far its value sits from the cohort mean (in SDs).</summary>
public sealed record OutlierDriver(CohortMetric Metric, double Share, double Z)
{
    public override string ToString() =>
        $"{Metric.Header} {Z.ToString("+0.0;-0.0;0.0", CultureInfo.InvariantCulture)} SD";
}

/// <summary>One scored job: its anomaly score (squared reconstruction residual, standardised units), how far that sits from the other scores, and why.</summary>
public sealed record OutlierScore(Guid JobId, double Score, double RobustZ, bool IsOutlier, IReadOnlyList<OutlierDriver> Drivers);

/// <summary>The outlier check of one model's cohort: scored, or why not.</summary>
public sealed record OutlierAnalysis(int Jobs, int MinJobs, IReadOnlyList<OutlierScore> Scores, string Message)
{
    public bool Scored => Jobs >= MinJobs && Scores.Count > 0;
}

/// <summary>
/// Cohort outliers: a randomized-PCA model (ML.NET) of the standardised metrics of a model's completed,
/// QC-pass, included jobs; a job whose reconstruction residual sits far above the others' (robust z of
/// the score above the threshold) is a COHORT_OUTLIER, and the metrics with the largest share of its
/// residual are what drove it. Seeded, so the same rows give the same flags.
/// </summary>
public static class CohortOutliers
{
    public const string FlagCode = "COHORT_OUTLIER";
    public const int Seed = 20261206;

    /// <summary>A feature is used when at least this share of the jobs have it; the rest are filled with the cohort mean.</summary>
    private const double MinCoverage = 0.8;

    public static OutlierAnalysis Analyse(IReadOnlyList<JobMetrics> rows, int minJobs, double threshold)
    {
        ArgumentNullException.ThrowIfNull(rows);
        if (rows.Count < Math.Max(minJobs, 3))
        {
            return new OutlierAnalysis(rows.Count, minJobs, [],
                $"The outlier check needs at least {minJobs} completed, QC-pass jobs of a model; this one has {rows.Count}.");
        }

        // Features: metrics most jobs have and that vary; standardised so a volume in mm³ does not outweigh a thickness in mm.
        var features = new List<(CohortMetric Metric, double Mean, double Sd)>();
        foreach (CohortMetric metric in CohortMetrics.All)
        {
            double[] values = [.. rows.Select(metric.Of).OfType<double>()];
            if (values.Length < MinCoverage * rows.Count)
            {
                continue;
            }

            double mean = values.Average();
            double sd = Math.Sqrt(values.Sum(v => (v - mean) * (v - mean)) / Math.Max(1, values.Length - 1));
            if (sd > 1e-12 * Math.Max(1, Math.Abs(mean)))
            {
                features.Add((metric, mean, sd));
            }
        }

        if (features.Count < 2)
        {
            return new OutlierAnalysis(rows.Count, minJobs, [], "The outlier check needs at least two metrics that vary across the model's jobs.");
        }

        float[][] z = [.. rows.Select(r => features.Select(f => (float)(((f.Metric.Of(r) ?? f.Mean) - f.Mean) / f.Sd)).ToArray())];
        // Fit, leave out what the first fit flags (so an outlier cannot pull a component towards itself), fit again, score all.
        OutlierScore[] first = Score(rows, z, features, Fit(z, null), threshold);
        bool[] keep = [.. first.Select(s => !s.IsOutlier)];
        OutlierScore[] scores = keep.All(k => k) ? first : Score(rows, z, features, Fit(z, keep), threshold);
        int flagged = scores.Count(s => s.IsOutlier);
        return new OutlierAnalysis(rows.Count, minJobs, scores,
            $"{rows.Count} QC-pass jobs compared on {features.Count} metrics; {flagged} {(flagged == 1 ? "sits" : "sit")} far from the rest.");
    }

    private sealed class FeatureRow
    {
        public float[] Features { get; set; } = [];
    }

    /// <summary>The principal subspace (mean and orthonormal components) of the standardised rows, by ML.NET's randomized PCA.</summary>
    private static (float[] Mean, float[][] Components) Fit(float[][] z, bool[]? keep)
    {
        int d = z[0].Length;
        FeatureRow[] training = [.. z.Where((_, i) => keep is null || keep[i]).Select(v => new FeatureRow { Features = v })];
        var ml = new MLContext(Seed);
        SchemaDefinition schema = SchemaDefinition.Create(typeof(FeatureRow));
        schema[nameof(FeatureRow.Features)].ColumnType = new VectorDataViewType(NumberDataViewType.Single, d);
        IDataView data = ml.Data.LoadFromEnumerable(training, schema);
        // A few components: metrics of one knee move together with its size; what they cannot explain is what stands out.
        int rank = Math.Clamp(d / 4, 1, Math.Min(5, Math.Max(1, training.Length - 2)));
        rank = Math.Min(rank, d - 1);
        var trainer = ml.AnomalyDetection.Trainers.RandomizedPca(nameof(FeatureRow.Features), rank: rank, oversampling: 20, ensureZeroMean: true, seed: Seed);
        PcaModelParameters model = trainer.Fit(data).Model;
        VBuffer<float>[] vectors = [];
        model.GetEigenVectors(ref vectors, out int got);
        VBuffer<float> mean = default;
        model.GetMean(ref mean);
        return (Dense(mean, d), [.. vectors.Take(got).Select(v => Dense(v, d))]);
    }

    private static OutlierScore[] Score(IReadOnlyList<JobMetrics> rows, float[][] z, List<(CohortMetric Metric, double Mean, double Sd)> features, (float[] Mean, float[][] Components) fit, double threshold)
    {
        int d = features.Count;
        var residuals = new double[z.Length][];
        var scores = new double[z.Length];
        for (int i = 0; i < z.Length; i++)
        {
            var centred = new double[d];
            for (int k = 0; k < d; k++)
            {
                centred[k] = z[i][k] - (fit.Mean.Length == d ? fit.Mean[k] : 0);
            }

            var residual = (double[])centred.Clone();
            foreach (float[] component in fit.Components)
            {
                double dot = 0;
                for (int k = 0; k < d; k++)
                {
                    dot += centred[k] * component[k];
                }

                for (int k = 0; k < d; k++)
                {
                    residual[k] -= dot * component[k];
                }
            }

            residuals[i] = residual;
            scores[i] = residual.Sum(r => r * r);
        }

        double median = Median(scores);
        // 1.4826 x MAD estimates the SD of well-behaved scores; a floor keeps identical scores from dividing by zero.
        double spread = Math.Max(1.4826 * Median([.. scores.Select(s => Math.Abs(s - median))]), 1e-9 + (1e-6 * median));
        var result = new OutlierScore[z.Length];
        for (int i = 0; i < z.Length; i++)
        {
            double robustZ = (scores[i] - median) / spread;
            bool outlier = robustZ > threshold;
            double total = Math.Max(scores[i], 1e-12);
            OutlierDriver[] drivers = outlier
                ? [.. residuals[i].Select((r, k) => new OutlierDriver(features[k].Metric, r * r / total, z[i][k]))
                    .OrderByDescending(x => x.Share).TakeWhile((x, n) => n == 0 || x.Share >= 0.1).Take(3)]
                : [];
            result[i] = new OutlierScore(rows[i].JobId, scores[i], robustZ, outlier, drivers);
        }

        return result;
    }

    private static float[] Dense(VBuffer<float> buffer, int length)
    {
        var dense = new float[length];
        buffer.CopyTo(dense);
        return dense;
    }

    private static double Median(double[] values)
    {
        double[] sorted = [.. values.Order()];
        int n = sorted.Length;
        return n == 0 ? 0 : n % 2 == 1 ? sorted[n / 2] : (sorted[(n / 2) - 1] + sorted[n / 2]) / 2;
    }
}
