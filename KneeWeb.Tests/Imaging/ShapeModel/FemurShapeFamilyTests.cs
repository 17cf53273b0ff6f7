using KneeWeb.Imaging.Phantom;
using KneeWeb.Imaging.Segmentation;
using Xunit;

namespace KneeWeb.Tests.Imaging.ShapeModel;

[Trait("Category", "unit")]
public sealed class FemurShapeFamilyTests
{
    [Fact]
    public void Seed_0_at_OA_0_is_the_default_phantom_and_members_are_reproducible()
    {
        Assert.Equal(PhantomAnatomy.Default, FemurShapeFamily.Sample(0, 0));
        Assert.Equal(FemurShapeFamily.Sample(7, 0.3), FemurShapeFamily.Sample(7, 0.3));
        Assert.NotEqual(FemurShapeFamily.Sample(7, 0.3), FemurShapeFamily.Sample(8, 0.3));
        Assert.Throws<ArgumentOutOfRangeException>(() => FemurShapeFamily.Sample(1, 1.5));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(5)]
    public void OA_flattens_and_spreads_the_condyles_and_grows_marginal_osteophytes(int seed)
    {
        PhantomAnatomy healthy = FemurShapeFamily.Sample(seed, 0), oa = FemurShapeFamily.Sample(seed, 1);
        Assert.Equal(healthy.CondyleOffsetXMm + FemurShapeFamily.WideningAtFullOaMm, oa.CondyleOffsetXMm, 9);

        // 1 mm above the distal pole of the medial condyle: bone when healthy, cut away at OA 1 (2 mm flattening).
        double x = -healthy.CondyleOffsetXMm, y = healthy.CondyleCenterYMm;
        double pole = healthy.CondyleCenterZMm - healthy.CondyleRingRadiusMm - healthy.CondyleTubeRadiusMm;
        Assert.True(healthy.BoneDistance(KneeLabels.Femur, x, y, pole + 1) < 0);
        double xOa = -oa.CondyleOffsetXMm, poleOa = oa.CondyleCenterZMm - oa.CondyleRingRadiusMm - oa.CondyleTubeRadiusMm;
        Assert.True(oa.BoneDistance(KneeLabels.Femur, xOa, y, poleOa + 1) > 0);

        // Osteophytes: bone beyond the healthy surface at the condyle margin (phi = 52 degrees, distal).
        double phi = (oa.CondylePhiMaxDeg + 12) * Math.PI / 180;
        double arm = oa.CondyleRingRadiusMm + (oa.CondyleTubeRadiusMm * Math.Cos(phi));
        double alpha = -20 * Math.PI / 180;
        double ox = -oa.CondyleOffsetXMm - (oa.CondyleTubeRadiusMm * Math.Sin(phi)) - 2.0;
        double oy = oa.CondyleCenterYMm + (arm * Math.Sin(alpha)), oz = oa.CondyleCenterZMm - (arm * Math.Cos(alpha));
        Assert.True(oa.BoneDistance(KneeLabels.Femur, ox, oy, oz) < 0, "an osteophyte 2 mm beyond the margin");
        Assert.True(healthy.BoneDistance(KneeLabels.Femur, ox + FemurShapeFamily.WideningAtFullOaMm / 2, oy, oz) > 0);
    }
}
