using System.Text.Json.Serialization;

namespace KneeWeb.Pipeline;

/// <summary>
/// What a person chooses for a job (the API's `options` part, the Upload page, the CLI flags).
/// Every field is optional; <see cref="Validate"/> says what is wrong in words a person understands.
/// </summary>
public sealed class PipelineOptions
{
    public static readonly string[] NsmModes = ["off", "bone", "bone-cartilage"];
    public static readonly string[] Devices = ["auto", "cpu", "cuda"];
    public static readonly string[] KneeSides = ["auto", "left", "right"];

    [JsonPropertyName("model")]
    public string? Model { get; set; }

    [JsonPropertyName("nsm")]
    public string Nsm { get; set; } = "off";

    [JsonPropertyName("thickness")]
    public bool Thickness { get; set; } = true;

    [JsonPropertyName("subject_id")]
    public string? SubjectId { get; set; }

    [JsonPropertyName("knee_side")]
    public string KneeSide { get; set; } = "auto";

    [JsonPropertyName("notes")]
    public string? Notes { get; set; }

    /// <summary>Comma-separated tags (see <see cref="JobTags"/>); a JSON list is accepted too.</summary>
    [JsonPropertyName("tags")]
    [JsonConverter(typeof(TagsJsonConverter))]
    public string? Tags { get; set; }

    [JsonPropertyName("device")]
    public string Device { get; set; } = "auto";

    /// <summary>Test-time mirroring: "model" (the model's own axes), "on" (every axis) or "off" (about 8x faster).</summary>
    [JsonPropertyName("mirroring")]
    [JsonConverter(typeof(MirroringModeJsonConverter))]
    public Inference.MirroringMode Mirroring { get; set; } = Inference.MirroringMode.Model;

    /// <summary>DICOM series to use when an upload holds several (series number or description).</summary>
    [JsonPropertyName("series")]
    public string? Series { get; set; }

    /// <summary>Which volume of a 4D input to analyse (0-based); the first when not given.</summary>
    [JsonPropertyName("frame")]
    public int? Frame { get; set; }

    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (Array.IndexOf(NsmModes, Nsm) < 0)
        {
            errors.Add($"nsm must be one of {string.Join(", ", NsmModes)} (got '{Nsm}').");
        }

        if (Array.IndexOf(Devices, Device) < 0)
        {
            errors.Add($"device must be one of {string.Join(", ", Devices)} (got '{Device}').");
        }

        if (!Enum.IsDefined(Mirroring))
        {
            errors.Add("mirroring must be one of model, on, off.");
        }

        if (Array.IndexOf(KneeSides, KneeSide) < 0)
        {
            errors.Add($"knee_side must be one of {string.Join(", ", KneeSides)} (got '{KneeSide}').");
        }

        if (SubjectId is { Length: > 128 })
        {
            errors.Add("subject_id is longer than 128 characters.");
        }

        if (Notes is { Length: > 4000 })
        {
            errors.Add("notes are longer than 4000 characters.");
        }

        errors.AddRange(JobTags.Parse(Tags).Problems);

        if (Frame is < 0)
        {
            errors.Add($"frame must be 0 or more (got {Frame}).");
        }

        return errors;
    }
}
