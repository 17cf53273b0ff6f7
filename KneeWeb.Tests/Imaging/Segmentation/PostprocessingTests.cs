using KneeWeb.Imaging;
using KneeWeb.Imaging.Phantom;
using KneeWeb.Imaging.Segmentation;
using Xunit;

namespace KneeWeb.Tests.Imaging.Segmentation;

[Trait("Category", "unit")]
public class PostprocessingTests
{
    [Fact]
    public void Stray_islands_are_removed_holes_filled_and_a_missing_structure_is_flagged()
    {
        PhantomResult phantom = KneePhantom.Generate(PhantomOptions.Small());
        byte[] voxels = (byte[])((byte[])phantom.Labels.Voxels).Clone();
        Dims3 d = phantom.Labels.Dims;
        long femurBefore = voxels.LongCount(v => v == KneeLabels.Femur);
        long tibiaBefore = voxels.LongCount(v => v == KneeLabels.Tibia);

        // A 3x3x3 island of femur in a corner, a 2x2x2 hole inside the tibia, no patellar cartilage.
        for (int k = 0; k < 3; k++)
        {
            for (int j = 0; j < 3; j++)
            {
                for (int i = 0; i < 3; i++)
                {
                    voxels[d.Index(i + 2, j + 2, k + 2)] = KneeLabels.Femur;
                }
            }
        }

        (int ti, int tj, int tk) = FindDeepVoxel(voxels, d, KneeLabels.Tibia);
        for (int k = 0; k < 2; k++)
        {
            for (int j = 0; j < 2; j++)
            {
                for (int i = 0; i < 2; i++)
                {
                    voxels[d.Index(ti + i, tj + j, tk + k)] = KneeLabels.Background;
                }
            }
        }

        for (int v = 0; v < voxels.Length; v++)
        {
            if (voxels[v] == KneeLabels.PatellarCartilage)
            {
                voxels[v] = KneeLabels.Background;
            }
        }

        var input = Volume.CreateLabelMap(phantom.Labels.Geometry, voxels);
        PostprocessResult result = Postprocessing.Run(input, new PostprocessOptions());
        byte[] cleaned = (byte[])result.Labels.Voxels;
        Assert.Equal(femurBefore, cleaned.LongCount(v => v == KneeLabels.Femur));
        Assert.Equal(tibiaBefore, cleaned.LongCount(v => v == KneeLabels.Tibia));
        Assert.Contains(result.Qc, f => f.Code == "COMPONENTS_REMOVED" && f.Structure == "femur");
        Assert.Contains(result.Qc, f => f.Code == "HOLES_FILLED" && f.Structure == "tibia");
        Assert.Contains(result.Qc, f => f.Code == "STRUCTURE_MISSING" && f.Structure == "patellar_cartilage" && f.Severity == QcSeverity.Error);
        Assert.DoesNotContain(result.Qc, f => f.Code == "VOLUME_OUT_OF_RANGE");

        double voxelMm3 = 0.72 * 0.72 * 1.4;
        Assert.Equal(femurBefore * voxelMm3, result.VolumesMm3["femur"], 6);
        Assert.Equal(0, result.VolumesMm3["patellar_cartilage"]);
        // The input is left untouched.
        Assert.Equal(KneeLabels.Femur, ((byte[])input.Voxels)[d.Index(3, 3, 3)]);
    }

    [Fact]
    public void A_structure_far_outside_its_expected_volume_is_flagged()
    {
        PhantomResult phantom = KneePhantom.Generate(new PhantomOptions { Coarsening = 4 });
        var options = new PostprocessOptions
        {
            ExpectedVolumesMm3 = new Dictionary<byte, (double, double)> { [KneeLabels.Patella] = (1, 10) },
        };
        PostprocessResult result = Postprocessing.Run(phantom.Labels, options);
        QcFlag flag = Assert.Single(result.Qc, f => f.Code == "VOLUME_OUT_OF_RANGE");
        Assert.Equal("patella", flag.Structure);
    }

    private static (int I, int J, int K) FindDeepVoxel(byte[] voxels, Dims3 d, byte label)
    {
        for (int k = 3; k < d.K - 3; k++)
        {
            for (int j = 3; j < d.J - 3; j++)
            {
                for (int i = 3; i < d.I - 3; i++)
                {
                    bool deep = true;
                    for (int dk = -2; dk <= 3 && deep; dk++)
                    {
                        for (int dj = -2; dj <= 3 && deep; dj++)
                        {
                            for (int di = -2; di <= 3 && deep; di++)
                            {
                                deep = voxels[d.Index(i + di, j + dj, k + dk)] == label;
                            }
                        }
                    }

                    if (deep)
                    {
                        return (i, j, k);
                    }
                }
            }
        }

        throw new InvalidOperationException("no deep voxel");
    }
}
