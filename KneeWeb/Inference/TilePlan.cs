using KneeWeb.Imaging;
using KneeWeb.Imaging.Segmentation.Preprocessing;

namespace KneeWeb.Inference;

/// <summary>
/// Where the tiles of one run go: the model grid padded up to a patch (centred, as nnU-Net pads),
/// the sliding-window starts, the mirror combinations and the first batch size. Immutable once made.
/// </summary>
internal sealed class TilePlan
{
    public TilePlan(PreprocessedImage preprocessed, ModelSidecar sidecar, SegmentationOptions options, OrtSession session)
    {
        Patch = new Dims3(sidecar.PatchSizeIjk![0], sidecar.PatchSizeIjk[1], sidecar.PatchSizeIjk[2]);
        Classes = sidecar.NumClasses;
        Model = preprocessed.Dims;
        Padded = new Dims3(Math.Max(Model.I, Patch.I), Math.Max(Model.J, Patch.J), Math.Max(Model.K, Patch.K));
        PadOffset = ((Padded.I - Model.I) / 2, (Padded.J - Model.J) / 2, (Padded.K - Model.K) / 2);
        Tiles = SlidingWindow.Tiles(Padded, Patch.I, Patch.J, Patch.K, options.Overlap ?? sidecar.SlidingWindow.Overlap);
        Mirrored = options.Mirroring switch
        {
            MirroringMode.On => true,
            MirroringMode.Off => false,
            _ => sidecar.Mirroring.Enabled,
        };
        Mirrors = Mirrored ? MirrorCombinations(sidecar.Mirroring.Axes) : [[]];
        // A model exported with a fixed batch of one takes one tile at a time.
        Batch = session.Inputs[0].Shape[0] > 0 ? 1 : Math.Max(1, options.BatchSize ?? sidecar.SlidingWindow.BatchSize);

        // One tile without mirroring (a model whose patch is the whole grid): its scores are final as they
        // come, so the argmax reads the output tensor directly; no weighted copies of every class score.
        Direct = Tiles.Count == 1 && Mirrors.Length == 1;
    }

    /// <summary>Patch size (i, j, k).</summary>
    public Dims3 Patch { get; }

    public int PatchVoxels => Patch.I * Patch.J * Patch.K;

    public int Classes { get; }

    /// <summary>The model grid (after crop and resampling), before padding.</summary>
    public Dims3 Model { get; }

    public Dims3 Padded { get; }

    /// <summary>Where the model grid starts inside the padded grid.</summary>
    public (int I, int J, int K) PadOffset { get; }

    public List<(int I, int J, int K)> Tiles { get; }

    public bool Mirrored { get; }

    /// <summary>Axis sets to flip (0 = i, 1 = j, 2 = k); the empty set is the plain prediction.</summary>
    public int[][] Mirrors { get; }

    /// <summary>Tiles per run to start with (the fallback policy may halve it).</summary>
    public int Batch { get; }

    /// <summary>A single unmirrored tile: its output is read directly, nothing is accumulated.</summary>
    public bool Direct { get; }

    /// <summary>The centre of the model grid in padded-grid voxels (the preview's planes).</summary>
    public (int I, int J, int K) Centre => (PadOffset.I + (Model.I / 2), PadOffset.J + (Model.J / 2), PadOffset.K + (Model.K / 2));

    /// <summary>The channels on the padded grid (zeros around); the same arrays when nothing is padded.</summary>
    public float[][] Pad(float[][] channels)
    {
        if (Padded == Model)
        {
            return channels;
        }

        var padded = new float[channels.Length][];
        for (int c = 0; c < channels.Length; c++)
        {
            var target = new float[Padded.VoxelCount];
            float[] source = channels[c];
            for (int k = 0; k < Model.K; k++)
            {
                for (int j = 0; j < Model.J; j++)
                {
                    source.AsSpan((int)Model.Index(0, j, k), Model.I).CopyTo(target.AsSpan((int)Padded.Index(PadOffset.I, PadOffset.J + j, PadOffset.K + k), Model.I));
                }
            }

            padded[c] = target;
        }

        return padded;
    }

    /// <summary>Labels of the padded grid cut back to the model grid.</summary>
    public byte[] Unpad(byte[] paddedLabels)
    {
        if (Padded == Model)
        {
            return paddedLabels;
        }

        var result = new byte[Model.VoxelCount];
        for (int k = 0; k < Model.K; k++)
        {
            for (int j = 0; j < Model.J; j++)
            {
                paddedLabels.AsSpan((int)Padded.Index(PadOffset.I, PadOffset.J + j, PadOffset.K + k), Model.I).CopyTo(result.AsSpan((int)Model.Index(0, j, k), Model.I));
            }
        }

        return result;
    }

    private static int[][] MirrorCombinations(int[] axes)
    {
        int[] distinct = axes.Distinct().Order().ToArray();
        var combinations = new List<int[]>();
        for (int mask = 0; mask < 1 << distinct.Length; mask++)
        {
            var combination = new List<int>();
            for (int a = 0; a < distinct.Length; a++)
            {
                if ((mask & (1 << a)) != 0)
                {
                    combination.Add(distinct[a]);
                }
            }

            combinations.Add([.. combination]);
        }

        return [.. combinations];
    }
}
