using KneeWeb.Imaging.Segmentation;

namespace KneeWeb.Imaging.Meshing;

/// <summary>How one kind of structure is meshed.</summary>
/// <param name="SigmaMm">Gaussian blur of the binary mask before marching cubes (mm).</param>
/// <param name="TaubinIterations">Volume-preserving smoothing passes after marching cubes.</param>
public sealed record StructureMeshSettings(double SigmaMm, int TaubinIterations);

/// <summary>Settings of <see cref="KneeMeshes.Build"/>.</summary>
public sealed record MeshOptions
{
    public StructureMeshSettings Bone { get; init; } = new(0.45, 8);

    public StructureMeshSettings Cartilage { get; init; } = new(0.4, 10);

    /// <summary>Vertex count each mesh is resampled to (structures not listed keep the marching-cubes resolution).</summary>
    public IReadOnlyDictionary<byte, int> TargetVertices { get; init; } = new Dictionary<byte, int>
    {
        [KneeLabels.Femur] = 20_000,
        [KneeLabels.Tibia] = 20_000,
        [KneeLabels.Patella] = 10_000,
    };

    /// <summary>Structures to mesh (femoral cartilage includes subregions 11-15).</summary>
    public IReadOnlyList<byte> Structures { get; init; } = KneeLabels.Structures;
}

/// <summary>A structure's surface and how it was checked.</summary>
public sealed record StructureMesh(byte Label, TriangleMesh Mesh, bool Watertight, string WatertightProblem);

/// <summary>Surface meshes of knee structures in RAS mm, from a label map.</summary>
public static class KneeMeshes
{
    public static IReadOnlyDictionary<byte, StructureMesh> Build(Volume labels, MeshOptions options, IProgress<double>? progress = null, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(labels);
        ArgumentNullException.ThrowIfNull(options);
        var result = new Dictionary<byte, StructureMesh>();
        int done = 0;
        foreach (byte label in options.Structures)
        {
            ct.ThrowIfCancellationRequested();
            TriangleMesh mesh = BuildOne(labels, label, options);
            if (mesh.VertexCount > 0)
            {
                bool watertight = mesh.IsWatertight(out string problem);
                result[label] = new StructureMesh(label, mesh, watertight, problem);
            }

            progress?.Report(++done / (double)options.Structures.Count);
        }

        return result;
    }

    public static TriangleMesh BuildOne(Volume labels, byte label, MeshOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        StructureMeshSettings settings = KneeLabels.IsBone(label) ? options.Bone : options.Cartilage;
        ReadOnlySpan<byte> members = label == KneeLabels.FemoralCartilage
            ? [KneeLabels.FemoralCartilage, 11, 12, 13, 14, 15]
            : [label];
        CroppedField field = MaskField.Build(labels, members, settings.SigmaMm);
        if (field.Values.Length == 0)
        {
            return TriangleMesh.Empty;
        }

        TriangleMesh mesh = MarchingCubes.Extract(field.Values, field.Dims, 0.5f, field.IndexToRas);
        MeshProcessing.TaubinSmooth(mesh, settings.TaubinIterations);
        if (options.TargetVertices.TryGetValue(label, out int target) && target > 0 && target < mesh.VertexCount)
        {
            mesh = QuadricDecimation.Decimate(mesh, target);
        }

        return mesh;
    }
}
