using KneeWeb.Imaging;
using KneeWeb.Imaging.Segmentation.Preprocessing;
using Xunit;

namespace KneeWeb.Tests.Imaging.Segmentation.Preprocessing;

[Trait("Category", "unit")]
public sealed class LinearScoreRestoreTests
{
    // Three classes with scores linear in the model grid's continuous index (u, v, w): linear
    // interpolation reproduces a linear field exactly, so the argmax on the input grid is known in
    // closed form at every voxel (coordinates clamped to the model grid at the edges, as resampling does).
    private static readonly double[][] Planes =
    [
        [0.0, 0.0, 0.0, 0.0],
        [0.9, -0.4, 0.3, -6.1],
        [-0.5, 0.7, 0.8, -5.3],
    ];

    private static double Score(int c, double u, double v, double w) =>
        (Planes[c][0] * u) + (Planes[c][1] * v) + (Planes[c][2] * w) + Planes[c][3];

    [Theory]
    [InlineData(0.5, 0.5, 0.6, 1.0, 1.0, 1.5)] // downsampled on every axis, linear everywhere
    [InlineData(0.4, 0.4, 2.0, 1.0, 1.0, 2.0)] // in-plane only: k keeps its slices
    [InlineData(0.3, 0.3, 1.5, 0.7, 0.7, 1.5)] // anisotropic image: k is nearest by nnU-Net's rule
    public void Restored_labels_are_the_argmax_of_the_linearly_interpolated_scores(double si, double sj, double sk, double ti, double tj, double tk)
    {
        var dims = new Dims3(37, 31, 23);
        var image = new float[dims.VoxelCount];
        Array.Fill(image, 1f); // nothing to crop
        var geometry = new VolumeGeometry(dims, AffineRas.FromSpacing(new Vec3d(si, sj, sk), new Vec3d(-3, 4, 7)));
        PreprocessedImage p = NnUnetPreprocessing.Preprocess(
            new Volume(geometry, VoxelType.Float32, image),
            new PreprocessingSettings { TargetSpacingMm = new Vec3d(ti, tj, tk), Normalization = IntensityNormalization.None });
        Dims3 m = p.Dims;
        Assert.NotEqual(dims, m);

        // Model-grid scores, one slab per model k, laid out [class][j][i] as the predictor keeps them.
        const int Classes = 3;
        int slice = m.I * m.J;
        var slabs = new float[m.K][];
        for (int w = 0; w < m.K; w++)
        {
            slabs[w] = new float[Classes * slice];
            for (int c = 0; c < Classes; c++)
            {
                for (int v = 0; v < m.J; v++)
                {
                    for (int u = 0; u < m.I; u++)
                    {
                        slabs[w][(c * slice) + (v * m.I) + u] = (float)Score(c, u, v, w);
                    }
                }
            }
        }

        var restore = new LinearScoreRestore(p, Classes);
        byte[] lookup = [0, 4, 7];
        var labels = new byte[dims.I * dims.J];
        int mismatches = 0, nearTies = 0;
        var seen = new HashSet<byte>();
        for (int k = 0; k < dims.K; k++)
        {
            (int lower, int upper) = restore.SourceSlabs(k);
            restore.ArgmaxSlice(k, new ScoreSlab(slabs[lower], 0, m.I, slice), new ScoreSlab(slabs[upper], 0, m.I, slice), lookup, labels);
            double w = Coordinate(k, dims.K, m.K, p.NearestAxes.K);
            for (int j = 0; j < dims.J; j++)
            {
                double v = Coordinate(j, dims.J, m.J, p.NearestAxes.J);
                for (int i = 0; i < dims.I; i++)
                {
                    double u = Coordinate(i, dims.I, m.I, p.NearestAxes.I);
                    double[] scores = [Score(0, u, v, w), Score(1, u, v, w), Score(2, u, v, w)];
                    int best = Array.IndexOf(scores, scores.Max());
                    double margin = scores.Max() - scores.Where((_, c) => c != best).Max();
                    if (margin < 1e-4)
                    {
                        nearTies++; // float rounding may pick either class
                        continue;
                    }

                    seen.Add(labels[(j * dims.I) + i]);
                    mismatches += labels[(j * dims.I) + i] == lookup[best] ? 0 : 1;
                }
            }
        }

        Assert.Equal(0, mismatches);
        Assert.True(nearTies < 20, $"{nearTies} near-ties");
        Assert.Equal(3, seen.Count); // every class wins somewhere: the field is not trivial
    }

    [Fact]
    public void A_plate_thinner_than_a_model_voxel_keeps_its_borders_between_model_voxels()
    {
        // Input 0.25 mm along i, model 1 mm. The plate's score is -1 at every model voxel but one (u = 8,
        // centred at 8.5 mm), where it is 0.25; background scores 0. Interpolated linearly, the plate
        // wins between the zero crossings 8.3 mm and 8.7 mm: input voxels 33 and 34 (centres 8.375 and
        // 8.625 mm). The nearest restore would give the whole model voxel: input voxels 32-35.
        var dims = new Dims3(64, 4, 4);
        var image = new float[dims.VoxelCount];
        Array.Fill(image, 1f);
        var geometry = new VolumeGeometry(dims, AffineRas.FromSpacing(new Vec3d(0.25, 1.0, 1.0), default));
        PreprocessedImage p = NnUnetPreprocessing.Preprocess(
            new Volume(geometry, VoxelType.Float32, image),
            new PreprocessingSettings { TargetSpacingMm = new Vec3d(1.0, 1.0, 1.0), Normalization = IntensityNormalization.None });
        Assert.Equal(new Dims3(16, 4, 4), p.Dims);

        int slice = p.Dims.I * p.Dims.J;
        var slab = new float[2 * slice];
        for (int v = 0; v < p.Dims.J; v++)
        {
            for (int u = 0; u < p.Dims.I; u++)
            {
                slab[slice + (v * p.Dims.I) + u] = u == 8 ? 0.25f : -1f;
            }
        }

        var restore = new LinearScoreRestore(p, 2);
        var labels = new byte[dims.I * dims.J];
        restore.ArgmaxSlice(1, new ScoreSlab(slab, 0, p.Dims.I, slice), new ScoreSlab(slab, 0, p.Dims.I, slice), [0, 1], labels);
        for (int j = 0; j < dims.J; j++)
        {
            int[] plate = Enumerable.Range(0, dims.I).Where(i => labels[(j * dims.I) + i] == 1).ToArray();
            Assert.Equal([33, 34], plate);
        }

        byte[] nearest = NnUnetPreprocessing.RestoreLabels(ModelGridArgmax(slab, p.Dims), p);
        Assert.Equal([32, 33, 34, 35], Enumerable.Range(0, dims.I).Where(i => nearest[i] == 1).ToArray());
    }

    private static byte[] ModelGridArgmax(float[] slab, Dims3 m)
    {
        int slice = m.I * m.J;
        var labels = new byte[m.VoxelCount];
        for (int n = 0; n < labels.Length; n++)
        {
            int inSlice = n % slice;
            labels[n] = slab[slice + inSlice] > slab[inSlice] ? (byte)1 : (byte)0;
        }

        return labels;
    }

    // Continuous model-grid coordinate of input voxel n: pixel centres aligned, clamped; rounded on a nearest axis.
    private static double Coordinate(int n, int size, int modelSize, bool nearest)
    {
        double x = Math.Clamp(((n + 0.5) * modelSize / size) - 0.5, 0, modelSize - 1);
        return nearest ? Math.Clamp(Math.Round(x, MidpointRounding.AwayFromZero), 0, modelSize - 1) : x;
    }
}
