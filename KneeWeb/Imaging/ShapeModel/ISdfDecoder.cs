namespace KneeWeb.Imaging.ShapeModel;

/// <summary>
/// A shape decoder as the fit sees it: signed distances (model mm) for points of one latent, and the mean L1
/// loss against targets with its gradient with respect to the latent. The ONNX model implements it with the
/// gradient computed in the graph; <see cref="MlpSdfDecoder"/> is the same function in C#.
/// </summary>
public interface ISdfDecoder
{
    int LatentSize { get; }

    /// <summary>Signed distances of points (xyz interleaved, model mm).</summary>
    void Evaluate(ReadOnlySpan<float> latent, ReadOnlySpan<float> pointsXyz, Span<float> sdf, CancellationToken ct = default);

    /// <summary>Mean |sdf - target| over the points, and its gradient with respect to the latent.</summary>
    float LossAndGradient(ReadOnlySpan<float> latent, ReadOnlySpan<float> pointsXyz, ReadOnlySpan<float> targets, Span<float> latentGradient, CancellationToken ct = default);
}

/// <summary>The decoder evaluated by <see cref="SdfNetwork"/> in C# (training-time checks; no ONNX Runtime needed).</summary>
public sealed class MlpSdfDecoder(SdfNetwork network) : ISdfDecoder
{
    private readonly SdfNetwork.Workspace workspace = new();

    public int LatentSize => network.LatentSize;

    public void Evaluate(ReadOnlySpan<float> latent, ReadOnlySpan<float> pointsXyz, Span<float> sdf, CancellationToken ct = default) =>
        network.Evaluate(latent, pointsXyz, sdf, workspace);

    public float LossAndGradient(ReadOnlySpan<float> latent, ReadOnlySpan<float> pointsXyz, ReadOnlySpan<float> targets, Span<float> latentGradient, CancellationToken ct = default)
    {
        latentGradient.Clear();
        int n = targets.Length;
        double loss = network.Backpropagate(latent, pointsXyz, targets, float.PositiveInfinity, 1f / n, [], latentGradient, workspace);
        return (float)(loss / n);
    }
}
