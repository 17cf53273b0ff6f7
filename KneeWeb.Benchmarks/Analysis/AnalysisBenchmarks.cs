using BenchmarkDotNet.Attributes;
using KneeWeb.Imaging;
using KneeWeb.Imaging.Meshing;
using KneeWeb.Imaging.Phantom;
using KneeWeb.Imaging.Segmentation;
using KneeWeb.Imaging.Thickness;

namespace KneeWeb.Benchmarks.Analysis;

/// <summary>
/// `dotnet run -c Release --project KneeWeb.Benchmarks -- --filter '*AnalysisBenchmarks*'`: the meshing and
/// thickness steps on the full phantom (384x384x160), one structure or step at a time.
/// </summary>
[MemoryDiagnoser]
public class AnalysisBenchmarks
{
    private PhantomResult phantom = null!;
    private float[] femurMask = null!;
    private Dictionary<byte, TriangleMesh> meshes = null!;
    private FemoralSubregionRule? rule;

    [GlobalSetup]
    public void Setup()
    {
        phantom = KneePhantom.Generate(new PhantomOptions { Seed = 1, IncludeImage = false });
        byte[] labels = (byte[])phantom.Labels.Voxels;
        femurMask = new float[labels.Length];
        for (int v = 0; v < labels.Length; v++)
        {
            femurMask[v] = labels[v] == KneeLabels.Femur ? 1f : 0f;
        }

        meshes = KneeMeshes.Build(phantom.Labels, new MeshOptions()).ToDictionary(kv => kv.Key, kv => kv.Value.Mesh);
        rule = FemoralSubregions.Detect(phantom.Labels, out _);
    }

    [Benchmark]
    public int MarchingCubesFemurWholeGrid() =>
        MarchingCubes.Extract(femurMask, phantom.Labels.Dims, 0.5f, phantom.Labels.Geometry.IndexToRas).VertexCount;

    [Benchmark]
    public int FemurMesh() => KneeMeshes.BuildOne(phantom.Labels, KneeLabels.Femur, new MeshOptions()).VertexCount;

    [Benchmark]
    public int AllMeshes() => KneeMeshes.Build(phantom.Labels, new MeshOptions()).Count;

    [Benchmark]
    public int Thickness() => CartilageThickness.Measure(meshes, rule, new ThicknessOptions()).Count;
}
