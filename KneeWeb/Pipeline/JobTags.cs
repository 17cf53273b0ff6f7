using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace KneeWeb.Pipeline;

/// <summary>
/// Job tags ("baseline", "knee-oa", "trial-2026"): a short list a lab uses to group jobs in the cohort.
/// People type them comma-separated; they are stored normalised (lower case, spaces as '-', each once,
/// in the order given) as one comma-separated string, so an exact-tag filter is a plain split.
/// </summary>
public static class JobTags
{
    public const int MaxTags = 16;
    public const int MaxTagLength = 32;

    /// <summary>Longest stored form: every tag at its longest, with separators.</summary>
    public const int MaxStoredLength = (MaxTags * (MaxTagLength + 1)) - 1;

    /// <summary>
    /// Splits, normalises and checks tags. Returns the tags (empty for null or blank input) and a
    /// sentence per problem (empty when they are all acceptable).
    /// </summary>
    public static (IReadOnlyList<string> Tags, IReadOnlyList<string> Problems) Parse(string? text)
    {
        var tags = new List<string>();
        var problems = new List<string>();
        if (string.IsNullOrWhiteSpace(text))
        {
            return (tags, problems);
        }

        foreach (string raw in text.Split(','))
        {
            string tag = Normalise(raw);
            if (tag.Length == 0)
            {
                continue;
            }

            if (tag.Length > MaxTagLength)
            {
                problems.Add($"tag '{Shorten(tag)}' is longer than {MaxTagLength} characters.");
                continue;
            }

            if (!IsAllowed(tag))
            {
                problems.Add($"tag '{Shorten(tag)}' may hold only letters, digits, '-', '_' and '.'.");
                continue;
            }

            if (!tags.Contains(tag))
            {
                tags.Add(tag);
            }
        }

        if (tags.Count > MaxTags)
        {
            problems.Add($"at most {MaxTags} tags are allowed (got {tags.Count}).");
        }

        return (tags, problems);
    }

    /// <summary>The stored form (null when there are none). Call after <see cref="Parse"/> found no problem.</summary>
    public static string? ToStored(string? text)
    {
        IReadOnlyList<string> tags = Parse(text).Tags;
        return tags.Count == 0 ? null : string.Join(',', tags);
    }

    /// <summary>The tags of a stored (or typed) string; never throws, bad parts are left out.</summary>
    public static IReadOnlyList<string> Split(string? stored) => Parse(stored).Tags;

    /// <summary>True when <paramref name="stored"/> holds exactly the tag <paramref name="wanted"/> (compared normalised).</summary>
    public static bool HasTag(string? stored, string? wanted)
    {
        string tag = Normalise(wanted ?? "");
        if (tag.Length == 0)
        {
            return true;
        }

        foreach (string t in Split(stored))
        {
            if (t == tag)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Lower case, trimmed, inner whitespace runs as one '-', a leading '#' dropped (people write "#baseline").</summary>
    public static string Normalise(string raw)
    {
        ArgumentNullException.ThrowIfNull(raw);
        string trimmed = raw.Trim().TrimStart('#').Trim();
        var sb = new StringBuilder(trimmed.Length);
        bool space = false;
        foreach (char ch in trimmed)
        {
            if (char.IsWhiteSpace(ch))
            {
                space = true;
                continue;
            }

            if (space)
            {
                sb.Append('-');
                space = false;
            }

            sb.Append(char.ToLowerInvariant(ch));
        }

        return sb.ToString();
    }

    private static bool IsAllowed(string tag)
    {
        foreach (char ch in tag)
        {
            if (!char.IsLetterOrDigit(ch) && ch is not ('-' or '_' or '.'))
            {
                return false;
            }
        }

        return true;
    }

    private static string Shorten(string tag) => tag.Length > 40 ? tag[..40] + "…" : tag;
}

/// <summary>Reads `tags` as either "a, b" or ["a", "b"] (scripts send both); writes the string form.</summary>
public sealed class TagsJsonConverter : JsonConverter<string?>
{
    public override string? Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        switch (reader.TokenType)
        {
            case JsonTokenType.Null:
                return null;
            case JsonTokenType.String:
                return reader.GetString();
            case JsonTokenType.StartArray:
                var parts = new List<string>();
                while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
                {
                    if (reader.TokenType != JsonTokenType.String)
                    {
                        throw new JsonException("tags must be a string or a list of strings.");
                    }

                    // A comma inside one list item would silently split it: keep it, so validation names it.
                    parts.Add(reader.GetString()!.Replace(',', ';'));
                }

                return string.Join(',', parts);
            default:
                throw new JsonException("tags must be a string or a list of strings.");
        }
    }

    public override void Write(Utf8JsonWriter writer, string? value, JsonSerializerOptions options)
    {
        ArgumentNullException.ThrowIfNull(writer);
        if (value is null)
        {
            writer.WriteNullValue();
        }
        else
        {
            writer.WriteStringValue(value);
        }
    }
}
