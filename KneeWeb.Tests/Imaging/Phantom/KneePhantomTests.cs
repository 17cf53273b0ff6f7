using Xunit;
using KneeWeb.Imaging;
using KneeWeb.Imaging.Phantom;
using KneeWeb.Imaging.Segmentation;

namespace KneeWeb.Tests.Imaging.Phantom;

[Trait("Category", "unit")]
public class KneePhantomTests
{
    [Fact]
    public void Small_phantom_has_every_structure_and_the_DESS_grid()
    {
        PhantomResult phantom = KneePhantom.Generate(PhantomOptions.Small());
        Assert.Equal(new Dims3(192, 192, 80), phantom.Labels.Dims);
        Assert.Equal(0.72, phantom.Labels.Geometry.SpacingMm.X, 9);
        Assert.Equal(1.4, phantom.Labels.Geometry.SpacingMm.Z, 9);
        Assert.True(phantom.Labels.Geometry.IndexToRas.Determinant > 0);
        var counts = new long[16];
        foreach (byte label in phantom.Labels.Span<byte>())
        {
            counts[label]++;
        }

        foreach (byte label in KneeLabels.Structures)
        {
            Assert.True(counts[label] > 100, $"label {label} has only {counts[label]} voxels");
        }

        // i runs anterior->posterior: the patella (anterior) has smaller i than the femur's posterior condyles.
        Assert.Equal(new Vec3d(0, -0.72, 0), phantom.Labels.Geometry.IndexToRas.Column(0));
    }

    [Fact]
    public void Same_seed_gives_same_voxels_and_another_seed_other_noise()
    {
        PhantomResult a = KneePhantom.Generate(new PhantomOptions { Seed = 3, Coarsening = 4 });
        PhantomResult b = KneePhantom.Generate(new PhantomOptions { Seed = 3, Coarsening = 4 });
        PhantomResult c = KneePhantom.Generate(new PhantomOptions { Seed = 4, Coarsening = 4 });
        Assert.True(a.Image.Span<short>().SequenceEqual(b.Image.Span<short>()));
        Assert.True(a.Labels.Span<byte>().SequenceEqual(c.Labels.Span<byte>()));
        Assert.False(a.Image.Span<short>().SequenceEqual(c.Image.Span<short>()));
    }

    [Fact]
    public void Intensities_are_DESS_like()
    {
        PhantomResult phantom = KneePhantom.Generate(new PhantomOptions { Coarsening = 2, NoiseSd = 0, BiasAmplitude = 0 });
        byte[] labels = (byte[])phantom.Labels.Voxels;
        short[] image = (short[])phantom.Image.Voxels;
        double Mean(byte label)
        {
            double sum = 0;
            long n = 0;
            for (int v = 0; v < labels.Length; v++)
            {
                if (labels[v] == label)
                {
                    sum += image[v];
                    n++;
                }
            }

            return sum / n;
        }

        double cartilage = Mean(KneeLabels.FemoralCartilage), bone = Mean(KneeLabels.Femur), meniscus = Mean(KneeLabels.MedialMeniscus);
        Assert.True(cartilage > bone && bone > meniscus, $"cartilage {cartilage}, bone {bone}, meniscus {meniscus}");
    }

    [Fact]
    public void Left_knee_is_the_mirror_image_with_medial_structures_at_larger_x()
    {
        PhantomResult right = KneePhantom.Generate(new PhantomOptions { Coarsening = 4, Side = KneeSide.Right });
        PhantomResult left = KneePhantom.Generate(new PhantomOptions { Coarsening = 4, Side = KneeSide.Left });
        double MeanX(PhantomResult p, byte label)
        {
            ReadOnlySpan<byte> labels = p.Labels.Span<byte>();
            Dims3 d = p.Labels.Dims;
            double sum = 0;
            long n = 0;
            for (int k = 0; k < d.K; k++)
            {
                for (int j = 0; j < d.J; j++)
                {
                    for (int i = 0; i < d.I; i++)
                    {
                        if (labels[(int)d.Index(i, j, k)] == label)
                        {
                            sum += p.Labels.Geometry.IndexToRas.Apply(new Vec3d(i, j, k)).X;
                            n++;
                        }
                    }
                }
            }

            return sum / n;
        }

        Assert.True(MeanX(right, KneeLabels.MedialTibialCartilage) < MeanX(right, KneeLabels.LateralTibialCartilage));
        Assert.True(MeanX(left, KneeLabels.MedialTibialCartilage) > MeanX(left, KneeLabels.LateralTibialCartilage));
    }

    [Fact]
    public void Truth_gives_plate_statistics_and_exact_thickness_on_the_tibial_plateau()
    {
        PhantomResult phantom = KneePhantom.Generate(new PhantomOptions { Coarsening = 8 });
        PhantomTruth truth = phantom.Truth;
        PlateTruth medial = truth.Plates[KneeLabels.MedialTibialCartilage];
        Assert.Equal(1.6 + 0.4, medial.MeanMm, 9);
        PlateTruth femoral = truth.Plates[KneeLabels.FemoralCartilage];
        Assert.InRange(femoral.MeanMm, 1.6, 2.9);
        Assert.InRange(femoral.AreaMm2, 2000, 8000);

        // Centre of the medial plate of a right knee: knee frame (-20, 0, 0).
        Vec3d centre = truth.KneeOriginRas + new Vec3d(-20, 0, 0);
        SurfaceTruth t = truth.TruthAt(KneeLabels.Tibia, centre);
        Assert.Equal(KneeLabels.MedialTibialCartilage, t.Plate);
        Assert.Equal(2.4, t.ThicknessMm, 9);
        Assert.True(t.Interior);
        Assert.Contains("\"medial_tibial_cartilage\"", truth.ToJson(), StringComparison.Ordinal);
    }

    [Fact]
    public void Osteoarthritis_grows_osteophytes_on_the_femur_and_thins_medial_cartilage()
    {
        long Count(PhantomResult p, byte label)
        {
            long n = 0;
            foreach (byte v in p.Labels.Span<byte>())
            {
                n += v == label ? 1 : 0;
            }

            return n;
        }

        var previous = (Femur: 0L, Truth: double.MaxValue);
        foreach (double oa in new[] { 0.0, 0.5, 1.0 })
        {
            PhantomResult p = KneePhantom.Generate(new PhantomOptions
            {
                Coarsening = 4,
                IncludeImage = false,
                Anatomy = PhantomAnatomy.Default with { OsteoarthritisSeverity = oa },
            });
            long femur = Count(p, KneeLabels.Femur);
            double femoral = p.Truth.Plates[KneeLabels.FemoralCartilage].MeanMm;
            Assert.True(femur > previous.Femur, $"OA {oa}: femur {femur} voxels");
            Assert.True(femoral < previous.Truth, $"OA {oa}: femoral cartilage {femoral} mm");
            previous = (femur, femoral);
        }
    }
}
