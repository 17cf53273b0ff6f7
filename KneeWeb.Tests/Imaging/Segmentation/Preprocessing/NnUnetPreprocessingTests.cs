using KneeWeb.Imaging;
using KneeWeb.Imaging.Segmentation.Preprocessing;
using Xunit;

namespace KneeWeb.Tests.Imaging.Segmentation.Preprocessing;

[Trait("Category", "unit")]
public sealed class NnUnetPreprocessingTests
{
    private static readonly AffineRas Oblique = AffineRas.FromDirections(
        new Vec3d(0.8, 0.6, 0), new Vec3d(-0.6, 0.8, 0), new Vec3d(0, 0, 1), new Vec3d(0.4, 0.4, 0.8), new Vec3d(-30, 12, 40));

    private static double Plane(Vec3d pointRas) => (2 * pointRas.X) + (3 * pointRas.Y) - pointRas.Z + 7;

    [Fact]
    public void Linear_resampling_reproduces_a_linear_field_at_the_new_voxel_centres()
    {
        // A field linear in world mm is reproduced exactly by linear interpolation; checking it at
        // the resampled geometry's voxel centres checks the interpolation and the affine together.
        var dims = new Dims3(30, 28, 20);
        var geometry = new VolumeGeometry(dims, Oblique);
        var values = new float[dims.VoxelCount];
        for (int k = 0; k < dims.K; k++)
        {
            for (int j = 0; j < dims.J; j++)
            {
                for (int i = 0; i < dims.I; i++)
                {
                    values[dims.Index(i, j, k)] = (float)Plane(Oblique.Apply(new Vec3d(i, j, k)));
                }
            }
        }

        var newDims = new Dims3(19, 45, 13);
        float[] resampled = Resampling.Resample(values, dims, newDims);
        VolumeGeometry newGeometry = Resampling.ResampledGeometry(geometry, newDims);
        double worst = 0;
        for (int k = 1; k < newDims.K - 1; k++)
        {
            for (int j = 1; j < newDims.J - 1; j++)
            {
                for (int i = 1; i < newDims.I - 1; i++)
                {
                    double expected = Plane(newGeometry.IndexToRas.Apply(new Vec3d(i, j, k)));
                    worst = Math.Max(worst, Math.Abs(resampled[newDims.Index(i, j, k)] - expected));
                }
            }
        }

        Assert.True(worst < 1e-3, $"worst error {worst}");
        Assert.True(newGeometry.IndexToRas.Column(0).Normalized().Dot(Oblique.Column(0).Normalized()) > 0.999999);
    }

    [Fact]
    public void Preprocessing_crops_normalises_resamples_and_restores_a_sphere_onto_the_input_grid()
    {
        var dims = new Dims3(80, 70, 40);
        var affine = AffineRas.FromSpacing(new Vec3d(0.4, 0.4, 0.8), new Vec3d(-10, 5, 3));
        var truth = new byte[dims.VoxelCount];
        var voxels = new short[dims.VoxelCount];
        Vec3d centre = affine.Apply(new Vec3d(45, 30, 22));
        long inside = 0;
        for (int k = 0; k < dims.K; k++)
        {
            for (int j = 0; j < dims.J; j++)
            {
                for (int i = 0; i < dims.I; i++)
                {
                    long n = dims.Index(i, j, k);
                    double r = (affine.Apply(new Vec3d(i, j, k)) - centre).Length;
                    truth[n] = r <= 6 ? (byte)1 : (byte)0;
                    inside += truth[n];
                    // A non-zero body (r <= 12) around the sphere, zero outside it: the crop keeps the body.
                    voxels[n] = r <= 6 ? (short)1000 : r <= 12 ? (short)200 : (short)0;
                }
            }
        }

        var image = new Volume(new VolumeGeometry(dims, affine), VoxelType.Int16, voxels);
        var settings = new PreprocessingSettings { TargetSpacingMm = new Vec3d(0.6, 0.6, 0.6), UseNonzeroMask = true };
        PreprocessedImage p = NnUnetPreprocessing.Preprocess(image, settings);
        Assert.True(p.CropBox.Size.I < dims.I && p.CropBox.Size.K < dims.K, $"crop box {p.CropBox}");
        Assert.Equal(new Dims3(
            NnUnetPreprocessing.NewSize(p.CropBox.Size.I, 0.4, 0.6),
            NnUnetPreprocessing.NewSize(p.CropBox.Size.J, 0.4, 0.6),
            NnUnetPreprocessing.NewSize(p.CropBox.Size.K, 0.8, 0.6)), p.Dims);

        // Threshold on the model grid (the sphere is far above the body's z-score), then restore.
        float[] channel = p.Channels[0];
        var labels = new byte[channel.Length];
        for (int n = 0; n < channel.Length; n++)
        {
            labels[n] = channel[n] > 1.0f ? (byte)1 : (byte)0;
        }

        byte[] restored = NnUnetPreprocessing.RestoreLabels(labels, p);
        Assert.Equal(truth.Length, restored.Length);
        long both = 0, found = 0;
        double ci = 0, ti = 0;
        for (long n = 0; n < truth.LongLength; n++)
        {
            found += restored[n];
            both += restored[n] & truth[n];
            ci += restored[n] * (n % dims.I);
            ti += truth[n] * (n % dims.I);
        }

        double dice = 2.0 * both / (found + inside);
        Assert.True(dice > 0.93, $"Dice {dice:F3}");
        Assert.True(Math.Abs((ci / found) - (ti / inside)) < 0.3, $"centroid i {ci / found:F2} vs {ti / inside:F2}");
    }

    [Fact]
    public void Zscore_normalises_over_the_mask_and_keeps_zeros_outside_it()
    {
        float[] data = [0, 0, 1, 2, 3, 0];
        NnUnetPreprocessing.Normalize(data, new PreprocessingSettings { TargetSpacingMm = new Vec3d(1, 1, 1), UseNonzeroMask = true });
        Assert.Equal(0f, data[0]);
        Assert.Equal(0f, data[5]);
        Assert.Equal(-1.2247449f, data[2], 4);
        Assert.Equal(0f, data[3], 5);

        float[] all = [1, 2, 3, 4];
        NnUnetPreprocessing.Normalize(all, new PreprocessingSettings { TargetSpacingMm = new Vec3d(1, 1, 1) });
        Assert.Equal(0f, all.Sum(), 4);

        float[] fixedScheme = [-500, 50, 5000];
        NnUnetPreprocessing.Normalize(fixedScheme, new PreprocessingSettings
        {
            TargetSpacingMm = new Vec3d(1, 1, 1),
            Normalization = IntensityNormalization.Fixed,
            FixedMean = 50,
            FixedStd = 10,
            ClipLow = -100,
            ClipHigh = 1000,
        });
        Assert.Equal([-15f, 0f, 95f], fixedScheme);
    }

    [Fact]
    public void The_anisotropy_rule_picks_the_coarse_axis_for_nearest_resampling()
    {
        Assert.Equal((false, false, true), NnUnetPreprocessing.AnisotropicAxes(new Vec3d(0.4, 0.4, 3.0), new Vec3d(0.4, 0.4, 3.0), 3));
        Assert.Equal((true, false, false), NnUnetPreprocessing.AnisotropicAxes(new Vec3d(1, 1, 1), new Vec3d(4, 1, 1), 3));
        Assert.Equal((false, false, false), NnUnetPreprocessing.AnisotropicAxes(new Vec3d(0.4, 0.4, 0.8), new Vec3d(0.5, 0.5, 1), 3));

        // Nearest along k: slices are copied, never blended.
        var dims = new Dims3(2, 2, 3);
        float[] data = [1, 1, 1, 1, 5, 5, 5, 5, 9, 9, 9, 9];
        float[] up = Resampling.Resample(data, dims, new Dims3(2, 2, 6), (false, false, true));
        Assert.All(up, v => Assert.Contains(v, new[] { 1f, 5f, 9f }));
    }

    [Fact]
    public void Nearest_label_resampling_at_the_same_size_is_the_identity()
    {
        var dims = new Dims3(5, 4, 3);
        byte[] labels = Enumerable.Range(0, 60).Select(v => (byte)v).ToArray();
        Assert.Equal(labels, Resampling.ResampleNearest(labels, dims, dims));
        Assert.Equal(new[] { 0, 0, 1, 1, 2, 2 }, Resampling.NearestTable(3, 6));
    }
}
