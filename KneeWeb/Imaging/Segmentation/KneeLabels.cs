namespace KneeWeb.Imaging.Segmentation;

/// <summary>The fixed knee label schema of DESIGN.md, shared by every model, file and page.</summary>
public static class KneeLabels
{
    public const byte Background = 0;
    public const byte Femur = 1;
    public const byte Tibia = 2;
    public const byte Patella = 3;
    public const byte FemoralCartilage = 4;
    public const byte MedialTibialCartilage = 5;
    public const byte LateralTibialCartilage = 6;
    public const byte PatellarCartilage = 7;
    public const byte MedialMeniscus = 8;
    public const byte LateralMeniscus = 9;
    public const byte FemoralAnterior = 11;
    public const byte FemoralMedialWeightBearing = 12;
    public const byte FemoralLateralWeightBearing = 13;
    public const byte FemoralMedialPosterior = 14;
    public const byte FemoralLateralPosterior = 15;

    /// <summary>Structures 1-9 in label order.</summary>
    public static IReadOnlyList<byte> Structures { get; } = [1, 2, 3, 4, 5, 6, 7, 8, 9];

    /// <summary>Femoral cartilage subregions 11-15.</summary>
    public static IReadOnlyList<byte> FemoralSubregions { get; } = [11, 12, 13, 14, 15];

    public static bool IsFemoralCartilage(byte label) => label == FemoralCartilage || (label >= FemoralAnterior && label <= FemoralLateralPosterior);

    public static bool IsBone(byte label) => label is Femur or Tibia or Patella;

    /// <summary>Machine name of a label (file names, JSON keys).</summary>
    public static string Name(byte label) => label switch
    {
        Femur => "femur",
        Tibia => "tibia",
        Patella => "patella",
        FemoralCartilage => "femoral_cartilage",
        MedialTibialCartilage => "medial_tibial_cartilage",
        LateralTibialCartilage => "lateral_tibial_cartilage",
        PatellarCartilage => "patellar_cartilage",
        MedialMeniscus => "medial_meniscus",
        LateralMeniscus => "lateral_meniscus",
        FemoralAnterior => "femoral_anterior",
        FemoralMedialWeightBearing => "femoral_medial_weight_bearing",
        FemoralLateralWeightBearing => "femoral_lateral_weight_bearing",
        FemoralMedialPosterior => "femoral_medial_posterior",
        FemoralLateralPosterior => "femoral_lateral_posterior",
        _ => $"label_{label}",
    };
}
