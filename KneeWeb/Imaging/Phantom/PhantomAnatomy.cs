using System.Runtime.CompilerServices;
using KneeWeb.Imaging.Segmentation;

namespace KneeWeb.Imaging.Phantom;

/// <summary>What the analytic model says about a point on a bone surface.</summary>
/// <param name="Plate">Cartilage plate label over this point (4..7), or 0 where the bone is bare.</param>
/// <param name="ThicknessMm">Exact cartilage thickness along the bone normal (0 where bare).</param>
/// <param name="Interior">True at least 1 mm inside the plate's edge and away from bone-piece creases,
/// where ray casting has one well-defined answer; evaluations of per-vertex error use these points.</param>
public readonly record struct SurfaceTruth(byte Plate, double ThicknessMm, bool Interior);

/// <summary>
/// The phantom knee as exact geometry, in a right-knee "knee frame" (RAS mm, origin at the centre of the
/// tibial plateau's top; a left knee is the mirror image in x). Every bone is a union of sphere-swept
/// primitives (a point set swept by a ball), whose exterior distance is exactly
/// <c>distance to the point set - ball radius</c>; a cartilage plate is the set of points whose nearest bone
/// point lies in the plate's region and whose distance is at most the local thickness t. A ray along the
/// bone normal keeps the same nearest bone point, so it leaves the cartilage after exactly t: the
/// thickness along the normal is known exactly, including where it varies over the plate.
/// Right knee: medial is -x (towards the body's midline).
/// </summary>
public sealed record PhantomAnatomy
{
    public static PhantomAnatomy Default { get; } = new();

    // Femoral condyles: spindle tori (a ring in the sagittal plane swept by a ball).
    public double CondyleOffsetXMm { get; init; } = 20.0;
    public double CondyleRingRadiusMm { get; init; } = 8.0;
    public double CondyleTubeRadiusMm { get; init; } = 14.0;
    public double CondyleCenterYMm { get; init; }

    /// <summary>Femoral cartilage thickness on the medial condyle: base + amplitude * cos(alpha) (alpha 0 = distal).</summary>
    public double MedialCondyleThicknessMm { get; init; } = 2.0;
    public double LateralCondyleThicknessMm { get; init; } = 2.2;
    public double CondyleThicknessAmplitudeMm { get; init; } = 0.5;
    public double CondyleAlphaMinDeg { get; init; } = -140;
    public double CondyleAlphaMaxDeg { get; init; } = 130;
    public double CondylePhiMaxDeg { get; init; } = 40;

    // Trochlea: a capsule along x joining the condyles in front.
    public double TrochleaHalfLengthMm { get; init; } = 24.0;
    public double TrochleaRadiusMm { get; init; } = 14.0;
    public double TrochleaYMm { get; init; } = 4.0;
    public double TrochleaAboveCondyleMm { get; init; } = 16.0;
    public double TrochleaThicknessMm { get; init; } = 2.4;
    public double TrochleaThicknessAmplitudeMm { get; init; } = 0.4;
    public double TrochleaCartilageHalfWidthMm { get; init; } = 24.0;
    public double TrochleaBetaMinDeg { get; init; } = -40;
    public double TrochleaBetaMaxDeg { get; init; } = 60;

    public double FemoralShaftRadiusMm { get; init; } = 14.0;

    /// <summary>
    /// Osteoarthritis of the femur, 0 (healthy) to 1: marginal osteophytes (balls on the bone at the medial
    /// and lateral margins of both condyles, radius 3.5 mm x severity) and medial condyle cartilage thinned
    /// by up to half. The known "OA" parameter of the shape family the demo shape model is meant to learn.
    /// </summary>
    public double OsteoarthritisSeverity { get; init; }

    public double OsteophyteRadiusMm => 3.5 * Math.Clamp(OsteoarthritisSeverity, 0, 1);

    /// <summary>
    /// Distal flattening of both condyles (mm): the weight-bearing pole is cut by a plane this far above the
    /// round condyles' lowest point. 0 (the default) leaves the condyles round; <see cref="FemurShapeFamily"/>
    /// sets it with its OA parameter.
    /// </summary>
    public double CondyleFlatteningMm { get; init; }

    // Tibia: a stadium-shaped disk (segment along x, radius) swept by a ball; flat top at z = 0.
    public double PlateauHalfLengthMm { get; init; } = 12.0;
    public double PlateauDiskRadiusMm { get; init; } = 20.0;
    public double PlateauRoundingMm { get; init; } = 6.0;
    public double TibialShaftRadiusMm { get; init; } = 16.0;
    public double TibialPlateOffsetXMm { get; init; } = 20.0;
    public double TibialPlateRadiusMm { get; init; } = 11.0;

    /// <summary>Tibial cartilage: base + dome * (1 - rho^2/a^2).</summary>
    public double MedialTibialThicknessMm { get; init; } = 1.6;
    public double MedialTibialDomeMm { get; init; } = 0.8;
    public double LateralTibialThicknessMm { get; init; } = 2.0;
    public double LateralTibialDomeMm { get; init; } = 0.9;

    // Menisci: wedges on the plateau around each plate.
    public double MeniscusInnerRadiusMm { get; init; } = 11.5;
    public double MeniscusOuterRadiusMm { get; init; } = 18.0;
    public double MeniscusHeightMm { get; init; } = 6.0;

    // Patella: a disk in the coronal (x-z) plane swept by a ball; cartilage on its posterior face.
    public double PatellaDiskRadiusMm { get; init; } = 13.0;
    public double PatellaRoundingMm { get; init; } = 6.0;
    public double PatellarPlateRadiusMm { get; init; } = 12.0;
    public double PatellarThicknessMm { get; init; } = 2.0;
    public double PatellarDomeMm { get; init; } = 1.2;

    /// <summary>Gap between facing cartilage plates (keeps plates apart in the label map).</summary>
    public double JointGapMm { get; init; } = 1.0;

    /// <summary>Extra room in front of the trochlea for the tilted patella.</summary>
    public double PatellofemoralGapMm { get; init; } = 2.5;

    /// <summary>
    /// Posterior slope of the tibial plateau (degrees, about x through the plateau's centre). Also keeps
    /// the plateau off the voxel grid's planes: a grid-aligned flat face is digitised with one constant
    /// offset instead of errors that average out, which real anatomy never does.
    /// </summary>
    public double TibialSlopeDeg { get; init; } = 7.0;

    /// <summary>Patellar tilt about the vertical axis and flexion about x (degrees, about the patella's centre).</summary>
    public double PatellaTiltDeg { get; init; } = 5.0;

    public double PatellaFlexDeg { get; init; } = 4.0;

    // Derived layout.
    public double CondyleCenterZMm => MaxTibialThickness + JointGapMm + CondyleRingRadiusMm + CondyleTubeRadiusMm + MaxCondyleThickness;

    public double TrochleaZMm => CondyleCenterZMm + TrochleaAboveCondyleMm;

    public double PatellaYMm => TrochleaYMm + TrochleaRadiusMm + TrochleaThicknessMm + TrochleaThicknessAmplitudeMm + PatellofemoralGapMm + PatellarThicknessMm + PatellarDomeMm + PatellaRoundingMm;

    public double PatellaZMm => TrochleaZMm + 4.0;

    private double MaxTibialThickness => Math.Max(MedialTibialThicknessMm + MedialTibialDomeMm, LateralTibialThicknessMm + LateralTibialDomeMm);

    private double MaxCondyleThickness => Math.Max(MedialCondyleThicknessMm, LateralCondyleThicknessMm) + CondyleThicknessAmplitudeMm;

    private const double Deg = Math.PI / 180.0;

    /// <summary>Label of a point given in the right-knee frame.</summary>
    // Hot per-voxel code: optimised even in Debug builds, where tests run.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public byte LabelAt(double x, double y, double z)
    {
        // Cheap bounds first: most of the field of view is far from at least two of the bones.
        int femurPiece = -1;
        double dFemur = z < CondyleCenterZMm - CondyleRingRadiusMm - CondyleTubeRadiusMm - 5 ? double.MaxValue : FemurDistance(x, y, z, out femurPiece);
        if (dFemur <= 0)
        {
            return KneeLabels.Femur;
        }

        bool onTop = false;
        (double xt, double yt, double zt) = ToTibiaFrame(x, y, z);
        double dTibia = zt > 5 ? double.MaxValue : TibiaDistance(xt, yt, zt, out onTop);
        if (dTibia <= 0)
        {
            return KneeLabels.Tibia;
        }

        bool onBack = false;
        double xp = 0, zp = 0;
        double reach = PatellaDiskRadiusMm + PatellaRoundingMm + 5;
        double dPatella = y < PatellaYMm - reach || Math.Abs(x) > reach || Math.Abs(z - PatellaZMm) > reach
            ? double.MaxValue
            : PatellaDistanceRotated(x, y, z, out onBack, out xp, out zp);
        if (dPatella <= 0)
        {
            return KneeLabels.Patella;
        }

        if (dFemur <= 4.0)
        {
            double t = FemoralThickness(femurPiece, x, y, z, out _);
            if (t > 0 && dFemur <= t)
            {
                return KneeLabels.FemoralCartilage;
            }
        }

        if (onTop && dTibia <= 4.0)
        {
            double t = TibialThickness(xt, yt, out byte plate, out _);
            if (t > 0 && dTibia <= t)
            {
                return plate;
            }
        }

        if (onBack && dPatella <= 5.0)
        {
            double t = PatellarThickness(xp, zp, out _);
            if (t > 0 && dPatella <= t)
            {
                return KneeLabels.PatellarCartilage;
            }
        }

        if (zt > 0 && zt < MeniscusHeightMm)
        {
            x = xt;
            y = yt;
            z = zt;
            double xm = -TibialPlateOffsetXMm, xl = TibialPlateOffsetXMm;
            double rhoM = Math.Sqrt(((x - xm) * (x - xm)) + (y * y));
            double rhoL = Math.Sqrt(((x - xl) * (x - xl)) + (y * y));
            double rho = Math.Min(rhoM, rhoL);
            if (rho >= MeniscusInnerRadiusMm && rho <= MeniscusOuterRadiusMm
                && z <= MeniscusHeightMm * (rho - MeniscusInnerRadiusMm) / (MeniscusOuterRadiusMm - MeniscusInnerRadiusMm))
            {
                return rhoM <= rhoL ? KneeLabels.MedialMeniscus : KneeLabels.LateralMeniscus;
            }
        }

        return KneeLabels.Background;
    }

    /// <summary>
    /// Exact cartilage thickness over a point on (or within a voxel of) a bone surface, in the right-knee frame.
    /// </summary>
    public SurfaceTruth TruthAt(byte boneLabel, double x, double y, double z)
    {
        switch (boneLabel)
        {
            case KneeLabels.Femur:
            {
                FemurDistance(x, y, z, out int piece);
                double t = FemoralThickness(piece, x, y, z, out double margin);
                if (t <= 0)
                {
                    return default;
                }

                // Creases where two pieces meet are concave: rays from either side converge there.
                double crease = CreaseDistance(piece, x, y, z);
                return new(KneeLabels.FemoralCartilage, t, margin >= 1.0 && crease >= 3.0);
            }

            case KneeLabels.Tibia:
            {
                (double xt, double yt, double zt) = ToTibiaFrame(x, y, z);
                TibiaDistance(xt, yt, zt, out bool onTop);
                if (!onTop)
                {
                    return default;
                }

                double t = TibialThickness(xt, yt, out byte plate, out double margin);
                return t > 0 ? new(plate, t, margin >= 1.0) : default;
            }

            case KneeLabels.Patella:
            {
                PatellaDistanceRotated(x, y, z, out bool onBack, out double xp, out double zp);
                if (!onBack)
                {
                    return default;
                }

                double t = PatellarThickness(xp, zp, out double margin);
                return t > 0 ? new(KneeLabels.PatellarCartilage, t, margin >= 1.0) : default;
            }

            default:
                return default;
        }
    }

    /// <summary>Signed distance (mm, exact outside) to the surface of a bone, in the right-knee frame.</summary>
    public double BoneDistance(byte boneLabel, double x, double y, double z) => boneLabel switch
    {
        KneeLabels.Femur => FemurDistance(x, y, z, out _),
        KneeLabels.Tibia => TibiaDistanceRotated(x, y, z),
        KneeLabels.Patella => PatellaDistanceRotated(x, y, z, out _, out _, out _),
        _ => throw new ArgumentOutOfRangeException(nameof(boneLabel), boneLabel, "Not a bone label."),
    };

    // ---- Femur: pieces 0 medial condyle, 1 lateral condyle, 2 trochlea, 3 shaft.
    // Hot per-voxel code: optimised even in Debug builds, where tests run.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal double FemurDistance(double x, double y, double z, out int piece)
    {
        double d0 = CondyleDistance(-CondyleOffsetXMm, x, y, z);
        double d1 = CondyleDistance(CondyleOffsetXMm, x, y, z);
        double flattening = CondyleFlatteningMm;
        if (flattening > 0)
        {
            // Intersection with the half-space above the cut: exact inside, a bound outside (enough for labels).
            double below = CondyleCenterZMm - CondyleRingRadiusMm - CondyleTubeRadiusMm + flattening - z;
            d0 = Math.Max(d0, below);
            d1 = Math.Max(d1, below);
        }

        double d2 = TrochleaDistance(x, y, z);
        double d3 = SegmentDistance(x, y, z, 0, CondyleCenterYMm, CondyleCenterZMm + 6, 0, CondyleCenterYMm - 4, CondyleCenterZMm + 200) - FemoralShaftRadiusMm;
        piece = 0;
        double d = d0;
        if (d1 < d) { d = d1; piece = 1; }
        if (d2 < d) { d = d2; piece = 2; }
        if (d3 < d) { d = d3; piece = 3; }
        if (OsteophyteRadiusMm > 0)
        {
            double d4 = OsteophyteDistance(x, y, z);
            if (d4 < d) { d = d4; piece = 4; }
        }

        return d;
    }

    // Osteophytes: balls centred on the condyles' surface just outside the cartilage margins (phi beyond the
    // plate), at six positions along each margin.
    private double OsteophyteDistance(double x, double y, double z)
    {
        double best = double.MaxValue;
        double phi = (CondylePhiMaxDeg + 12) * Deg;
        for (int condyle = 0; condyle < 2; condyle++)
        {
            double cx = condyle == 0 ? -CondyleOffsetXMm : CondyleOffsetXMm;
            for (int side = -1; side <= 1; side += 2)
            {
                double ox = cx + (side * CondyleTubeRadiusMm * Math.Sin(phi));
                double arm = CondyleRingRadiusMm + (CondyleTubeRadiusMm * Math.Cos(phi));
                for (int n = 0; n < 6; n++)
                {
                    double alpha = (-100 + (40 * n)) * Deg;
                    double oy = CondyleCenterYMm + (arm * Math.Sin(alpha)), oz = CondyleCenterZMm - (arm * Math.Cos(alpha));
                    double dx = x - ox, dy = y - oy, dz = z - oz;
                    best = Math.Min(best, Math.Sqrt((dx * dx) + (dy * dy) + (dz * dz)) - OsteophyteRadiusMm);
                }
            }
        }

        return best;
    }

    // Hot per-voxel code: optimised even in Debug builds, where tests run.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private double CondyleDistance(double cx, double x, double y, double z)
    {
        double wy = y - CondyleCenterYMm, wz = z - CondyleCenterZMm;
        double rho = Math.Sqrt((wy * wy) + (wz * wz));
        double qx = x - cx, qr = rho - CondyleRingRadiusMm;
        return Math.Sqrt((qx * qx) + (qr * qr)) - CondyleTubeRadiusMm;
    }

    // Hot per-voxel code: optimised even in Debug builds, where tests run.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private double TrochleaDistance(double x, double y, double z)
    {
        double u = Math.Clamp(x, -TrochleaHalfLengthMm, TrochleaHalfLengthMm);
        double qx = x - u, qy = y - TrochleaYMm, qz = z - TrochleaZMm;
        return Math.Sqrt((qx * qx) + (qy * qy) + (qz * qz)) - TrochleaRadiusMm;
    }

    // Hot per-voxel code: optimised even in Debug builds, where tests run.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private double FemoralThickness(int piece, double x, double y, double z, out double marginMm)
    {
        marginMm = 0;
        if (piece <= 1)
        {
            double cx = piece == 0 ? -CondyleOffsetXMm : CondyleOffsetXMm;
            double wy = y - CondyleCenterYMm, wz = z - CondyleCenterZMm;
            double rho = Math.Sqrt((wy * wy) + (wz * wz));
            double alpha = Math.Atan2(wy, -wz);
            double phi = Math.Atan2(x - cx, rho - CondyleRingRadiusMm);
            double aMin = CondyleAlphaMinDeg * Deg, aMax = CondyleAlphaMaxDeg * Deg, pMax = CondylePhiMaxDeg * Deg;
            if (alpha < aMin || alpha > aMax || Math.Abs(phi) > pMax)
            {
                return 0;
            }

            double arm = CondyleRingRadiusMm + (CondyleTubeRadiusMm * Math.Cos(phi));
            marginMm = Math.Min(Math.Min(alpha - aMin, aMax - alpha) * arm, (pMax - Math.Abs(phi)) * CondyleTubeRadiusMm);
            double t0 = piece == 0 ? MedialCondyleThicknessMm * (1 - (0.5 * Math.Clamp(OsteoarthritisSeverity, 0, 1))) : LateralCondyleThicknessMm;
            return t0 + (CondyleThicknessAmplitudeMm * Math.Cos(alpha));
        }

        if (piece == 2)
        {
            if (Math.Abs(x) > TrochleaCartilageHalfWidthMm)
            {
                return 0;
            }

            double beta = Math.Atan2(z - TrochleaZMm, y - TrochleaYMm);
            double bMin = TrochleaBetaMinDeg * Deg, bMax = TrochleaBetaMaxDeg * Deg;
            if (beta < bMin || beta > bMax)
            {
                return 0;
            }

            marginMm = Math.Min(Math.Min(beta - bMin, bMax - beta) * TrochleaRadiusMm, TrochleaCartilageHalfWidthMm - Math.Abs(x));
            double mid = 0.5 * (bMin + bMax);
            return TrochleaThicknessMm + (TrochleaThicknessAmplitudeMm * Math.Cos((beta - mid) * 1.5));
        }

        return 0;
    }

    /// <summary>Distance from a point on piece <paramref name="piece"/> to the nearest other femur piece.</summary>
    // Hot per-voxel code: optimised even in Debug builds, where tests run.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private double CreaseDistance(int piece, double x, double y, double z)
    {
        double best = double.MaxValue;
        if (piece != 0) { best = Math.Min(best, CondyleDistance(-CondyleOffsetXMm, x, y, z)); }
        if (piece != 1) { best = Math.Min(best, CondyleDistance(CondyleOffsetXMm, x, y, z)); }
        if (piece != 2) { best = Math.Min(best, TrochleaDistance(x, y, z)); }
        if (piece != 3)
        {
            best = Math.Min(best, SegmentDistance(x, y, z, 0, CondyleCenterYMm, CondyleCenterZMm + 6, 0, CondyleCenterYMm - 4, CondyleCenterZMm + 200) - FemoralShaftRadiusMm);
        }

        if (piece != 4 && OsteophyteRadiusMm > 0)
        {
            best = Math.Min(best, OsteophyteDistance(x, y, z));
        }

        return best;
    }

    // ---- Tibia (defined level at z = 0, then sloped: points are rotated into its frame).
    private (double X, double Y, double Z) ToTibiaFrame(double x, double y, double z)
    {
        double s = Math.Sin(TibialSlopeDeg * Deg), c = Math.Cos(TibialSlopeDeg * Deg);
        return (x, (y * c) + (z * s), (z * c) - (y * s));
    }

    private double TibiaDistanceRotated(double x, double y, double z)
    {
        (double xt, double yt, double zt) = ToTibiaFrame(x, y, z);
        return TibiaDistance(xt, yt, zt, out _);
    }

    // The patella is defined facing straight back, then tilted about its centre.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private double PatellaDistanceRotated(double x, double y, double z, out bool onBack, out double xp, out double zp)
    {
        double dy = y - PatellaYMm, dz = z - PatellaZMm;
        double st = Math.Sin(PatellaTiltDeg * Deg), ct = Math.Cos(PatellaTiltDeg * Deg);
        double sf = Math.Sin(PatellaFlexDeg * Deg), cf = Math.Cos(PatellaFlexDeg * Deg);
        double x1 = (x * ct) + (dy * st), y1 = (dy * ct) - (x * st);
        double y2 = (y1 * cf) + (dz * sf), z2 = (dz * cf) - (y1 * sf);
        xp = x1;
        zp = z2 + PatellaZMm;
        return PatellaDistance(x1, y2 + PatellaYMm, zp, out onBack);
    }

    // ---- Tibia.
    // Hot per-voxel code: optimised even in Debug builds, where tests run.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal double TibiaDistance(double x, double y, double z, out bool onTop)
    {
        double hx = Math.Max(0, Math.Abs(x) - PlateauHalfLengthMm);
        double h = Math.Max(0, Math.Sqrt((hx * hx) + (y * y)) - PlateauDiskRadiusMm);
        double v = z + PlateauRoundingMm;
        double dPlateau = Math.Sqrt((h * h) + (v * v)) - PlateauRoundingMm;
        // The plateau's nearest point is on the flat top when the point lies above the flat part.
        onTop = h == 0 && v > 0;
        double dShaft = SegmentDistance(x, y, z, 0, 0, -10, 0, -2, -200) - TibialShaftRadiusMm;
        if (dShaft < dPlateau)
        {
            onTop = false;
            return dShaft;
        }

        return dPlateau;
    }

    // Hot per-voxel code: optimised even in Debug builds, where tests run.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private double TibialThickness(double x, double y, out byte plate, out double marginMm)
    {
        double xm = -TibialPlateOffsetXMm, xl = TibialPlateOffsetXMm;
        double rhoM = Math.Sqrt(((x - xm) * (x - xm)) + (y * y));
        double rhoL = Math.Sqrt(((x - xl) * (x - xl)) + (y * y));
        double a = TibialPlateRadiusMm;
        if (rhoM <= a)
        {
            plate = KneeLabels.MedialTibialCartilage;
            marginMm = a - rhoM;
            return MedialTibialThicknessMm + (MedialTibialDomeMm * (1 - (rhoM * rhoM / (a * a))));
        }

        if (rhoL <= a)
        {
            plate = KneeLabels.LateralTibialCartilage;
            marginMm = a - rhoL;
            return LateralTibialThicknessMm + (LateralTibialDomeMm * (1 - (rhoL * rhoL / (a * a))));
        }

        plate = 0;
        marginMm = 0;
        return 0;
    }

    // ---- Patella.
    // Hot per-voxel code: optimised even in Debug builds, where tests run.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal double PatellaDistance(double x, double y, double z, out bool onBack)
    {
        double dz = z - PatellaZMm;
        double h = Math.Max(0, Math.Sqrt((x * x) + (dz * dz)) - PatellaDiskRadiusMm);
        double v = PatellaYMm - y;
        onBack = h == 0 && v > 0;
        return Math.Sqrt((h * h) + (v * v)) - PatellaRoundingMm;
    }

    // Hot per-voxel code: optimised even in Debug builds, where tests run.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private double PatellarThickness(double x, double z, out double marginMm)
    {
        double dz = z - PatellaZMm;
        double rho = Math.Sqrt((x * x) + (dz * dz));
        double a = PatellarPlateRadiusMm;
        if (rho > a)
        {
            marginMm = 0;
            return 0;
        }

        marginMm = a - rho;
        return PatellarThicknessMm + (PatellarDomeMm * (1 - (rho * rho / (a * a))));
    }

    // Hot per-voxel code: optimised even in Debug builds, where tests run.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static double SegmentDistance(double x, double y, double z, double ax, double ay, double az, double bx, double by, double bz)
    {
        double abx = bx - ax, aby = by - ay, abz = bz - az;
        double apx = x - ax, apy = y - ay, apz = z - az;
        double u = Math.Clamp(((apx * abx) + (apy * aby) + (apz * abz)) / ((abx * abx) + (aby * aby) + (abz * abz)), 0, 1);
        double qx = apx - (u * abx), qy = apy - (u * aby), qz = apz - (u * abz);
        return Math.Sqrt((qx * qx) + (qy * qy) + (qz * qz));
    }

    /// <summary>
    /// Area-weighted mean, minimum and maximum thickness and area of each plate, by quadrature over the
    /// surfaces' parameters (fine grids; parts of a piece hidden inside another piece are left out).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public IReadOnlyDictionary<byte, PlateTruth> ComputePlateTruths()
    {
        var result = new Dictionary<byte, PlateTruth>();
        var femur = new PlateAccumulator();
        int n = 360;
        for (int piece = 0; piece <= 1; piece++)
        {
            double cx = piece == 0 ? -CondyleOffsetXMm : CondyleOffsetXMm;
            double aMin = CondyleAlphaMinDeg * Deg, aMax = CondyleAlphaMaxDeg * Deg, pMax = CondylePhiMaxDeg * Deg;
            double da = (aMax - aMin) / n, dp = 2 * pMax / n;
            for (int ia = 0; ia < n; ia++)
            {
                double alpha = aMin + ((ia + 0.5) * da);
                double ry = Math.Sin(alpha), rz = -Math.Cos(alpha);
                for (int ip = 0; ip < n; ip++)
                {
                    double phi = -pMax + ((ip + 0.5) * dp);
                    double rr = CondyleRingRadiusMm + (CondyleTubeRadiusMm * Math.Cos(phi));
                    double x = cx + (CondyleTubeRadiusMm * Math.Sin(phi));
                    double y = CondyleCenterYMm + (rr * ry), z = CondyleCenterZMm + (rr * rz);
                    if (CreaseDistance(piece, x, y, z) < 0)
                    {
                        continue;
                    }

                    femur.Add(FemoralThickness(piece, x, y, z, out _), CondyleTubeRadiusMm * rr * da * dp);
                }
            }
        }

        {
            double bMin = TrochleaBetaMinDeg * Deg, bMax = TrochleaBetaMaxDeg * Deg;
            double db = (bMax - bMin) / n, dx = 2 * TrochleaCartilageHalfWidthMm / n;
            for (int ib = 0; ib < n; ib++)
            {
                double beta = bMin + ((ib + 0.5) * db);
                double y = TrochleaYMm + (TrochleaRadiusMm * Math.Cos(beta)), z = TrochleaZMm + (TrochleaRadiusMm * Math.Sin(beta));
                for (int ix = 0; ix < n; ix++)
                {
                    double x = -TrochleaCartilageHalfWidthMm + ((ix + 0.5) * dx);
                    if (CreaseDistance(2, x, y, z) < 0)
                    {
                        continue;
                    }

                    femur.Add(FemoralThickness(2, x, y, z, out _), TrochleaRadiusMm * db * dx);
                }
            }
        }

        result[KneeLabels.FemoralCartilage] = femur.ToTruth();
        result[KneeLabels.MedialTibialCartilage] = DiskTruth(TibialPlateRadiusMm, MedialTibialThicknessMm, MedialTibialDomeMm);
        result[KneeLabels.LateralTibialCartilage] = DiskTruth(TibialPlateRadiusMm, LateralTibialThicknessMm, LateralTibialDomeMm);
        result[KneeLabels.PatellarCartilage] = DiskTruth(PatellarPlateRadiusMm, PatellarThicknessMm, PatellarDomeMm);
        return result;
    }

    // t = t0 + dome (1 - rho^2/a^2) over a disk of radius a: mean t0 + dome/2, range [t0, t0 + dome].
    private static PlateTruth DiskTruth(double a, double t0, double dome) =>
        new(t0 + (dome / 2), t0, t0 + dome, Math.PI * a * a);

    private sealed class PlateAccumulator
    {
        private double sumTA, sumA, min = double.MaxValue, max;

        public void Add(double t, double area)
        {
            if (t <= 0)
            {
                return;
            }

            sumTA += t * area;
            sumA += area;
            min = Math.Min(min, t);
            max = Math.Max(max, t);
        }

        public PlateTruth ToTruth() => new(sumTA / sumA, min, max, sumA);
    }
}

/// <summary>Exact thickness statistics of one cartilage plate (area-weighted mean, range, bone-side area).</summary>
public sealed record PlateTruth(double MeanMm, double MinMm, double MaxMm, double AreaMm2);
