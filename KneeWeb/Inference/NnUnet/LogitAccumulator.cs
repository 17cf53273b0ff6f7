using System.Numerics.Tensors;

namespace KneeWeb.Inference.NnUnet;

/// <summary>
/// Gaussian-weighted sum of tile logits over the padded grid, float32 per class, and the sum of
/// weights; <see cref="Finish"/> turns them into nnU-Net's weighted mean (predicted_logits /= n_predictions).
/// Memory: (classes + 1) x padded voxels x 4 bytes.
/// </summary>
public sealed class LogitAccumulator
{
    private readonly NnUnetTilePlan plan;
    private readonly float[] gaussian;
    private readonly float[] weights;

    public LogitAccumulator(NnUnetTilePlan plan, int classes)
    {
        ArgumentNullException.ThrowIfNull(plan);
        this.plan = plan;
        gaussian = NnUnetTilePlan.Gaussian(plan.Patch);
        Logits = new float[classes][];
        for (int c = 0; c < classes; c++)
        {
            Logits[c] = new float[plan.Padded.Count];
        }

        weights = new float[plan.Padded.Count];
    }

    /// <summary>Per class, on the padded grid.</summary>
    public float[][] Logits { get; }

    /// <summary>Adds one tile's logits ([classes][patch], already averaged over mirrors) at its place.</summary>
    public void Add(ReadOnlySpan<float> tileLogits, TileStart start)
    {
        Grid3 patch = plan.Patch, padded = plan.Padded;
        int patchCount = (int)patch.Count;
        for (int c = 0; c < Logits.Length; c++)
        {
            AddPatch(tileLogits.Slice(c * patchCount, patchCount), Logits[c], start, patch, padded, weigh: true);
        }

        AddPatch(gaussian, weights, start, patch, padded, weigh: false);
    }

    public void Finish()
    {
        foreach (float[] classLogits in Logits)
        {
            TensorPrimitives.Divide(classLogits, weights, classLogits);
        }
    }

    private void AddPatch(ReadOnlySpan<float> values, float[] target, TileStart start, Grid3 patch, Grid3 padded, bool weigh)
    {
        for (int a = 0; a < patch.N0; a++)
        {
            for (int b = 0; b < patch.N1; b++)
            {
                int row = (int)patch.Index(a, b, 0);
                ReadOnlySpan<float> source = values.Slice(row, patch.N2);
                Span<float> destination = target.AsSpan((int)padded.Index(start.S0 + a, start.S1 + b, start.S2), patch.N2);
                if (weigh)
                {
                    TensorPrimitives.MultiplyAdd(source, gaussian.AsSpan(row, patch.N2), destination, destination);
                }
                else
                {
                    TensorPrimitives.Add(destination, source, destination);
                }
            }
        }
    }
}
