namespace KneeWeb.Inference.NnUnet;

/// <summary>
/// A grid in nnU-Net's network axes (n0 slowest, n2 fastest in memory), the axes its plans, patch
/// and spacing use. Kept apart from <see cref="Imaging.Dims3"/> (i, j, k) so the two orders never mix.
/// </summary>
public readonly record struct Grid3(int N0, int N1, int N2)
{
    public long Count => (long)N0 * N1 * N2;

    public int this[int axis] => axis switch
    {
        0 => N0,
        1 => N1,
        2 => N2,
        _ => throw new ArgumentOutOfRangeException(nameof(axis)),
    };

    public long Index(int a0, int a1, int a2) => ((((long)a0 * N1) + a1) * N2) + a2;

    public Grid3 With(int axis, int length) => axis switch
    {
        0 => this with { N0 = length },
        1 => this with { N1 = length },
        2 => this with { N2 = length },
        _ => throw new ArgumentOutOfRangeException(nameof(axis)),
    };

    public static Grid3 Of(IReadOnlyList<int> sizes) => new(sizes[0], sizes[1], sizes[2]);

    public int[] ToArray() => [N0, N1, N2];

    public override string ToString() => $"{N0}x{N1}x{N2}";

    /// <summary>Elements before, along and after one axis: a row-major array seen as [outer][length][inner].</summary>
    internal (int Outer, int Length, int Inner) Split(int axis) => axis switch
    {
        0 => (1, N0, N1 * N2),
        1 => (N0, N1, N2),
        2 => (N0 * N1, N2, 1),
        _ => throw new ArgumentOutOfRangeException(nameof(axis)),
    };
}
