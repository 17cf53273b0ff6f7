using System.Text.Json;
using KneeWeb.Inference.NnUnet;
using KneeWeb.Tests.TestData;
using Xunit;

namespace KneeWeb.Tests.Inference.NnUnet;

/// <summary>
/// Each nnU-Net step against skimage/scipy's own numbers (reference/units.json, written by
/// scripts/nnunet/reference_predict.py --units) or analytic values.
/// </summary>
[Trait("Category", "unit")]
public sealed class NnUnetStepTests
{
    private static readonly Lazy<JsonElement> Units = new(() => JsonDocument.Parse(TestFiles.ReadText("NnUnet/reference/units.json")).RootElement);

    private static int[] Ints(JsonElement e) => [.. e.EnumerateArray().Select(x => x.GetInt32())];

    private static double[] Doubles(JsonElement e) => [.. e.EnumerateArray().Select(x => x.GetDouble())];

    [Fact]
    public void Cubic_and_linear_resize_equal_skimage()
    {
        foreach (JsonElement c in Units.Value.GetProperty("resize").EnumerateArray())
        {
            Grid3 from = Grid3.Of(Ints(c.GetProperty("shape"))), to = Grid3.Of(Ints(c.GetProperty("new_shape")));
            double[] result = SplineResize.ResampleData(Doubles(c.GetProperty("input")), from, to, c.GetProperty("order").GetInt32(), 0, separateAxis: null);
            double[] expected = Doubles(c.GetProperty("output"));
            Assert.Equal(expected.Length, result.Length);
            for (int v = 0; v < expected.Length; v++)
            {
                Assert.True(Math.Abs(expected[v] - result[v]) < 1e-9, $"{from}->{to} voxel {v}: {result[v]} vs skimage {expected[v]}");
            }
        }
    }

    [Fact]
    public void Resampling_to_spacing_follows_nnunet_including_separate_z_and_segmentations()
    {
        foreach (JsonElement c in Units.Value.GetProperty("resample").EnumerateArray())
        {
            Grid3 from = Grid3.Of(Ints(c.GetProperty("shape")));
            double[] current = Doubles(c.GetProperty("current")), target = Doubles(c.GetProperty("target"));
            Grid3 to = SplineResize.NewShape(from, current, target);
            Assert.Equal(Ints(c.GetProperty("new_shape")), to.ToArray());
            int? separate = SplineResize.SeparateZAxis(current, target, 3.0);
            Assert.Equal(c.GetProperty("separate_z").ValueKind == JsonValueKind.Null ? null : c.GetProperty("separate_z").GetInt32(), separate);

            float[] input = [.. Doubles(c.GetProperty("input")).Select(x => (float)x)];
            double[] result = SplineResize.ResampleData(NnUnetPreprocessor.ToDouble(input), from, to, 3, 0, separate);
            double[] expected = Doubles(c.GetProperty("output"));
            for (int v = 0; v < expected.Length; v++)
            {
                Assert.True(Math.Abs(expected[v] - result[v]) < 1e-5, $"{from}->{to} voxel {v}: {result[v]} vs nnU-Net {expected[v]}");
            }

            int[] seg = NnUnetPreprocessor.ResampleSegmentation(Ints(c.GetProperty("seg")), from, to, separate);
            Assert.Equal(Ints(c.GetProperty("seg_output")), seg);
        }
    }

    [Fact]
    public void Shape_rounding_is_half_to_even()
    {
        // 2.5 -> 2 and 3.5 -> 4 (Python round), where half away from zero would give 3 and 4.
        Assert.Equal(new Grid3(2, 4, 6), SplineResize.NewShape(new Grid3(5, 7, 6), [1.0, 1.0, 1.0], [2.0, 2.0, 1.0]));
    }

    [Fact]
    public void Tile_starts_equal_nnunet()
    {
        foreach (JsonElement c in Units.Value.GetProperty("steps").EnumerateArray())
        {
            Assert.Equal(Ints(c.GetProperty("steps")), NnUnetTilePlan.Starts(c.GetProperty("size").GetInt32(), c.GetProperty("patch").GetInt32(), 0.5));
        }

        // 41 - 16 = 25 over 4 steps of 6.25: 12.5 rounds to 12 (half to even), not 13.
        Assert.Equal([0, 6, 12, 19, 25], NnUnetTilePlan.Starts(41, 16, 0.5));
    }

    [Fact]
    public void Gaussian_weights_equal_scipy()
    {
        foreach (JsonElement c in Units.Value.GetProperty("gaussian").EnumerateArray())
        {
            Grid3 patch = Grid3.Of(Ints(c.GetProperty("patch")));
            float[] map = NnUnetTilePlan.Gaussian(patch);
            double[] expected = Doubles(c.GetProperty("values"));
            for (int v = 0; v < expected.Length; v++)
            {
                Assert.True(Math.Abs(expected[v] - map[v]) <= 1e-6 * Math.Max(1, expected[v]), $"{patch} voxel {v}: {map[v]} vs {expected[v]}");
            }

            Assert.Equal(10f, map[(int)patch.Index(patch.N0 / 2, patch.N1 / 2, patch.N2 / 2)], 5);
        }
    }

    [Fact]
    public void Fill_holes_equals_scipy_and_the_box_is_tight()
    {
        JsonElement c = Units.Value.GetProperty("fill_holes")[0];
        Grid3 grid = Grid3.Of(Ints(c.GetProperty("shape")));
        byte[] mask = [.. Ints(c.GetProperty("mask")).Select(x => (byte)x)];
        NonzeroCrop.FillHoles(mask, grid);
        Assert.Equal(Ints(c.GetProperty("filled")), mask.Select(x => (int)x).ToArray());

        var channel = new float[grid.Count];
        channel[grid.Index(2, 3, 4)] = 5;
        channel[grid.Index(4, 5, 6)] = -1;
        (_, Box3 box) = NonzeroCrop.Find([channel], grid);
        Assert.Equal(new Box3(2, 3, 4, 5, 6, 7), box);
    }

    [Fact]
    public void Masked_zscore_leaves_outside_voxels_alone()
    {
        float[] values = [0, 0, 2, 4, 6];
        byte[] inside = [0, 0, 1, 1, 1];
        KneeWeb.Inference.NnUnet.NnUnetNormalizer.Apply(values, inside, new KneeWeb.Inference.NnUnetChannelNormalization { UseMaskForNorm = true });
        float std = (float)Math.Sqrt(8.0 / 3);
        Assert.Equal([0f, 0f, -2 / std, 0f, 2 / std], values);

        float[] ct = [-1000, 50, 3000];
        KneeWeb.Inference.NnUnet.NnUnetNormalizer.Apply(ct, [1, 1, 1], new KneeWeb.Inference.NnUnetChannelNormalization { Scheme = KneeWeb.Inference.NnUnetChannelScheme.Ct, Mean = 100, Std = 50, ClipLow = -100, ClipHigh = 500 });
        Assert.Equal([-4f, -1f, 8f], ct);
    }

    [Fact]
    public void Padding_is_centred_with_the_odd_voxel_above()
    {
        var plan = new NnUnetTilePlan(new Grid3(13, 40, 32), new Grid3(16, 32, 32), 0.5);
        Assert.Equal(new Grid3(16, 40, 32), plan.Padded);
        Assert.Equal(new Grid3(1, 0, 0), plan.PadBelow);
        Assert.Equal(2, plan.Tiles.Count);
    }

    [Fact]
    public void Mirroring_averages_the_plain_prediction_and_every_subset()
    {
        Assert.Single(NnUnetRun.MirrorCombinations([]));
        (bool, bool, bool)[] all = NnUnetRun.MirrorCombinations([0, 1, 2]);
        Assert.Equal(8, all.Length);
        Assert.Equal((false, false, false), all[0]);
        Assert.Equal(4, NnUnetRun.MirrorCombinations([2, 0]).Length);
    }
}
