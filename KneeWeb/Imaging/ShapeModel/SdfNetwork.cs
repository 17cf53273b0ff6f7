using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace KneeWeb.Imaging.ShapeModel;

/// <summary>
/// The DeepSDF-style decoder in plain C#: an MLP from [latent, xyz] to a signed distance (model mm), with
/// ReLU hidden layers. Parameters sit in one flat array (Adam works on it as a whole), per layer: weights
/// row-major [inputs x outputs] then biases; the first layer's rows are the latent entries, then x, y, z.
/// Points enter scaled by <see cref="InputScale"/>, the latent by <see cref="LatentScale"/>, and the output is
/// multiplied by <see cref="OutputScale"/>, so the network works in numbers near 1. The ONNX export (Inference/ModelBuilding/NsmModelBuilder) writes
/// exactly this function.
/// Arithmetic is fixed-width (Vector256, multiply then add, never fused) and sequential, so the same inputs
/// give the same bits on every x64 machine, whatever its vector width.
/// </summary>
public sealed class SdfNetwork
{
    public const float InputScale = 1f / 50f;
    public const float OutputScale = 10f;

    /// <summary>
    /// The latent enters the first layer multiplied by this: latent codes then spread over about +-1, so the
    /// fit's fixed Adam step (0.005 per iteration) is fine compared with the differences between shapes.
    /// </summary>
    public const float LatentScale = 0.1f;

    public SdfNetwork(int latentSize, int hidden, int depth, float[] parameters)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        if (hidden % 8 != 0 || hidden <= 0 || depth < 1 || latentSize < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(hidden), "Hidden width must be a positive multiple of 8; depth and latent size at least 1.");
        }

        LatentSize = latentSize;
        Hidden = hidden;
        Depth = depth;
        if (parameters.Length != ParameterCount(latentSize, hidden, depth))
        {
            throw new ArgumentException($"{parameters.Length} parameters given; the shape needs {ParameterCount(latentSize, hidden, depth)}.", nameof(parameters));
        }

        Parameters = parameters;
    }

    public int LatentSize { get; }

    public int Hidden { get; }

    /// <summary>Number of hidden (ReLU) layers.</summary>
    public int Depth { get; }

    public float[] Parameters { get; }

    public static int ParameterCount(int latentSize, int hidden, int depth) =>
        ((latentSize + 3) * hidden) + hidden + ((depth - 1) * ((hidden * hidden) + hidden)) + hidden + 1;

    /// <summary>Offset of hidden layer <paramref name="layer"/>'s weights (layer 0 takes latent + xyz).</summary>
    public int WeightOffset(int layer) => layer == 0 ? 0 : ((LatentSize + 4) * Hidden) + ((layer - 1) * ((Hidden * Hidden) + Hidden));

    public int BiasOffset(int layer) => WeightOffset(layer) + ((layer == 0 ? LatentSize + 3 : Hidden) * Hidden);

    public int OutputWeightOffset => WeightOffset(Depth);

    public int OutputBiasOffset => OutputWeightOffset + Hidden;

    /// <summary>Weights and biases of one hidden layer (weights row-major [inputs x hidden]).</summary>
    public (float[] Weights, float[] Bias) Layer(int layer)
    {
        int rows = layer == 0 ? LatentSize + 3 : Hidden;
        return (Parameters.AsSpan(WeightOffset(layer), rows * Hidden).ToArray(), Parameters.AsSpan(BiasOffset(layer), Hidden).ToArray());
    }

    /// <summary>He-uniform weights from a seeded generator, zero biases (output bias: a small sphere-like offset).</summary>
    public static SdfNetwork CreateRandom(int latentSize, int hidden, int depth, int seed)
    {
        var parameters = new float[ParameterCount(latentSize, hidden, depth)];
        var net = new SdfNetwork(latentSize, hidden, depth, parameters);
        var random = new Random(seed);
        for (int layer = 0; layer <= depth; layer++)
        {
            int rows = layer == 0 ? latentSize + 3 : hidden;
            int columns = layer == depth ? 1 : hidden;
            double limit = Math.Sqrt(6.0 / rows);
            int offset = net.WeightOffset(layer);
            for (int w = 0; w < rows * columns; w++)
            {
                parameters[offset + w] = (float)(limit * ((2 * random.NextDouble()) - 1));
            }
        }

        return net;
    }

    /// <summary>Activations of a batch, reused between calls.</summary>
    public sealed class Workspace
    {
        internal float[][] Activations = [];
        internal float[] Scratch = [];
        internal float[] Gradient = [];
        internal float[] GradientPrevious = [];
        internal float[] LatentSum = [];
        internal float[] FirstLayerLatentPart = [];

        internal void Ensure(int samples, int hidden, int depth)
        {
            if (Activations.Length != depth || Activations[0].Length < samples * hidden)
            {
                Activations = new float[depth][];
                for (int d = 0; d < depth; d++)
                {
                    Activations[d] = new float[samples * hidden];
                }
            }

            if (Scratch.Length != hidden)
            {
                Scratch = new float[hidden];
                Gradient = new float[hidden];
                GradientPrevious = new float[hidden];
                LatentSum = new float[hidden];
                FirstLayerLatentPart = new float[hidden];
            }
        }
    }

    /// <summary>Signed distances (model mm) of points (model mm, xyz interleaved) for one latent.</summary>
    public void Evaluate(ReadOnlySpan<float> latent, ReadOnlySpan<float> pointsXyz, Span<float> sdf, Workspace workspace)
    {
        ArgumentNullException.ThrowIfNull(workspace);
        int n = pointsXyz.Length / 3;
        const int Chunk = 256;
        workspace.Ensure(Chunk, Hidden, Depth);
        for (int s0 = 0; s0 < n; s0 += Chunk)
        {
            int count = Math.Min(Chunk, n - s0);
            Forward(latent, pointsXyz.Slice(3 * s0, 3 * count), sdf.Slice(s0, count), workspace);
        }
    }

    /// <summary>
    /// One latent's share of a training or fitting step: forward, clamped L1 loss, backward. Adds
    /// <paramref name="weight"/> x d(sum of |clamp(sdf) - clamp(target)|)/d(parameters) into
    /// <paramref name="parameterGradient"/> (skipped when empty) and the same for the latent into
    /// <paramref name="latentGradient"/>. Returns the sum of absolute errors (clamped).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public double Backpropagate(ReadOnlySpan<float> latent, ReadOnlySpan<float> pointsXyz, ReadOnlySpan<float> targets, float clampMm, float weight,
        Span<float> parameterGradient, Span<float> latentGradient, Workspace workspace)
    {
        ArgumentNullException.ThrowIfNull(workspace);
        int n = targets.Length;
        int h = Hidden;
        workspace.Ensure(n, h, Depth);
        Span<float> sdf = n <= 4096 ? stackalloc float[n] : new float[n];
        Forward(latent, pointsXyz, sdf, workspace);
        bool withParameters = !parameterGradient.IsEmpty;
        ReadOnlySpan<float> p = Parameters;
        Span<float> gradH = workspace.Gradient;
        Span<float> gradPrev = workspace.GradientPrevious;
        Span<float> latentSum = workspace.LatentSum;
        latentSum.Clear();
        double lossSum = 0;
        ReadOnlySpan<float> wOut = p.Slice(OutputWeightOffset, h);
        for (int s = 0; s < n; s++)
        {
            float predicted = sdf[s];
            float pc = Math.Clamp(predicted, -clampMm, clampMm), tc = Math.Clamp(targets[s], -clampMm, clampMm);
            float diff = pc - tc;
            lossSum += Math.Abs(diff);
            if (diff == 0 || (predicted >= clampMm && tc >= clampMm) || (predicted <= -clampMm && tc <= -clampMm))
            {
                continue;
            }

            // Outside the clamp the loss is flat in the prediction.
            if (predicted > clampMm || predicted < -clampMm)
            {
                continue;
            }

            float gOut = (diff > 0 ? 1f : -1f) * weight * OutputScale;
            ReadOnlySpan<float> last = workspace.Activations[Depth - 1].AsSpan(s * h, h);
            if (withParameters)
            {
                Axpy(gOut, last, parameterGradient.Slice(OutputWeightOffset, h));
                parameterGradient[OutputBiasOffset] += gOut;
            }

            Scale(gOut, wOut, gradH);
            for (int layer = Depth - 1; layer >= 1; layer--)
            {
                ReadOnlySpan<float> act = workspace.Activations[layer].AsSpan(s * h, h);
                ReadOnlySpan<float> below = workspace.Activations[layer - 1].AsSpan(s * h, h);
                ReluMask(gradH, act);
                int wOffset = WeightOffset(layer);
                if (withParameters)
                {
                    Add(gradH, parameterGradient.Slice(BiasOffset(layer), h));
                    for (int i = 0; i < h; i++)
                    {
                        float a = below[i];
                        if (a != 0)
                        {
                            Axpy(a, gradH, parameterGradient.Slice(wOffset + (i * h), h));
                        }
                    }
                }

                for (int i = 0; i < h; i++)
                {
                    gradPrev[i] = below[i] > 0 ? Dot(p.Slice(wOffset + (i * h), h), gradH) : 0f;
                }

                gradPrev.CopyTo(gradH);
            }

            ReluMask(gradH, workspace.Activations[0].AsSpan(s * h, h));
            Add(gradH, latentSum);
            if (withParameters)
            {
                Add(gradH, parameterGradient.Slice(BiasOffset(0), h));
                for (int d = 0; d < 3; d++)
                {
                    Axpy(pointsXyz[(3 * s) + d] * InputScale, gradH, parameterGradient.Slice((LatentSize + d) * h, h));
                }
            }
        }

        for (int l = 0; l < LatentSize; l++)
        {
            if (withParameters)
            {
                Axpy(latent[l] * LatentScale, latentSum, parameterGradient.Slice(l * h, h));
            }

            latentGradient[l] += LatentScale * Dot(p.Slice(l * h, h), latentSum);
        }

        return lossSum;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void Forward(ReadOnlySpan<float> latent, ReadOnlySpan<float> pointsXyz, Span<float> sdf, Workspace workspace)
    {
        int n = sdf.Length;
        int h = Hidden;
        ReadOnlySpan<float> p = Parameters;
        Span<float> c = workspace.FirstLayerLatentPart;
        p.Slice(BiasOffset(0), h).CopyTo(c);
        for (int l = 0; l < LatentSize; l++)
        {
            Axpy(latent[l] * LatentScale, p.Slice(l * h, h), c);
        }

        ReadOnlySpan<float> wx = p.Slice(LatentSize * h, h), wy = p.Slice((LatentSize + 1) * h, h), wz = p.Slice((LatentSize + 2) * h, h);
        ReadOnlySpan<float> wOut = p.Slice(OutputWeightOffset, h);
        float bOut = p[OutputBiasOffset];
        for (int s = 0; s < n; s++)
        {
            Span<float> a0 = workspace.Activations[0].AsSpan(s * h, h);
            c.CopyTo(a0);
            Axpy(pointsXyz[3 * s] * InputScale, wx, a0);
            Axpy(pointsXyz[(3 * s) + 1] * InputScale, wy, a0);
            Axpy(pointsXyz[(3 * s) + 2] * InputScale, wz, a0);
            Relu(a0);
            for (int layer = 1; layer < Depth; layer++)
            {
                ReadOnlySpan<float> below = workspace.Activations[layer - 1].AsSpan(s * h, h);
                Span<float> a = workspace.Activations[layer].AsSpan(s * h, h);
                int wOffset = WeightOffset(layer);
                p.Slice(BiasOffset(layer), h).CopyTo(a);
                for (int i = 0; i < h; i++)
                {
                    float v = below[i];
                    if (v != 0)
                    {
                        Axpy(v, p.Slice(wOffset + (i * h), h), a);
                    }
                }

                Relu(a);
            }

            sdf[s] = (bOut + Dot(workspace.Activations[Depth - 1].AsSpan(s * h, h), wOut)) * OutputScale;
        }
    }

    // y += a x, lane by lane: elementwise, so the result does not depend on the vector width.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void Axpy(float a, ReadOnlySpan<float> x, Span<float> y)
    {
        ReadOnlySpan<Vector256<float>> xv = MemoryMarshal.Cast<float, Vector256<float>>(x);
        Span<Vector256<float>> yv = MemoryMarshal.Cast<float, Vector256<float>>(y);
        var av = Vector256.Create(a);
        for (int i = 0; i < xv.Length; i++)
        {
            yv[i] = Vector256.Add(yv[i], Vector256.Multiply(av, xv[i]));
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Scale(float a, ReadOnlySpan<float> x, Span<float> y)
    {
        ReadOnlySpan<Vector256<float>> xv = MemoryMarshal.Cast<float, Vector256<float>>(x);
        Span<Vector256<float>> yv = MemoryMarshal.Cast<float, Vector256<float>>(y);
        var av = Vector256.Create(a);
        for (int i = 0; i < xv.Length; i++)
        {
            yv[i] = Vector256.Multiply(av, xv[i]);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Add(ReadOnlySpan<float> x, Span<float> y)
    {
        ReadOnlySpan<Vector256<float>> xv = MemoryMarshal.Cast<float, Vector256<float>>(x);
        Span<Vector256<float>> yv = MemoryMarshal.Cast<float, Vector256<float>>(y);
        for (int i = 0; i < xv.Length; i++)
        {
            yv[i] = Vector256.Add(yv[i], xv[i]);
        }
    }

    // Eight lane sums, then the lanes added in a fixed order.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static float Dot(ReadOnlySpan<float> x, ReadOnlySpan<float> y)
    {
        ReadOnlySpan<Vector256<float>> xv = MemoryMarshal.Cast<float, Vector256<float>>(x);
        ReadOnlySpan<Vector256<float>> yv = MemoryMarshal.Cast<float, Vector256<float>>(y);
        Vector256<float> acc = Vector256<float>.Zero;
        for (int i = 0; i < xv.Length; i++)
        {
            acc = Vector256.Add(acc, Vector256.Multiply(xv[i], yv[i]));
        }

        float sum = 0;
        for (int lane = 0; lane < 8; lane++)
        {
            sum += acc.GetElement(lane);
        }

        return sum;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Relu(Span<float> a)
    {
        Span<Vector256<float>> av = MemoryMarshal.Cast<float, Vector256<float>>(a);
        for (int i = 0; i < av.Length; i++)
        {
            av[i] = Vector256.Max(av[i], Vector256<float>.Zero);
        }
    }

    // Gradient through ReLU: zero where the unit was off (ReLU(x) = 0 includes x = 0, as Sign in the ONNX graph).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void ReluMask(Span<float> gradient, ReadOnlySpan<float> activation)
    {
        Span<Vector256<float>> gv = MemoryMarshal.Cast<float, Vector256<float>>(gradient);
        ReadOnlySpan<Vector256<float>> av = MemoryMarshal.Cast<float, Vector256<float>>(activation);
        for (int i = 0; i < gv.Length; i++)
        {
            gv[i] = Vector256.ConditionalSelect(Vector256.GreaterThan(av[i], Vector256<float>.Zero), gv[i], Vector256<float>.Zero);
        }
    }
}
