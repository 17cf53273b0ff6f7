using System.Runtime.CompilerServices;
using System.Text.Json;
using System.Text.Json.Serialization;
using KneeWeb.Imaging.Segmentation;

namespace KneeWeb.Imaging.Phantom;

/// <summary>How to draw a phantom knee.</summary>
public sealed record PhantomOptions
{
    /// <summary>Seeds the noise and the bias field; the anatomy is fixed by <see cref="Anatomy"/>.</summary>
    public int Seed { get; init; } = 1;

    /// <summary>
    /// 1 gives the full DESS grid, 384x384x160 at 0.36x0.36x0.7 mm; n gives the same field of view and
    /// anatomy on a grid n times coarser (e.g. 2: 192x192x80 at 0.72x0.72x1.4 mm) for fast tests.
    /// </summary>
    public int Coarsening { get; init; } = 1;

    public KneeSide Side { get; init; } = KneeSide.Right;

    /// <summary>SD of the additive Gaussian noise, in image units (cartilage is about 620).</summary>
    public double NoiseSd { get; init; } = 18.0;

    /// <summary>Largest log-amplitude of each term of the smooth multiplicative bias field.</summary>
    public double BiasAmplitude { get; init; } = 0.15;

    public PhantomAnatomy Anatomy { get; init; } = PhantomAnatomy.Default;

    /// <summary>False leaves the image black (faster) when only labels and truth are needed.</summary>
    public bool IncludeImage { get; init; } = true;

    /// <summary>The same knee on a grid twice as coarse (192x192x80): for fast tests.</summary>
    public static PhantomOptions Small(int seed = 1) => new() { Seed = seed, Coarsening = 2 };
}

/// <summary>A phantom: DESS-like image, its ground-truth labels and the exact cartilage thickness.</summary>
public sealed record PhantomResult(Volume Image, Volume Labels, PhantomTruth Truth);

/// <summary>
/// Synthetic sagittal DESS knee with analytic anatomy (see <see cref="PhantomAnatomy"/>).
/// Grid orientation, as a sagittal knee DESS is usually stored: i runs anterior to posterior, j superior
/// to inferior (the in-plane rows and columns of a sagittal slice), k left to right (slices), so the
/// index-to-RAS affine has direction columns (0,-1,0), (0,0,-1), (1,0,0) and determinant +1.
/// Deterministic: the same options give the same voxels on every machine.
/// </summary>
public static class KneePhantom
{
    public const int FullI = 384, FullJ = 384, FullK = 160;
    public const double FullInPlaneMm = 0.36, FullSliceMm = 0.7;

    // DESS-like intensities (arbitrary units): cartilage and fluid bright, marrow medium, menisci and cortex dark.
    private const double AirValue = 0, SoftTissueValue = 180, MarrowValue = 320, CortexValue = 60;
    private const double CartilageValue = 620, FluidValue = 820, MeniscusValue = 40;

    public static PhantomResult Generate(PhantomOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.Coarsening < 1 || FullK % options.Coarsening != 0 || FullI % options.Coarsening != 0)
        {
            throw new ArgumentOutOfRangeException(nameof(options), options.Coarsening, "Coarsening must divide 384 and 160 (1, 2, 4, 8...).");
        }

        int c = options.Coarsening;
        var dims = new Dims3(FullI / c, FullJ / c, FullK / c);
        var spacing = new Vec3d(FullInPlaneMm * c, FullInPlaneMm * c, FullSliceMm * c);
        Vec3d kneeOrigin = KneeOriginRas(options.Side);
        // The grid's centre sits 14 mm above the plateau so that femur shaft, patella and tibia all fit.
        var centreRas = kneeOrigin + new Vec3d(0, 0, 14);
        var dirI = new Vec3d(0, -1, 0);
        var dirJ = new Vec3d(0, 0, -1);
        var dirK = new Vec3d(1, 0, 0);
        Vec3d originRas = centreRas
            - (dirI * (spacing.X * (dims.I - 1) / 2.0))
            - (dirJ * (spacing.Y * (dims.J - 1) / 2.0))
            - (dirK * (spacing.Z * (dims.K - 1) / 2.0));
        var geometry = new VolumeGeometry(dims, AffineRas.FromDirections(dirI, dirJ, dirK, spacing, originRas));

        var labels = new byte[dims.VoxelCount];
        var image = new short[dims.VoxelCount];
        PhantomAnatomy anatomy = options.Anatomy;
        double sign = options.Side == KneeSide.Right ? 1 : -1;
        double[] bias = BiasCoefficients(options.Seed, options.BiasAmplitude);
        AffineRas affine = geometry.IndexToRas;
        Parallel.For(0, dims.K, k => DrawSlice(k, dims, affine, kneeOrigin, sign, anatomy, bias, options, labels, image));

        var truth = new PhantomTruth(options.Side, options.Seed, kneeOrigin, anatomy, anatomy.ComputePlateTruths());
        return new PhantomResult(
            new Volume(geometry, VoxelType.Int16, image),
            Volume.CreateLabelMap(geometry, labels),
            truth);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void DrawSlice(int k, Dims3 dims, AffineRas affine, Vec3d kneeOrigin, double sign, PhantomAnatomy anatomy, double[] bias, PhantomOptions options, byte[] labels, short[] image)
    {
        Vec3d stepI = affine.Column(0), stepJ = affine.Column(1);
        var random = new Random(unchecked((options.Seed * 7919) + (k * 104729) + 17));
        int sliceOffset = checked((int)(dims.SliceSize * k));
        Span<byte> labelSlice = labels.AsSpan(sliceOffset, (int)dims.SliceSize);
        Span<short> imageSlice = image.AsSpan(sliceOffset, (int)dims.SliceSize);
        Vec3d sliceRas = affine.Apply(new Vec3d(0, 0, k));
        for (int j = 0; j < dims.J; j++)
        {
            Vec3d rowRas = sliceRas + (stepJ * j);
            for (int i = 0; i < dims.I; i++)
            {
                Vec3d pRas = rowRas + (stepI * i);
                double x = sign * (pRas.X - kneeOrigin.X), y = pRas.Y - kneeOrigin.Y, z = pRas.Z - kneeOrigin.Z;
                byte label = anatomy.LabelAt(x, y, z);
                int index = i + (j * dims.I);
                labelSlice[index] = label;
                if (!options.IncludeImage)
                {
                    continue;
                }

                double value = TissueValue(anatomy, label, x, y, z);
                value *= BiasAt(bias, x, y, z);
                value += options.NoiseSd * Gaussian(random);
                imageSlice[index] = (short)Math.Clamp(Math.Round(value), 0, short.MaxValue);
            }
        }
    }

    /// <summary>Where the knee frame's origin (centre of the tibial plateau's top) lies in RAS mm.</summary>
    public static Vec3d KneeOriginRas(KneeSide side) => new(side == KneeSide.Right ? 6.0 : -6.0, 12.0, -8.0);

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static double TissueValue(PhantomAnatomy anatomy, byte label, double x, double y, double z)
    {
        switch (label)
        {
            case KneeLabels.Femur:
            case KneeLabels.Tibia:
            case KneeLabels.Patella:
                // A 1 mm cortical rim (dark) around marrow (medium).
                return anatomy.BoneDistance(label, x, y, z) > -1.0 ? CortexValue : MarrowValue;
            case KneeLabels.FemoralCartilage:
            case KneeLabels.MedialTibialCartilage:
            case KneeLabels.LateralTibialCartilage:
            case KneeLabels.PatellarCartilage:
                return CartilageValue;
            case KneeLabels.MedialMeniscus:
            case KneeLabels.LateralMeniscus:
                return MeniscusValue;
            default:
                // Joint fluid pads the space around the menisci; the leg is an elliptic cylinder of soft tissue.
                if (z > 0 && z < 9 && Math.Abs(x) < 38 && Math.Abs(y) < 26)
                {
                    return FluidValue;
                }

                double ex = x / 60.0, ey = (y - 4) / 62.0;
                return (ex * ex) + (ey * ey) <= 1 ? SoftTissueValue : AirValue;
        }
    }

    private static double[] BiasCoefficients(int seed, double amplitude)
    {
        var random = new Random(unchecked((seed * 31) + 5));
        var c = new double[6];
        for (int n = 0; n < c.Length; n++)
        {
            c[n] = amplitude * ((2 * random.NextDouble()) - 1);
        }

        return c;
    }

    // Smooth over the field of view: linear and quadratic terms in coordinates scaled to about [-1, 1].
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static double BiasAt(double[] c, double x, double y, double z)
    {
        double u = x / 60.0, v = y / 70.0, w = (z - 14) / 70.0;
        return Math.Exp((c[0] * u) + (c[1] * v) + (c[2] * w) + (c[3] * u * v) + (c[4] * ((v * v) - (w * w))) + (c[5] * u * w));
    }

    private static double Gaussian(Random random)
    {
        double u1 = 1.0 - random.NextDouble();
        double u2 = random.NextDouble();
        return Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2.0 * Math.PI * u2);
    }
}

/// <summary>Ground truth of a phantom: exact thickness per plate and at any bone-surface point.</summary>
public sealed class PhantomTruth
{
    public PhantomTruth(KneeSide side, int seed, Vec3d kneeOriginRas, PhantomAnatomy anatomy, IReadOnlyDictionary<byte, PlateTruth> plates)
    {
        Side = side;
        Seed = seed;
        KneeOriginRas = kneeOriginRas;
        Anatomy = anatomy;
        Plates = plates;
    }

    public KneeSide Side { get; }

    public int Seed { get; }

    public Vec3d KneeOriginRas { get; }

    public PhantomAnatomy Anatomy { get; }

    /// <summary>Per cartilage plate label (4 femoral, 5 medial tibial, 6 lateral tibial, 7 patellar).</summary>
    public IReadOnlyDictionary<byte, PlateTruth> Plates { get; }

    /// <summary>Exact thickness over a bone-surface point given in RAS mm.</summary>
    public SurfaceTruth TruthAt(byte boneLabel, Vec3d pointRas)
    {
        (double x, double y, double z) = ToKneeFrame(pointRas);
        return Anatomy.TruthAt(boneLabel, x, y, z);
    }

    /// <summary>Signed distance (mm) from a RAS point to the analytic surface of a bone (exact outside).</summary>
    public double BoneDistance(byte boneLabel, Vec3d pointRas)
    {
        (double x, double y, double z) = ToKneeFrame(pointRas);
        return Anatomy.BoneDistance(boneLabel, x, y, z);
    }

    public (double X, double Y, double Z) ToKneeFrame(Vec3d pointRas)
    {
        double sign = Side == KneeSide.Right ? 1 : -1;
        return (sign * (pointRas.X - KneeOriginRas.X), pointRas.Y - KneeOriginRas.Y, pointRas.Z - KneeOriginRas.Z);
    }

    /// <summary>truth.json: plate thickness statistics (mm) keyed by structure name, plus how the phantom was made.</summary>
    public string ToJson()
    {
        var plates = new SortedDictionary<string, object>(StringComparer.Ordinal);
        foreach ((byte label, PlateTruth plate) in Plates)
        {
            plates[KneeLabels.Name(label)] = new
            {
                label = (int)label,
                mean_mm = Math.Round(plate.MeanMm, 5),
                min_mm = Math.Round(plate.MinMm, 5),
                max_mm = Math.Round(plate.MaxMm, 5),
                bone_area_mm2 = Math.Round(plate.AreaMm2, 2),
            };
        }

        var document = new
        {
            phantom = "KneeWeb analytic knee",
            side = Side == KneeSide.Right ? "right" : "left",
            seed = Seed,
            knee_origin_ras_mm = new[] { KneeOriginRas.X, KneeOriginRas.Y, KneeOriginRas.Z },
            thickness_definition = "distance along the bone-surface normal from bone to the cartilage's outer surface; mean is area-weighted over the bone side of the plate",
            thickness_mm = plates,
            anatomy = Anatomy,
        };
        return JsonSerializer.Serialize(document, JsonOptions);
    }

    private static readonly JsonSerializerOptions JsonOptions = new()
    {
        WriteIndented = true,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };
}
