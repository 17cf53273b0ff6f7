using KneeWeb.Imaging;
using KneeWeb.Imaging.Meshing;
using KneeWeb.Imaging.Phantom;
using KneeWeb.Imaging.Segmentation;
using KneeWeb.Imaging.Thickness;
using KneeWeb.Tests.Imaging.Meshing;
using Xunit;
using Xunit.Abstractions;

namespace KneeWeb.Tests.Imaging.Thickness;

[Trait("Category", "unit")]
public class CartilageThicknessTests(FullPhantomFixture phantom, ITestOutputHelper output) : IClassFixture<FullPhantomFixture>
{
    [Fact]
    public void Thickness_on_the_full_phantom_matches_the_analytic_truth()
    {
        FemoralSubregionRule? rule = phantom.Analysed.Rule;
        Assert.NotNull(rule);
        Assert.Equal(KneeSide.Right, rule.Side);
        output.WriteLine($"rule: {rule}");
        foreach (RegionThickness r in phantom.Analysed.Stats)
        {
            output.WriteLine($"{r.Region}: mean {r.Mean:F3} sd {r.Sd:F3} median {r.Median:F3} p5 {r.P5:F3} p95 {r.P95:F3} n {r.N}");
            Assert.True(r.N > 200, $"{r.Region} has {r.N} vertices");
        }

        PhantomTruth truth = phantom.Result.Truth;
        foreach (byte bone in new byte[] { KneeLabels.Femur, KneeLabels.Tibia, KneeLabels.Patella })
        {
            TriangleMesh mesh = phantom.Analysed.Meshes[bone].Mesh;
            float[] thickness = mesh.PointData[CartilageThickness.ThicknessArray];
            var errorsByPlate = new Dictionary<byte, List<double>>();
            int missed = 0, interior = 0;
            for (int v = 0; v < mesh.VertexCount; v++)
            {
                SurfaceTruth t = truth.TruthAt(bone, mesh.Vertex(v));
                if (t.Plate == 0 || !t.Interior)
                {
                    continue;
                }

                interior++;
                if (thickness[v] <= 0)
                {
                    missed++;
                    continue;
                }

                if (!errorsByPlate.TryGetValue(t.Plate, out List<double>? list))
                {
                    errorsByPlate[t.Plate] = list = [];
                }

                list.Add(thickness[v] - t.ThicknessMm);
            }

            Assert.True(missed <= interior / 100, $"{KneeLabels.Name(bone)}: {missed} of {interior} interior vertices found no cartilage");
            foreach ((byte plate, List<double> errors) in errorsByPlate)
            {
                double mean = errors.Average();
                List<double> absolute = [.. errors.Select(Math.Abs).Order()];
                double p95 = CartilageThickness.Percentile(absolute, 95);
                output.WriteLine($"{KneeLabels.Name(plate)}: {errors.Count} interior vertices, mean error {mean:F4} mm, p95 |error| {p95:F4} mm, max {absolute[^1]:F3}");
                Assert.True(errors.Count > 300, $"{KneeLabels.Name(plate)}: only {errors.Count} vertices");
                Assert.True(Math.Abs(mean) <= 0.05, $"{KneeLabels.Name(plate)} mean error {mean}");
                Assert.True(p95 <= 0.2, $"{KneeLabels.Name(plate)} p95 error {p95}");
            }
        }
    }

    [Fact]
    public void Percentiles_and_statistics_follow_numpy()
    {
        // numpy: np.percentile([1,2,3,4,10], [5,50,95]) = [1.2, 3.0, 8.8]; np.std = 3.1622776601683795
        RegionThickness r = CartilageThickness.Summarise("x", 4, [10, 2, 1, 4, 3]);
        Assert.Equal(4.0, r.Mean, 12);
        Assert.Equal(3.1622776601683795, r.Sd, 12);
        Assert.Equal(3.0, r.Median, 12);
        Assert.Equal(1.2, r.P5, 12);
        Assert.Equal(8.8, r.P95, 12);
        Assert.Equal(5, r.N);
    }
}
