namespace KneeWeb.Imaging.Phantom;

/// <summary>
/// A family of phantom femurs with one known disease parameter, for training and testing the neural shape
/// model: healthy variation per seed (overall size, condyle spacing, condyle ring and tube radii, trochlea
/// height) and an "OA" parameter in [0, 1] that changes the femur as osteoarthritis does: marginal osteophyte
/// ridges on both condyles, distal flattening of the condyles and mediolateral widening.
/// Seed 0 with OA 0 is <see cref="PhantomAnatomy.Default"/> itself. Tibia, patella and cartilage keep the
/// default layout, so any member can be drawn as a full knee by <see cref="KneePhantom"/>.
/// </summary>
public static class FemurShapeFamily
{
    /// <summary>Condyle spacing added at OA 1 (mm): the condyles spread as the joint remodels.</summary>
    public const double WideningAtFullOaMm = 3.0;

    /// <summary>Distal flattening of the condyles at OA 1 (mm).</summary>
    public const double FlatteningAtFullOaMm = 2.0;

    /// <summary>Relative size spread (uniform +-) of healthy femurs.</summary>
    public const double SizeSpread = 0.07;

    /// <summary>The femur of one member of the family: healthy variation from <paramref name="seed"/>, disease from <paramref name="oa"/>.</summary>
    public static PhantomAnatomy Sample(int seed, double oa)
    {
        if (!double.IsFinite(oa) || oa < 0 || oa > 1)
        {
            throw new ArgumentOutOfRangeException(nameof(oa), oa, "The OA parameter lies in [0, 1].");
        }

        PhantomAnatomy a = PhantomAnatomy.Default;
        double widening = WideningAtFullOaMm * oa;
        if (seed == 0)
        {
            return a with { OsteoarthritisSeverity = oa, CondyleOffsetXMm = a.CondyleOffsetXMm + widening, CondyleFlatteningMm = FlatteningAtFullOaMm * oa };
        }

        // System.Random with a seed is the same sequence on every platform and .NET version.
        var random = new Random(unchecked((seed * 7_368_787) + 1_299_709));
        double U() => (2 * random.NextDouble()) - 1;
        double size = 1 + (SizeSpread * U());
        double offset = (a.CondyleOffsetXMm + (0.75 * U())) * size;
        double ring = (a.CondyleRingRadiusMm + (1.5 * U())) * size;
        double tube = (a.CondyleTubeRadiusMm + (1.2 * U())) * size;
        double trochleaAbove = (a.TrochleaAboveCondyleMm + (2.0 * U())) * size;
        return a with
        {
            OsteoarthritisSeverity = oa,
            CondyleFlatteningMm = FlatteningAtFullOaMm * oa,
            CondyleOffsetXMm = offset + widening,
            CondyleRingRadiusMm = ring,
            CondyleTubeRadiusMm = tube,
            TrochleaAboveCondyleMm = trochleaAbove,
            TrochleaRadiusMm = a.TrochleaRadiusMm * size,
            TrochleaHalfLengthMm = a.TrochleaHalfLengthMm * size,
            TrochleaCartilageHalfWidthMm = a.TrochleaCartilageHalfWidthMm * size,
            TrochleaYMm = a.TrochleaYMm * size,
            FemoralShaftRadiusMm = a.FemoralShaftRadiusMm * size,
        };
    }

    /// <summary>The same member drawn as a full knee phantom (label map, image, truth).</summary>
    public static PhantomOptions Phantom(int seed, double oa, int coarsening = 2, KneeSide side = KneeSide.Right, bool includeImage = false) => new()
    {
        Seed = seed,
        Coarsening = coarsening,
        Side = side,
        Anatomy = Sample(seed, oa),
        IncludeImage = includeImage,
    };
}
