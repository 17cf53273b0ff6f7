using System.Text.Json;
using System.Text.Json.Serialization;
using KneeWeb.Inference;

namespace KneeWeb.Pipeline;

/// <summary>The job option "mirroring" as "model", "on" or "off"; anything else is a JSON error (CONFIG_ERROR at upload).</summary>
public sealed class MirroringModeJsonConverter : JsonConverter<MirroringMode>
{
    public static MirroringMode? Parse(string? text) => text?.Trim().ToLowerInvariant() switch
    {
        "model" => MirroringMode.Model,
        "on" => MirroringMode.On,
        "off" => MirroringMode.Off,
        _ => null,
    };

    public static string Name(MirroringMode mode) => mode switch
    {
        MirroringMode.On => "on",
        MirroringMode.Off => "off",
        _ => "model",
    };

    public override MirroringMode Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        reader.TokenType == JsonTokenType.String && Parse(reader.GetString()) is MirroringMode mode
            ? mode
            : throw new JsonException("mirroring must be \"model\", \"on\" or \"off\".");

    public override void Write(Utf8JsonWriter writer, MirroringMode value, JsonSerializerOptions options)
    {
        ArgumentNullException.ThrowIfNull(writer);
        writer.WriteStringValue(Name(value));
    }
}
