using System.Diagnostics;
using System.Runtime.CompilerServices;

namespace KneeWeb.Imaging.ShapeModel;

/// <summary>Settings of the demo shape model's training (defaults: the committed model).</summary>
public sealed record TrainingSettings
{
    public int LatentSize { get; init; } = 8;

    public int Hidden { get; init; } = 64;

    public int Depth { get; init; } = 3;

    /// <summary>Training femurs; their OA values cycle through 0, 0, 0, 0.2, 0.4, 0.6, 0.8, 1.0.</summary>
    public int Shapes { get; init; } = 64;

    /// <summary>Seeds of training femurs start here (held-out test femurs use seeds from 1000 on).</summary>
    public int FirstSeed { get; init; } = 1;

    public int Epochs { get; init; } = 300;

    /// <summary>Shapes per optimiser step and samples drawn per shape per step.</summary>
    public int ShapesPerBatch { get; init; } = 4;

    public int SamplesPerShape { get; init; } = 512;

    public double NetworkLearningRate { get; init; } = 1e-3;

    /// <summary>Adam rate of the training codes (latent units: the network scales them by <see cref="SdfNetwork.LatentScale"/>).</summary>
    public double LatentLearningRate { get; init; } = 0.2;

    /// <summary>The learning rates halve this many times, evenly over the epochs.</summary>
    public int Halvings { get; init; } = 3;

    /// <summary>Clamp of the L1 loss (model mm), as DeepSDF: far-field values only need the right sign.</summary>
    public float ClampMm { get; init; } = 8f;

    /// <summary>Weight of the latent prior ||z||^2 per shape (keeps codes near the origin, as DeepSDF's Gaussian prior).</summary>
    public float LatentPrior { get; init; } = 1e-4f;

    public int Seed { get; init; } = 20261121;

    public FemurFrameRule Frame { get; init; } = new();

    public SampleSettings Samples { get; init; } = new();

    /// <summary>How the BScore calibration fits each training femur (the run-time fit, without reconstruction).</summary>
    public NsmFitOptions Calibration { get; init; } = new() { Reconstruct = false };

    /// <summary>The OA parameter of training shape <paramref name="index"/>.</summary>
    public static double OaOf(int index) => (index % 8) < 3 ? 0.0 : ((index % 8) - 2) / 5.0;
}

/// <summary>A trained decoder with its training codes.</summary>
public sealed record TrainedShapeModel(SdfNetwork Network, float[][] Latents, IReadOnlyList<ShapeSamples> Shapes, double FinalLoss, TimeSpan Duration, TrainingSettings Settings);

/// <summary>
/// Auto-decoder training (DeepSDF): network weights and one latent code per shape are optimised together
/// by Adam on the clamped L1 loss of SDF samples. Single-threaded and sequential, with every random draw
/// from seeded generators: the same settings give the same bytes.
/// </summary>
public static class SdfTrainer
{
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static TrainedShapeModel Train(TrainingSettings settings, IProgress<(int Epoch, double Loss)>? progress = null, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(settings);
        var watch = Stopwatch.StartNew();
        var shapes = new ShapeSamples[settings.Shapes];
        // Sampling is per shape and independent: parallel over shapes gives the same samples.
        Parallel.For(0, settings.Shapes, new ParallelOptions { CancellationToken = ct }, i =>
            shapes[i] = FemurSamples.Sample(settings.FirstSeed + i, TrainingSettings.OaOf(i), settings.Frame, settings.Samples));

        int l = settings.LatentSize;
        SdfNetwork net = SdfNetwork.CreateRandom(l, settings.Hidden, settings.Depth, settings.Seed);
        var random = new Random(settings.Seed + 1);
        var latents = new float[settings.Shapes][];
        for (int i = 0; i < settings.Shapes; i++)
        {
            latents[i] = new float[l];
            for (int k = 0; k < l; k++)
            {
                latents[i][k] = (float)(0.1 * ((2 * random.NextDouble()) - 1));
            }
        }

        float[] parameters = net.Parameters;
        var gradient = new float[parameters.Length];
        var adamNet = new Adam(parameters.Length);
        var adamLatent = new Adam[settings.Shapes];
        for (int i = 0; i < settings.Shapes; i++)
        {
            adamLatent[i] = new Adam(l);
        }

        var workspace = new SdfNetwork.Workspace();
        int m = settings.SamplesPerShape;
        var batchPoints = new float[3 * m];
        var batchTargets = new float[m];
        var latentGradient = new float[l];
        var order = new int[settings.Shapes];
        for (int i = 0; i < order.Length; i++)
        {
            order[i] = i;
        }

        double lastLoss = double.NaN;
        int epochsPerHalving = Math.Max(1, settings.Epochs / (settings.Halvings + 1));
        for (int epoch = 0; epoch < settings.Epochs; epoch++)
        {
            ct.ThrowIfCancellationRequested();
            double factor = Math.Pow(0.5, Math.Min(settings.Halvings, epoch / epochsPerHalving));
            float lrNet = (float)(settings.NetworkLearningRate * factor), lrLatent = (float)(settings.LatentLearningRate * factor);
            Shuffle(order, random);
            double epochLoss = 0;
            long epochCount = 0;
            for (int b0 = 0; b0 < order.Length; b0 += settings.ShapesPerBatch)
            {
                int shapesInBatch = Math.Min(settings.ShapesPerBatch, order.Length - b0);
                float weight = 1f / (shapesInBatch * m);
                Array.Clear(gradient);
                for (int b = 0; b < shapesInBatch; b++)
                {
                    int shape = order[b0 + b];
                    ShapeSamples samples = shapes[shape];
                    int pool = samples.Targets.Length;
                    for (int s = 0; s < m; s++)
                    {
                        int pick = random.Next(pool);
                        batchPoints[3 * s] = samples.PointsXyz[3 * pick];
                        batchPoints[(3 * s) + 1] = samples.PointsXyz[(3 * pick) + 1];
                        batchPoints[(3 * s) + 2] = samples.PointsXyz[(3 * pick) + 2];
                        batchTargets[s] = samples.Targets[pick];
                    }

                    Array.Clear(latentGradient);
                    epochLoss += net.Backpropagate(latents[shape], batchPoints, batchTargets, settings.ClampMm, weight, gradient, latentGradient, workspace);
                    epochCount += m;
                    for (int k = 0; k < l; k++)
                    {
                        latentGradient[k] += 2 * settings.LatentPrior * latents[shape][k] / shapesInBatch;
                    }

                    adamLatent[shape].Step(latents[shape], latentGradient, lrLatent);
                }

                adamNet.Step(parameters, gradient, lrNet);
            }

            lastLoss = epochLoss / epochCount;
            progress?.Report((epoch, lastLoss));
        }

        return new TrainedShapeModel(net, latents, shapes, lastLoss, watch.Elapsed, settings);
    }

    private static void Shuffle(int[] order, Random random)
    {
        for (int i = order.Length - 1; i > 0; i--)
        {
            int j = random.Next(i + 1);
            (order[i], order[j]) = (order[j], order[i]);
        }
    }
}

/// <summary>Adam (Kingma and Ba) on a float vector; bias corrections by repeated multiplication (no libm pow, so the bits are the same everywhere).</summary>
public sealed class Adam
{
    private readonly float[] m, v;
    private double beta1Power = 1, beta2Power = 1;

    public Adam(int size, float beta1 = 0.9f, float beta2 = 0.999f, float epsilon = 1e-8f)
    {
        m = new float[size];
        v = new float[size];
        Beta1 = beta1;
        Beta2 = beta2;
        Epsilon = epsilon;
    }

    public float Beta1 { get; }

    public float Beta2 { get; }

    public float Epsilon { get; }

    public int Steps { get; private set; }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void Step(Span<float> parameters, ReadOnlySpan<float> gradient, float learningRate)
    {
        Steps++;
        beta1Power *= Beta1;
        beta2Power *= Beta2;
        float c1 = (float)(1 - beta1Power), c2 = (float)(1 - beta2Power);
        for (int i = 0; i < parameters.Length; i++)
        {
            float g = gradient[i];
            m[i] = (Beta1 * m[i]) + ((1 - Beta1) * g);
            v[i] = (Beta2 * v[i]) + ((1 - Beta2) * g * g);
            float mHat = m[i] / c1, vHat = v[i] / c2;
            parameters[i] -= learningRate * mHat / (MathF.Sqrt(vHat) + Epsilon);
        }
    }
}
