namespace KneeWeb.Inference;

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

    /// <summary>Schema label to structure name (label 10 is unused by the schema).</summary>
    public static IReadOnlyDictionary<int, string> Names { get; } = new Dictionary<int, string>
    {
        [0] = "background",
        [1] = "femur",
        [2] = "tibia",
        [3] = "patella",
        [4] = "femoral cartilage",
        [5] = "medial tibial cartilage",
        [6] = "lateral tibial cartilage",
        [7] = "patellar cartilage",
        [8] = "medial meniscus",
        [9] = "lateral meniscus",
        [11] = "femoral cartilage, anterior",
        [12] = "femoral cartilage, medial weight-bearing",
        [13] = "femoral cartilage, lateral weight-bearing",
        [14] = "femoral cartilage, medial posterior",
        [15] = "femoral cartilage, lateral posterior",
    };

    public static bool IsValid(int label) => Names.ContainsKey(label);
}
