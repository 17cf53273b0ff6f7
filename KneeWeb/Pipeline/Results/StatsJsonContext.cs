using System.Text.Json.Serialization;

namespace KneeWeb.Pipeline.Results;

/// <summary>
/// The source-generated contract of stats.json: snake_case names, indented for people, nulls written
/// (a null section means "not computed"), unknown members refused so a foreign file is not half-read.
/// </summary>
[JsonSourceGenerationOptions(
    WriteIndented = true,
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    DefaultIgnoreCondition = JsonIgnoreCondition.Never,
    UnmappedMemberHandling = System.Text.Json.Serialization.JsonUnmappedMemberHandling.Disallow,
    RespectNullableAnnotations = true)]
[JsonSerializable(typeof(StatsDocument))]
public sealed partial class StatsJsonContext : JsonSerializerContext;
