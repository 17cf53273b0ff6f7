using KneeWeb.Imaging;

namespace KneeWeb.Inference;

/// <summary>
/// A model of one knee sees the other knee mirrored left-right: the image is mirrored along the
/// voxel axis closest to RAS x before the run and its labels are mirrored back after.
/// </summary>
internal static class KneeSideMirror
{
    /// <summary>The axis to mirror along, or null when the image shows the model's knee (or either side is unknown).</summary>
    public static int? AxisFor(VolumeGeometry geometry, KneeSide? imageSide, KneeSide? modelSide) =>
        imageSide is { } side && modelSide is { } model && side != model ? LeftRightAxis(geometry) : null;

    /// <summary>The voxel axis closest to RAS x (left-right).</summary>
    public static int LeftRightAxis(VolumeGeometry geometry)
    {
        int best = 0;
        double bestShare = -1;
        for (int axis = 0; axis < 3; axis++)
        {
            Vec3d column = geometry.IndexToRas.Column(axis);
            double length = Math.Sqrt((column.X * column.X) + (column.Y * column.Y) + (column.Z * column.Z));
            double share = length > 0 ? Math.Abs(column.X) / length : 0;
            if (share > bestShare)
            {
                bestShare = share;
                best = axis;
            }
        }

        return best;
    }

    /// <summary>The image with its voxels mirrored along one axis (same geometry), as float32.</summary>
    public static Volume Mirrored(Volume image, int axis)
    {
        long count = image.Dims.VoxelCount;
        var values = new float[count * image.Frames];
        for (int frame = 0; frame < image.Frames; frame++)
        {
            float[] mirrored = MirrorAlong(image.ToFloat32(frame), image.Dims, axis);
            mirrored.CopyTo(values, count * frame);
        }

        return new Volume(image.Geometry, VoxelType.Float32, values, image.Frames);
    }

    public static T[] MirrorAlong<T>(T[] source, Dims3 dims, int axis)
    {
        var result = new T[source.Length];
        int rowLength = dims.I;
        Parallel.For(0, dims.K, k =>
        {
            int sourceK = axis == 2 ? dims.K - 1 - k : k;
            for (int j = 0; j < dims.J; j++)
            {
                int sourceJ = axis == 1 ? dims.J - 1 - j : j;
                ReadOnlySpan<T> row = source.AsSpan(checked((int)dims.Index(0, sourceJ, sourceK)), rowLength);
                Span<T> target = result.AsSpan(checked((int)dims.Index(0, j, k)), rowLength);
                row.CopyTo(target);
                if (axis == 0)
                {
                    target.Reverse();
                }
            }
        });
        return result;
    }
}
