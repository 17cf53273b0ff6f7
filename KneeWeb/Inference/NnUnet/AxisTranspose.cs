using KneeWeb.Imaging;

namespace KneeWeb.Inference.NnUnet;

/// <summary>
/// nnU-Net's transpose_forward between image axes (k, j, i: a KneeWeb volume's memory order,
/// slowest first) and network axes: network axis a is image axis <c>forward[a]</c>.
/// </summary>
public sealed class AxisTranspose
{
    private readonly int[] forward;

    public AxisTranspose(IReadOnlyList<int> transposeForward)
    {
        ArgumentNullException.ThrowIfNull(transposeForward);
        if (transposeForward.Count != 3 || transposeForward.Order().SequenceEqual([0, 1, 2]) is false)
        {
            throw new ModelConfigurationException($"transpose_forward [{string.Join(", ", transposeForward)}] is not a permutation of 0, 1, 2.");
        }

        forward = [.. transposeForward];
    }

    /// <summary>The network grid of an image (image axes k, j, i permuted).</summary>
    public Grid3 ToNetwork(Dims3 image)
    {
        int[] sizes = ImageSizes(image);
        return new Grid3(sizes[forward[0]], sizes[forward[1]], sizes[forward[2]]);
    }

    /// <summary>Spacing (i, j, k as a Vec3d) in network axes.</summary>
    public double[] ToNetwork(Vec3d spacingMmIjk)
    {
        double[] imageAxes = [spacingMmIjk.Z, spacingMmIjk.Y, spacingMmIjk.X];
        return [imageAxes[forward[0]], imageAxes[forward[1]], imageAxes[forward[2]]];
    }

    /// <summary>An image-ordered array rearranged into network order.</summary>
    public T[] ToNetwork<T>(ReadOnlySpan<T> image, Dims3 dims)
    {
        Grid3 grid = ToNetwork(dims);
        long[] strides = NetworkStridesIntoImage(dims);
        var result = new T[grid.Count];
        long n = 0;
        for (int a = 0; a < grid.N0; a++)
        {
            for (int b = 0; b < grid.N1; b++)
            {
                long rowStart = (a * strides[0]) + (b * strides[1]);
                for (int c = 0; c < grid.N2; c++)
                {
                    result[n++] = image[(int)(rowStart + (c * strides[2]))];
                }
            }
        }

        return result;
    }

    /// <summary>A network-ordered array put back in image order (transpose_backward).</summary>
    public T[] ToImage<T>(T[] network, Dims3 dims)
    {
        ArgumentNullException.ThrowIfNull(network);
        Grid3 grid = ToNetwork(dims);
        long[] strides = NetworkStridesIntoImage(dims);
        var result = new T[dims.VoxelCount];
        for (int a = 0; a < grid.N0; a++)
        {
            for (int b = 0; b < grid.N1; b++)
            {
                long rowStart = (a * strides[0]) + (b * strides[1]);
                ReadOnlySpan<T> row = network.AsSpan((int)grid.Index(a, b, 0), grid.N2);
                for (int c = 0; c < grid.N2; c++)
                {
                    result[rowStart + (c * strides[2])] = row[c];
                }
            }
        }

        return result;
    }

    private static int[] ImageSizes(Dims3 dims) => [dims.K, dims.J, dims.I];

    // How far one step along each network axis moves in the image's memory.
    private long[] NetworkStridesIntoImage(Dims3 dims)
    {
        long[] imageStrides = [dims.SliceSize, dims.I, 1];
        return [imageStrides[forward[0]], imageStrides[forward[1]], imageStrides[forward[2]]];
    }
}
