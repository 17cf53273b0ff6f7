using System.Text.Json.Nodes;
using KneeWeb.Imaging;
using KneeWeb.Imaging.Analysis;
using KneeWeb.Imaging.Meshing;
using KneeWeb.Imaging.Phantom;
using KneeWeb.Imaging.Segmentation;
using KneeWeb.Imaging.Thickness;
using KneeWeb.Pipeline;
using KneeWeb.Pipeline.Results;
using KneeWeb.Tests.Pipeline.Results;
using Xunit;

namespace KneeWeb.Tests.Imaging.Analysis;

[Trait("Category", "unit")]
public sealed class KneeAnalysisTests : IDisposable
{
    private readonly string folder = Path.Combine(Path.GetTempPath(), "kneeweb-analysis-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(folder))
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public async Task A_left_knee_is_analysed_end_to_end_and_written_out()
    {
        PhantomResult phantom = KneePhantom.Generate(new PhantomOptions { Coarsening = 2, Side = KneeSide.Left, IncludeImage = false });
        (PipelineContext context, IReadOnlyList<string> steps) = await AnalyzeRecipe.RunAsync(phantom.Labels, folder);
        AnalysisResult result = context.Analysis!;

        Assert.Equal(KneeSide.Left, result.Side);
        Assert.NotNull(result.Subregions);
        Assert.Contains(KneeSteps.Meshes.Name, steps);
        Assert.Contains(KneeSteps.Thickness.Name, steps);
        Assert.DoesNotContain(result.Qc, f => f.Severity == QcSeverity.Error);
        foreach (byte sub in KneeLabels.FemoralSubregions)
        {
            Assert.True(result.VolumesMm3[KneeLabels.Name(sub)] > 0, KneeLabels.Name(sub));
        }

        // Left knee: medial is +x, so medial subregions lie at larger x than lateral ones.
        Assert.True(MeanX(result.LabelsWithSubregions!, KneeLabels.FemoralMedialWeightBearing) > MeanX(result.LabelsWithSubregions!, KneeLabels.FemoralLateralWeightBearing));

        StatsDocument stats = StatsDocumentIo.ReadFile(Path.Combine(folder, "stats.json"))!;
        Assert.True(stats.VolumesMm3!["femur"] > 0);
        ThicknessSection medial = stats.ThicknessMm!["medial_tibial_cartilage"];
        Assert.All(new[] { medial.MeanMm, medial.SdMm, medial.MedianMm, medial.P5Mm, medial.P95Mm }, v => Assert.NotNull(v));
        Assert.True(medial.N > 0);
        Assert.InRange(medial.MeanMm!.Value, 1.5, 2.5);
        Assert.Null(stats.BScore);
        Assert.NotNull(stats.NsmSkipped);
        Assert.Equal("left", stats.Side);

        Assert.True(File.Exists(Path.Combine(folder, "meshes", "femur.vtk")));
        TriangleMesh femur = MeshIo.ReadVtk(Path.Combine(folder, "meshes", "femur.vtk"));
        TriangleMesh original = result.Meshes[KneeLabels.Femur].Mesh;
        Assert.Equal(original.VertexCount, femur.VertexCount);
        Assert.Equal(original.Triangles, femur.Triangles);
        Assert.Equal(original.PointData[CartilageThickness.ThicknessArray], femur.PointData[CartilageThickness.ThicknessArray]);
        Assert.Equal((float)original.PositionsRas[7], (float)femur.PositionsRas[7]);
        // Binary STL: 80-byte header, count, 50 bytes a triangle.
        Assert.Equal(84 + (50L * original.TriangleCount), new FileInfo(Path.Combine(folder, "meshes", "femur.stl")).Length);
        string ply = File.ReadAllText(Path.Combine(folder, "meshes", "femur.ply"))[..400];
        Assert.Contains($"element vertex {original.VertexCount}", ply, StringComparison.Ordinal);
        Assert.Contains("property float thickness_mm", ply, StringComparison.Ordinal);
        string[] csv = File.ReadAllLines(Path.Combine(folder, "thickness.csv"));
        Assert.Equal("region,label,mean_mm,sd_mm,median_mm,p5_mm,p95_mm,n", csv[0]);
        Assert.Contains(csv, line => line.StartsWith("femoral_medial_weight_bearing,12,", StringComparison.Ordinal));
        Assert.NotNull(JsonNode.Parse(File.ReadAllText(Path.Combine(folder, "thickness.json")))!["femoral_medial_weight_bearing"]);
    }

    [Fact]
    public async Task Missing_tibial_cartilage_becomes_qc_flags_not_a_silent_gap()
    {
        PhantomResult phantom = KneePhantom.Generate(new PhantomOptions { Coarsening = 4, IncludeImage = false });
        byte[] voxels = (byte[])((byte[])phantom.Labels.Voxels).Clone();
        for (int v = 0; v < voxels.Length; v++)
        {
            if (voxels[v] == KneeLabels.MedialTibialCartilage)
            {
                voxels[v] = KneeLabels.Background;
            }
        }

        AnalysisResult result = (await AnalyzeRecipe.RunAsync(Volume.CreateLabelMap(phantom.Labels.Geometry, voxels), folder)).Context.Analysis!;
        Assert.Contains(result.Qc, f => f.Code == "STRUCTURE_MISSING" && f.Structure == "medial_tibial_cartilage");
        Assert.Contains(result.Qc, f => f.Code == "SIDE_UNKNOWN");
        Assert.Contains(result.Qc, f => f.Code == "SUBREGIONS_UNAVAILABLE");
        Assert.Contains(result.Qc, f => f.Code == "THICKNESS_MISSING" && f.Structure == "medial_tibial_cartilage");
    }

    [Fact]
    public async Task A_noisy_segmentation_still_gives_watertight_meshes_and_thickness()
    {
        // Segmentation-like errors: a tenth of the voxels on structure borders take a neighbour's label.
        PhantomResult phantom = KneePhantom.Generate(new PhantomOptions { Coarsening = 2, IncludeImage = false });
        byte[] voxels = (byte[])((byte[])phantom.Labels.Voxels).Clone();
        Dims3 d = phantom.Labels.Dims;
        var random = new Random(11);
        for (int k = 1; k < d.K - 1; k++)
        {
            for (int j = 1; j < d.J - 1; j++)
            {
                for (int i = 1; i < d.I - 1; i++)
                {
                    long v = d.Index(i, j, k);
                    long n = d.Index(i + random.Next(-1, 2), j + random.Next(-1, 2), k + random.Next(-1, 2));
                    if (voxels[v] != voxels[n] && random.NextDouble() < 0.1)
                    {
                        voxels[v] = ((byte[])phantom.Labels.Voxels)[n];
                    }
                }
            }
        }

        AnalysisResult result = (await AnalyzeRecipe.RunAsync(Volume.CreateLabelMap(phantom.Labels.Geometry, voxels), folder)).Context.Analysis!;
        Assert.Equal(9, result.Meshes.Count);
        Assert.All(result.Meshes.Values, m => Assert.True(m.Watertight, $"{KneeLabels.Name(m.Label)}: {m.WatertightProblem}"));
        Assert.Contains(result.Qc, f => f.Code == "COMPONENTS_REMOVED");
        RegionThickness femoral = Assert.Single(result.Thickness, r => r.Label == KneeLabels.FemoralCartilage);
        Assert.InRange(femoral.Mean, 1.8, 2.8);
    }

    private static double MeanX(Volume labels, byte label)
    {
        byte[] voxels = (byte[])labels.Voxels;
        Dims3 d = labels.Dims;
        double sum = 0;
        long n = 0;
        for (int k = 0; k < d.K; k++)
        {
            for (int j = 0; j < d.J; j++)
            {
                for (int i = 0; i < d.I; i++)
                {
                    if (voxels[d.Index(i, j, k)] == label)
                    {
                        sum += labels.Geometry.IndexToRas.Apply(new Vec3d(i, j, k)).X;
                        n++;
                    }
                }
            }
        }

        return sum / n;
    }
}
