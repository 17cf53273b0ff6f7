using System.Diagnostics;
using KneeWeb.Imaging;
using KneeWeb.Imaging.Meshing;
using KneeWeb.Imaging.Phantom;
using KneeWeb.Imaging.Segmentation;
using KneeWeb.Imaging.Thickness;
using KneeWeb.Tests.Imaging.Meshing;
using Xunit;
using Xunit.Abstractions;

namespace KneeWeb.Tests.Imaging.Thickness;

public class CartilageThicknessTests(FullPhantomFixture phantom, ITestOutputHelper output) : IClassFixture<FullPhantomFixture>
{
    [Fact]
    public void Thickness_on_the_full_phantom_matches_the_analytic_truth()
    {
        Volume labels = phantom.Result.Labels;
        var watch = Stopwatch.StartNew();
        IReadOnlyDictionary<byte, StructureMesh> built = KneeMeshes.Build(labels, new MeshOptions());
        long meshMs = watch.ElapsedMilliseconds;
        FemoralSubregionRule? rule = FemoralSubregions.Detect(labels, out string reason);
        Assert.True(rule is not null, reason);
        var meshes = built.ToDictionary(kv => kv.Key, kv => kv.Value.Mesh);
        IReadOnlyList<RegionThickness> stats = CartilageThickness.Measure(meshes, rule, new ThicknessOptions());
        output.WriteLine($"meshes {meshMs} ms, subregions + thickness {watch.ElapsedMilliseconds - meshMs} ms (Debug build)");
        output.WriteLine($"rule: {rule}");
        foreach (RegionThickness r in stats)
        {
            output.WriteLine($"{r.Region}: mean {r.Mean:F3} sd {r.Sd:F3} median {r.Median:F3} p5 {r.P5:F3} p95 {r.P95:F3} n {r.N}");
            Assert.True(r.N > 50, $"{r.Region} has {r.N} vertices");
        }

        PhantomTruth truth = phantom.Result.Truth;
        foreach (byte bone in new byte[] { KneeLabels.Femur, KneeLabels.Tibia, KneeLabels.Patella })
        {
            TriangleMesh mesh = meshes[bone];
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
                List<double> absolute = errors.Select(Math.Abs).Order().ToList();
                double p95 = CartilageThickness.Percentile(absolute, 95);
                output.WriteLine($"{KneeLabels.Name(plate)}: {errors.Count} interior vertices, mean error {mean:F4} mm, p95 |error| {p95:F4} mm, max {absolute[^1]:F3}");
                Assert.True(Math.Abs(mean) <= 0.05, $"{KneeLabels.Name(plate)} mean error {mean}");
                Assert.True(p95 <= 0.2, $"{KneeLabels.Name(plate)} p95 error {p95}");
            }
        }
    }
}
