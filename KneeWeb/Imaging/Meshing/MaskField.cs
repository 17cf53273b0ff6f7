using System.Runtime.CompilerServices;

namespace KneeWeb.Imaging.Meshing;

/// <summary>A float field on a crop of a label map: the grid, its values and where it sits in RAS.</summary>
public sealed record CroppedField(float[] Values, Dims3 Dims, AffineRas IndexToRas);

/// <summary>
/// Turns a structure of a label map into a smooth field for marching cubes: the binary mask (1 inside)
/// cropped to the structure's box with a zero margin (so surfaces close even where the structure leaves
/// the field of view), then a separable Gaussian blur whose sigma is given in mm (anisotropic voxels
/// get the same physical smoothing along every axis). The 0.5 level of the result is the surface.
/// </summary>
public static class MaskField
{
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static CroppedField Build(Volume labels, ReadOnlySpan<byte> members, double sigmaMm)
    {
        ArgumentNullException.ThrowIfNull(labels);
        byte[] voxels = (byte[])labels.Voxels;
        Dims3 dims = labels.Dims;
        Span<bool> isMember = stackalloc bool[256];
        foreach (byte m in members)
        {
            isMember[m] = true;
        }

        // Bounding box of the structure.
        int i0 = int.MaxValue, j0 = int.MaxValue, k0 = int.MaxValue, i1 = -1, j1 = -1, k1 = -1;
        for (int k = 0; k < dims.K; k++)
        {
            for (int j = 0; j < dims.J; j++)
            {
                int row = (int)dims.Index(0, j, k);
                for (int i = 0; i < dims.I; i++)
                {
                    if (isMember[voxels[row + i]])
                    {
                        if (i < i0) { i0 = i; }
                        if (i > i1) { i1 = i; }
                        if (j < j0) { j0 = j; }
                        if (j > j1) { j1 = j; }
                        if (k < k0) { k0 = k; }
                        if (k > k1) { k1 = k; }
                    }
                }
            }
        }

        if (i1 < 0)
        {
            return new CroppedField([], new Dims3(0, 0, 0), labels.Geometry.IndexToRas);
        }

        Vec3d spacing = labels.Geometry.SpacingMm;
        int ri = KernelRadius(sigmaMm / spacing.X), rj = KernelRadius(sigmaMm / spacing.Y), rk = KernelRadius(sigmaMm / spacing.Z);
        // Margin: the blur's reach plus one voxel of zeros so the level surface closes inside the crop.
        int pi = ri + 2, pj = rj + 2, pk = rk + 2;
        int oi = i0 - pi, oj = j0 - pj, ok = k0 - pk;
        var cropDims = new Dims3(i1 - i0 + 1 + (2 * pi), j1 - j0 + 1 + (2 * pj), k1 - k0 + 1 + (2 * pk));
        var field = new float[cropDims.VoxelCount];
        int sliceSize = (int)cropDims.SliceSize;
        int ci = cropDims.I;
        for (int k = Math.Max(0, ok); k < Math.Min(dims.K, ok + cropDims.K); k++)
        {
            for (int j = Math.Max(0, oj); j < Math.Min(dims.J, oj + cropDims.J); j++)
            {
                int row = (int)dims.Index(0, j, k);
                int cropRow = ((k - ok) * sliceSize) + ((j - oj) * ci);
                for (int i = Math.Max(0, oi); i < Math.Min(dims.I, oi + cropDims.I); i++)
                {
                    if (isMember[voxels[row + i]])
                    {
                        field[cropRow + (i - oi)] = 1f;
                    }
                }
            }
        }

        if (sigmaMm > 0)
        {
            Blur(field, cropDims, 0, Kernel(sigmaMm / spacing.X, ri));
            Blur(field, cropDims, 1, Kernel(sigmaMm / spacing.Y, rj));
            Blur(field, cropDims, 2, Kernel(sigmaMm / spacing.Z, rk));
        }

        AffineRas affine = labels.Geometry.IndexToRas;
        Vec3d cropOrigin = affine.Apply(new Vec3d(oi, oj, ok));
        var cropAffine = new AffineRas(
            affine[0, 0], affine[0, 1], affine[0, 2], cropOrigin.X,
            affine[1, 0], affine[1, 1], affine[1, 2], cropOrigin.Y,
            affine[2, 0], affine[2, 1], affine[2, 2], cropOrigin.Z);
        return new CroppedField(field, cropDims, cropAffine);
    }

    private static int KernelRadius(double sigmaVoxels) => sigmaVoxels <= 0 ? 0 : (int)Math.Ceiling(3 * sigmaVoxels);

    private static float[] Kernel(double sigmaVoxels, int radius)
    {
        var kernel = new float[(2 * radius) + 1];
        double sum = 0;
        for (int r = -radius; r <= radius; r++)
        {
            double w = sigmaVoxels <= 0 ? (r == 0 ? 1 : 0) : Math.Exp(-0.5 * r * r / (sigmaVoxels * sigmaVoxels));
            kernel[r + radius] = (float)w;
            sum += w;
        }

        for (int r = 0; r < kernel.Length; r++)
        {
            kernel[r] = (float)(kernel[r] / sum);
        }

        return kernel;
    }

    // One separable pass along an axis; lines are independent, so slices run in parallel.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Blur(float[] field, Dims3 dims, int axis, float[] kernel)
    {
        if (kernel.Length == 1)
        {
            return;
        }

        int length = axis == 0 ? dims.I : axis == 1 ? dims.J : dims.K;
        int stride = axis == 0 ? 1 : axis == 1 ? dims.I : (int)dims.SliceSize;
        // Lines along the axis are indexed by the other two coordinates.
        int outerCount = axis == 2 ? dims.J : dims.K;
        int innerCount = axis == 0 ? dims.J : dims.I;
        Parallel.For(0, outerCount, () => new float[length], (outer, _, line) =>
        {
            BlurLines(field, dims, axis, kernel, outer, innerCount, length, stride, line);
            return line;
        }, _ => { });
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void BlurLines(float[] field, Dims3 dims, int axis, float[] kernel, int outer, int innerCount, int length, int stride, float[] line)
    {
        int radius = kernel.Length / 2;
        for (int inner = 0; inner < innerCount; inner++)
        {
            int start = axis switch
            {
                0 => (int)dims.Index(0, inner, outer),
                1 => (int)dims.Index(inner, 0, outer),
                _ => (int)dims.Index(inner, outer, 0),
            };
            bool any = false;
            for (int n = 0; n < length; n++)
            {
                float value = field[start + (n * stride)];
                line[n] = value;
                any |= value != 0;
            }

            if (!any)
            {
                continue;
            }

            for (int n = 0; n < length; n++)
            {
                float sum = 0;
                int lo = Math.Max(0, n - radius), hi = Math.Min(length - 1, n + radius);
                for (int m = lo; m <= hi; m++)
                {
                    sum += kernel[m - n + radius] * line[m];
                }

                field[start + (n * stride)] = sum;
            }
        }

    }
}
