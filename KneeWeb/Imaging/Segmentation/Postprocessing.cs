using System.Runtime.CompilerServices;

namespace KneeWeb.Imaging.Segmentation;

/// <summary>Settings of <see cref="Postprocessing.Run"/>.</summary>
public sealed record PostprocessOptions
{
    /// <summary>Keep only the largest 6-connected component of each structure.</summary>
    public bool LargestComponentOnly { get; init; } = true;

    /// <summary>Structures the largest-component rule applies to (null: all 1-9; femoral subregions count as femoral cartilage).</summary>
    public IReadOnlySet<byte>? LargestComponentLabels { get; init; }

    /// <summary>Fill enclosed background cavities of each structure with that structure.</summary>
    public bool FillHoles { get; init; } = true;

    /// <summary>Plausible volume (mm3) per structure; outside it a QC flag is raised. Null: <see cref="DefaultExpectedVolumesMm3"/>.</summary>
    public IReadOnlyDictionary<byte, (double MinMm3, double MaxMm3)>? ExpectedVolumesMm3 { get; init; }

    /// <summary>Wide adult-knee ranges for a knee DESS field of view (bones are cut by the field of view).</summary>
    public static IReadOnlyDictionary<byte, (double MinMm3, double MaxMm3)> DefaultExpectedVolumesMm3 { get; } =
        new Dictionary<byte, (double, double)>
        {
            [KneeLabels.Femur] = (20_000, 800_000),
            [KneeLabels.Tibia] = (15_000, 700_000),
            [KneeLabels.Patella] = (3_000, 50_000),
            [KneeLabels.FemoralCartilage] = (3_000, 40_000),
            [KneeLabels.MedialTibialCartilage] = (300, 8_000),
            [KneeLabels.LateralTibialCartilage] = (300, 8_000),
            [KneeLabels.PatellarCartilage] = (500, 10_000),
            [KneeLabels.MedialMeniscus] = (300, 8_000),
            [KneeLabels.LateralMeniscus] = (300, 8_000),
        };
}

/// <summary>Severity of a QC flag: warnings keep the result; errors mean a structure is unusable.</summary>
public enum QcSeverity
{
    Info,
    Warning,
    Error,
}

/// <summary>One quality-control finding, never a silent gap in the result.</summary>
/// <param name="Code">STRUCTURE_MISSING, VOLUME_OUT_OF_RANGE, COMPONENTS_REMOVED, HOLES_FILLED, ...</param>
/// <param name="Severity">How much the finding matters.</param>
/// <param name="Structure">Structure name (<see cref="KneeLabels.Name"/>) or the analysis step concerned.</param>
/// <param name="Message">What was found, for a person.</param>
public sealed record QcFlag(string Code, QcSeverity Severity, string Structure, string Message);

/// <summary>Cleaned labels, volumes per structure and the QC findings.</summary>
public sealed record PostprocessResult(Volume Labels, IReadOnlyDictionary<string, double> VolumesMm3, IReadOnlyList<QcFlag> Qc);

/// <summary>Label-map clean-up after segmentation: largest components, hole filling, volumes and QC.</summary>
public static class Postprocessing
{
    public static PostprocessResult Run(Volume labels, PostprocessOptions options, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(labels);
        ArgumentNullException.ThrowIfNull(options);
        if (labels.VoxelType != VoxelType.UInt8 || labels.Frames != 1)
        {
            throw new ArgumentException($"Postprocessing needs a single-frame uint8 label map, got {labels.VoxelType} x {labels.Frames}.", nameof(labels));
        }

        Dims3 dims = labels.Dims;
        byte[] voxels = (byte[])((byte[])labels.Voxels).Clone();
        var qc = new List<QcFlag>();
        double voxelMm3 = Math.Abs(labels.Geometry.IndexToRas.Determinant);

        if (options.LargestComponentOnly)
        {
            foreach (byte label in KneeLabels.Structures)
            {
                ct.ThrowIfCancellationRequested();
                if (options.LargestComponentLabels is { } only && !only.Contains(label))
                {
                    continue;
                }

                long removed = KeepLargestComponent(voxels, dims, label);
                if (removed > 0)
                {
                    qc.Add(new QcFlag("COMPONENTS_REMOVED", QcSeverity.Info, KneeLabels.Name(label),
                        $"Removed {removed} voxels ({removed * voxelMm3:F0} mm3) outside the largest connected component."));
                }
            }
        }

        if (options.FillHoles)
        {
            foreach (byte label in KneeLabels.Structures)
            {
                ct.ThrowIfCancellationRequested();
                long filled = FillHoles(voxels, dims, label);
                if (filled > 0)
                {
                    qc.Add(new QcFlag("HOLES_FILLED", QcSeverity.Info, KneeLabels.Name(label), $"Filled {filled} enclosed background voxels."));
                }
            }
        }

        Dictionary<string, double> volumes = ComputeVolumesMm3(voxels, voxelMm3);
        IReadOnlyDictionary<byte, (double MinMm3, double MaxMm3)> expected = options.ExpectedVolumesMm3 ?? PostprocessOptions.DefaultExpectedVolumesMm3;
        foreach (byte label in KneeLabels.Structures)
        {
            string name = KneeLabels.Name(label);
            double volume = volumes[name];
            if (volume <= 0)
            {
                qc.Add(new QcFlag("STRUCTURE_MISSING", QcSeverity.Error, name, $"No voxels of {name} (label {label}) in the segmentation."));
            }
            else if (expected.TryGetValue(label, out (double MinMm3, double MaxMm3) range) && (volume < range.MinMm3 || volume > range.MaxMm3))
            {
                qc.Add(new QcFlag("VOLUME_OUT_OF_RANGE", QcSeverity.Warning, name,
                    $"{name} volume {volume:F0} mm3 is outside the expected {range.MinMm3:F0}-{range.MaxMm3:F0} mm3."));
            }
        }

        var cleaned = new Volume(labels.Geometry, VoxelType.UInt8, voxels);
        return new PostprocessResult(cleaned, volumes, qc);
    }

    /// <summary>Volume (mm3) of each structure 1-9 and of each femoral subregion present; femoral cartilage includes its subregions.</summary>
    public static Dictionary<string, double> ComputeVolumesMm3(ReadOnlySpan<byte> voxels, double voxelMm3)
    {
        Span<long> counts = stackalloc long[256];
        counts.Clear();
        foreach (byte v in voxels)
        {
            counts[v]++;
        }

        var volumes = new Dictionary<string, double>(StringComparer.Ordinal);
        long femoralSub = 0;
        foreach (byte sub in KneeLabels.FemoralSubregions)
        {
            femoralSub += counts[sub];
            if (counts[sub] > 0)
            {
                volumes[KneeLabels.Name(sub)] = counts[sub] * voxelMm3;
            }
        }

        foreach (byte label in KneeLabels.Structures)
        {
            long n = counts[label] + (label == KneeLabels.FemoralCartilage ? femoralSub : 0);
            volumes[KneeLabels.Name(label)] = n * voxelMm3;
        }

        return volumes;
    }

    private static bool Matches(byte voxel, byte label) =>
        voxel == label || (label == KneeLabels.FemoralCartilage && KneeLabels.IsFemoralCartilage(voxel));

    /// <summary>Sets every voxel of <paramref name="label"/> outside its largest 6-connected component to background.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static long KeepLargestComponent(byte[] voxels, Dims3 dims, byte label)
    {
        if (!BoundingBox(voxels, dims, label, out Box box))
        {
            return 0;
        }

        int bi = box.I1 - box.I0 + 1, bj = box.J1 - box.J0 + 1, bk = box.K1 - box.K0 + 1;
        var component = new int[(long)bi * bj * bk];
        var stack = new Stack<int>();
        var sizes = new List<long> { 0 };
        for (int k = 0; k < bk; k++)
        {
            for (int j = 0; j < bj; j++)
            {
                for (int i = 0; i < bi; i++)
                {
                    int local = i + (bi * (j + (bj * k)));
                    if (component[local] != 0 || !Matches(voxels[dims.Index(i + box.I0, j + box.J0, k + box.K0)], label))
                    {
                        continue;
                    }

                    int id = sizes.Count;
                    sizes.Add(Flood(voxels, dims, box, component, stack, local, id, label, complement: false));
                }
            }
        }

        if (sizes.Count <= 2)
        {
            return 0;
        }

        int keep = 1;
        for (int id = 2; id < sizes.Count; id++)
        {
            if (sizes[id] > sizes[keep])
            {
                keep = id;
            }
        }

        long removed = 0;
        for (int k = 0; k < bk; k++)
        {
            for (int j = 0; j < bj; j++)
            {
                for (int i = 0; i < bi; i++)
                {
                    int c = component[i + (bi * (j + (bj * k)))];
                    if (c != 0 && c != keep)
                    {
                        voxels[dims.Index(i + box.I0, j + box.J0, k + box.K0)] = KneeLabels.Background;
                        removed++;
                    }
                }
            }
        }

        return removed;
    }

    /// <summary>
    /// Fills background voxels enclosed by <paramref name="label"/>: within the label's bounding box grown by
    /// one voxel, background regions (6-connected, through anything that is not the label) that do not reach
    /// the box's border are holes.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static long FillHoles(byte[] voxels, Dims3 dims, byte label)
    {
        if (!BoundingBox(voxels, dims, label, out Box tight))
        {
            return 0;
        }

        var box = new Box(
            Math.Max(0, tight.I0 - 1), Math.Max(0, tight.J0 - 1), Math.Max(0, tight.K0 - 1),
            Math.Min(dims.I - 1, tight.I1 + 1), Math.Min(dims.J - 1, tight.J1 + 1), Math.Min(dims.K - 1, tight.K1 + 1));
        int bi = box.I1 - box.I0 + 1, bj = box.J1 - box.J0 + 1, bk = box.K1 - box.K0 + 1;
        var outside = new int[(long)bi * bj * bk];
        var stack = new Stack<int>();
        // Everything that is not the label and touches the box border is outside.
        for (int k = 0; k < bk; k++)
        {
            for (int j = 0; j < bj; j++)
            {
                for (int i = 0; i < bi; i++)
                {
                    bool border = i == 0 || j == 0 || k == 0 || i == bi - 1 || j == bj - 1 || k == bk - 1;
                    int local = i + (bi * (j + (bj * k)));
                    if (border && outside[local] == 0 && !Matches(voxels[dims.Index(i + box.I0, j + box.J0, k + box.K0)], label))
                    {
                        Flood(voxels, dims, box, outside, stack, local, 1, label, complement: true);
                    }
                }
            }
        }

        long filled = 0;
        for (int k = 0; k < bk; k++)
        {
            for (int j = 0; j < bj; j++)
            {
                for (int i = 0; i < bi; i++)
                {
                    long index = dims.Index(i + box.I0, j + box.J0, k + box.K0);
                    if (outside[i + (bi * (j + (bj * k)))] == 0 && voxels[index] == KneeLabels.Background)
                    {
                        voxels[index] = label;
                        filled++;
                    }
                }
            }
        }

        return filled;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static long Flood(byte[] voxels, Dims3 dims, Box box, int[] marks, Stack<int> stack, int start, int id, byte label, bool complement)
    {
        int bi = box.I1 - box.I0 + 1, bj = box.J1 - box.J0 + 1, bk = box.K1 - box.K0 + 1;
        int slice = bi * bj;
        long size = 0;
        marks[start] = id;
        stack.Push(start);
        while (stack.Count > 0)
        {
            int local = stack.Pop();
            size++;
            int k = local / slice, rem = local - (k * slice), j = rem / bi, i = rem - (j * bi);
            for (int n = 0; n < 6; n++)
            {
                int ni = i, nj = j, nk = k;
                switch (n)
                {
                    case 0: ni--; break;
                    case 1: ni++; break;
                    case 2: nj--; break;
                    case 3: nj++; break;
                    case 4: nk--; break;
                    default: nk++; break;
                }

                if ((uint)ni >= (uint)bi || (uint)nj >= (uint)bj || (uint)nk >= (uint)bk)
                {
                    continue;
                }

                int neighbour = ni + (bi * (nj + (bj * nk)));
                if (marks[neighbour] == 0 && Matches(voxels[dims.Index(ni + box.I0, nj + box.J0, nk + box.K0)], label) != complement)
                {
                    marks[neighbour] = id;
                    stack.Push(neighbour);
                }
            }
        }

        return size;
    }

    internal readonly record struct Box(int I0, int J0, int K0, int I1, int J1, int K1);

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static bool BoundingBox(byte[] voxels, Dims3 dims, byte label, out Box box)
    {
        int i0 = int.MaxValue, j0 = int.MaxValue, k0 = int.MaxValue, i1 = -1, j1 = -1, k1 = -1;
        for (int k = 0; k < dims.K; k++)
        {
            for (int j = 0; j < dims.J; j++)
            {
                int row = (int)dims.Index(0, j, k);
                ReadOnlySpan<byte> line = voxels.AsSpan(row, dims.I);
                int first = -1, last = -1;
                for (int i = 0; i < line.Length; i++)
                {
                    if (Matches(line[i], label))
                    {
                        if (first < 0)
                        {
                            first = i;
                        }

                        last = i;
                    }
                }

                if (first >= 0)
                {
                    i0 = Math.Min(i0, first);
                    i1 = Math.Max(i1, last);
                    j0 = Math.Min(j0, j);
                    j1 = Math.Max(j1, j);
                    k0 = Math.Min(k0, k);
                    k1 = Math.Max(k1, k);
                }
            }
        }

        box = new Box(i0, j0, k0, i1, j1, k1);
        return i1 >= 0;
    }
}
