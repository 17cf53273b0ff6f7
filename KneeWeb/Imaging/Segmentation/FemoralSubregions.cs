namespace KneeWeb.Imaging.Segmentation;

/// <summary>
/// Where the femoral cartilage splits into subregions 11-15, in RAS mm (the scan's x, y and z taken as
/// the knee's medial-lateral, anterior-posterior and inferior-superior axes, as in a sagittal knee scan).
/// </summary>
/// <param name="Side">Right or left knee (from which side the medial tibial cartilage lies on).</param>
/// <param name="SplitXMm">Medial/lateral boundary: midway between the tibial plates' centroids.</param>
/// <param name="NotchYMm">Anterior boundary: the trochlear notch, where the trochlear cartilage ends posteriorly in the midline.</param>
/// <param name="PosteriorYMm">The most posterior femoral cartilage.</param>
/// <param name="WeightBearingFraction">Share of the notch-to-posterior distance that is weight-bearing (0.6).</param>
public sealed record FemoralSubregionRule(KneeSide Side, double SplitXMm, double NotchYMm, double PosteriorYMm, double WeightBearingFraction)
{
    /// <summary>y below which cartilage is posterior rather than weight-bearing.</summary>
    public double WeightBearingPosteriorYMm => NotchYMm - (WeightBearingFraction * (NotchYMm - PosteriorYMm));

    /// <summary>Subregion label (11-15) of a femoral cartilage point.</summary>
    public byte Classify(Vec3d pointRas)
    {
        if (pointRas.Y >= NotchYMm)
        {
            return KneeLabels.FemoralAnterior;
        }

        // Right knee: medial is towards the body's midline, the subject's left, -x.
        bool medial = Side == KneeSide.Right ? pointRas.X < SplitXMm : pointRas.X > SplitXMm;
        bool weightBearing = pointRas.Y >= WeightBearingPosteriorYMm;
        return (medial, weightBearing) switch
        {
            (true, true) => KneeLabels.FemoralMedialWeightBearing,
            (false, true) => KneeLabels.FemoralLateralWeightBearing,
            (true, false) => KneeLabels.FemoralMedialPosterior,
            _ => KneeLabels.FemoralLateralPosterior,
        };
    }
}

/// <summary>Detects the femoral subregion boundaries on a label map and labels the subregions.</summary>
public static class FemoralSubregions
{
    /// <summary>Half-width (mm) of the midline band searched for the trochlear notch.</summary>
    private const double MidlineHalfWidthMm = 2.5;

    /// <summary>A gap (mm) in the midline cartilage along y that separates the trochlea from the rest.</summary>
    private const double NotchGapMm = 3.0;

    /// <summary>Knee side from the tibial cartilage: the medial plate lies towards the body's midline.</summary>
    public static KneeSide? DetectSide(Volume labels)
    {
        ArgumentNullException.ThrowIfNull(labels);
        (double medialX, long nm) = CentroidX(labels, KneeLabels.MedialTibialCartilage);
        (double lateralX, long nl) = CentroidX(labels, KneeLabels.LateralTibialCartilage);
        if (nm == 0 || nl == 0)
        {
            return null;
        }

        return medialX < lateralX ? KneeSide.Right : KneeSide.Left;
    }

    /// <summary>
    /// Finds the rule, or null with a reason when the label map lacks what it needs (femoral cartilage,
    /// both tibial plates, or cartilage in the midline).
    /// </summary>
    public static FemoralSubregionRule? Detect(Volume labels, out string reason, double weightBearingFraction = 0.6)
    {
        ArgumentNullException.ThrowIfNull(labels);
        (double medialX, long nm) = CentroidX(labels, KneeLabels.MedialTibialCartilage);
        (double lateralX, long nl) = CentroidX(labels, KneeLabels.LateralTibialCartilage);
        if (nm == 0 || nl == 0)
        {
            reason = "the medial and lateral tibial cartilage are both needed to tell the knee's side and its midline";
            return null;
        }

        KneeSide side = medialX < lateralX ? KneeSide.Right : KneeSide.Left;
        double splitX = 0.5 * (medialX + lateralX);
        byte[] voxels = (byte[])labels.Voxels;
        Dims3 d = labels.Dims;
        AffineRas affine = labels.Geometry.IndexToRas;
        double posteriorY = double.MaxValue;
        var midlineY = new List<double>();
        for (int k = 0; k < d.K; k++)
        {
            for (int j = 0; j < d.J; j++)
            {
                int row = (int)d.Index(0, j, k);
                for (int i = 0; i < d.I; i++)
                {
                    if (!KneeLabels.IsFemoralCartilage(voxels[row + i]))
                    {
                        continue;
                    }

                    Vec3d p = affine.Apply(new Vec3d(i, j, k));
                    posteriorY = Math.Min(posteriorY, p.Y);
                    if (Math.Abs(p.X - splitX) <= MidlineHalfWidthMm)
                    {
                        midlineY.Add(p.Y);
                    }
                }
            }
        }

        if (posteriorY == double.MaxValue)
        {
            reason = "there is no femoral cartilage";
            return null;
        }

        if (midlineY.Count == 0)
        {
            reason = "no femoral cartilage crosses the midline (no trochlea to find the notch from)";
            return null;
        }

        // Walk the midline cartilage from anterior to posterior; the trochlea ends at the first gap.
        midlineY.Sort();
        double notchY = midlineY[^1];
        for (int n = midlineY.Count - 1; n > 0; n--)
        {
            notchY = midlineY[n];
            if (midlineY[n] - midlineY[n - 1] > NotchGapMm)
            {
                break;
            }

            notchY = midlineY[n - 1];
        }

        reason = "";
        return new FemoralSubregionRule(side, splitX, notchY, posteriorY, weightBearingFraction);
    }

    /// <summary>A copy of the label map with femoral cartilage (4) replaced by its subregions (11-15).</summary>
    public static Volume Apply(Volume labels, FemoralSubregionRule rule)
    {
        ArgumentNullException.ThrowIfNull(labels);
        ArgumentNullException.ThrowIfNull(rule);
        byte[] source = (byte[])labels.Voxels;
        var result = (byte[])source.Clone();
        Dims3 d = labels.Dims;
        AffineRas affine = labels.Geometry.IndexToRas;
        Parallel.For(0, d.K, k =>
        {
            for (int j = 0; j < d.J; j++)
            {
                int row = (int)d.Index(0, j, k);
                for (int i = 0; i < d.I; i++)
                {
                    if (KneeLabels.IsFemoralCartilage(source[row + i]))
                    {
                        result[row + i] = rule.Classify(affine.Apply(new Vec3d(i, j, k)));
                    }
                }
            }
        });
        return new Volume(labels.Geometry, VoxelType.UInt8, result);
    }

    private static (double X, long Count) CentroidX(Volume labels, byte label)
    {
        byte[] voxels = (byte[])labels.Voxels;
        Dims3 d = labels.Dims;
        AffineRas affine = labels.Geometry.IndexToRas;
        double sum = 0;
        long n = 0;
        for (int k = 0; k < d.K; k++)
        {
            for (int j = 0; j < d.J; j++)
            {
                int row = (int)d.Index(0, j, k);
                for (int i = 0; i < d.I; i++)
                {
                    if (voxels[row + i] == label)
                    {
                        sum += affine.Apply(new Vec3d(i, j, k)).X;
                        n++;
                    }
                }
            }
        }

        return n == 0 ? (0, 0) : (sum / n, n);
    }
}
