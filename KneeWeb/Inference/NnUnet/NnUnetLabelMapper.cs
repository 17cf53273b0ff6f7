using System.Globalization;
using System.Text;
using System.Text.Json;
using KneeWeb.Imaging.Segmentation;

namespace KneeWeb.Inference.NnUnet;

/// <summary>
/// Maps dataset.json label names to the KneeWeb schema (DESIGN.md) by what the words say, not
/// by their numbers: names are split at case changes, spaces, hyphens and underscores, the
/// common abbreviations expanded (fem, tib, pat, med, lat, cart, men), and the words read as
/// organ + tissue + side. Anything unknown or incomplete (a tibial cartilage without a side) is
/// an error naming the label, unless the user's map says what it is.
/// </summary>
public static class NnUnetLabelMapper
{
    private enum Organ
    {
        None,
        Femur,
        Tibia,
        Patella,
    }

    private enum Side
    {
        None,
        Medial,
        Lateral,
    }

    private static readonly Dictionary<string, byte> Abbreviations = new(StringComparer.Ordinal)
    {
        ["fc"] = KneeLabels.FemoralCartilage,
        ["mtc"] = KneeLabels.MedialTibialCartilage,
        ["ltc"] = KneeLabels.LateralTibialCartilage,
        ["pc"] = KneeLabels.PatellarCartilage,
        ["mm"] = KneeLabels.MedialMeniscus,
        ["lm"] = KneeLabels.LateralMeniscus,
    };

    /// <summary>What a name means: a schema label, or why it cannot be told.</summary>
    public readonly record struct Reading(byte? Label, string? Problem);

    /// <summary>Reads one label name; background names give 0.</summary>
    public static Reading Classify(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        List<string> words = Words(name);
        string joined = string.Concat(words);
        if (joined is "background" or "bg" or "bck" or "clearlabel")
        {
            return new(KneeLabels.Background, null);
        }

        if (words.Count == 1 && Abbreviations.TryGetValue(joined, out byte abbreviation))
        {
            return new(abbreviation, null);
        }

        if (joined is "tc")
        {
            return new(null, "tibial cartilage without a side (medial or lateral?)");
        }

        Organ organ = Organ.None;
        Side side = Side.None;
        bool cartilage = false, meniscus = false;
        foreach (string word in words)
        {
            switch (word)
            {
                case "femur" or "femoral" or "fem" or "femora":
                    organ = Set(organ, Organ.Femur);
                    break;
                case "tibia" or "tibial" or "tib":
                    organ = Set(organ, Organ.Tibia);
                    break;
                case "patella" or "patellar" or "pat":
                    organ = Set(organ, Organ.Patella);
                    break;
                case "medial" or "med":
                    side = side == Side.Lateral ? throw Conflict() : Side.Medial;
                    break;
                case "lateral" or "lat":
                    side = side == Side.Medial ? throw Conflict() : Side.Lateral;
                    break;
                case "cartilage" or "cart" or "cartilages":
                    cartilage = true;
                    break;
                case "meniscus" or "menisci" or "men" or "menisc" or "meniscal":
                    meniscus = true;
                    break;
                case "bone":
                    break;
                default:
                    return new(null, $"the word '{word}' is not one KneeWeb knows");
            }
        }

        return (cartilage, meniscus, organ, side) switch
        {
            (true, true, _, _) => new(null, "names both cartilage and meniscus"),
            (true, false, Organ.Femur, _) => new(KneeLabels.FemoralCartilage, null),
            (true, false, Organ.Patella, _) => new(KneeLabels.PatellarCartilage, null),
            (true, false, Organ.Tibia, Side.Medial) => new(KneeLabels.MedialTibialCartilage, null),
            (true, false, Organ.Tibia, Side.Lateral) => new(KneeLabels.LateralTibialCartilage, null),
            (true, false, Organ.Tibia, Side.None) => new(null, "tibial cartilage without a side (medial or lateral?)"),
            (true, false, Organ.None, _) => new(null, "cartilage of which bone?"),
            (false, true, _, Side.Medial) => new(KneeLabels.MedialMeniscus, null),
            (false, true, _, Side.Lateral) => new(KneeLabels.LateralMeniscus, null),
            (false, true, _, Side.None) => new(null, "a meniscus without a side (medial or lateral?)"),
            (false, false, Organ.Femur, Side.None) => new(KneeLabels.Femur, null),
            (false, false, Organ.Tibia, Side.None) => new(KneeLabels.Tibia, null),
            (false, false, Organ.Patella, Side.None) => new(KneeLabels.Patella, null),
            _ => new(null, "not a structure of the KneeWeb schema"),
        };

        static Organ Set(Organ current, Organ next) => current == Organ.None || current == next ? next : throw Conflict();
        static InvalidOperationException Conflict() => new("conflict");
    }

    /// <summary>Safe wrapper: a name with two organs or two sides reads as a problem, not an exception.</summary>
    public static Reading Read(string name)
    {
        try
        {
            return Classify(name);
        }
        catch (InvalidOperationException)
        {
            return new(null, "names two different bones or both sides");
        }
    }

    /// <summary>
    /// Output channel -> schema label for every model label, in ModelLabels order. Raises
    /// <see cref="NnUnetImportException"/> naming every label that is unmapped or ambiguous.
    /// The user's map (--labels) goes from label name or value to schema label number or name.
    /// </summary>
    public static Dictionary<string, int> Map(NnUnetDataset dataset, IReadOnlyDictionary<string, JsonElement>? userMap, string datasetFile = "dataset.json")
    {
        ArgumentNullException.ThrowIfNull(dataset);
        var problems = new List<string>();
        var result = new Dictionary<string, int>(StringComparer.Ordinal);
        var byValue = new Dictionary<int, (byte Label, bool Explicit, string Name)>();
        var used = new HashSet<string>(StringComparer.Ordinal);
        foreach (NnUnetLabel label in dataset.Labels)
        {
            (byte? schema, bool isExplicit, string? problem) = MapOne(label, userMap, used);
            if (schema is null)
            {
                problems.Add($"'{label.Name}' (value {label.Value}): {problem}");
                continue;
            }

            if (byValue.TryGetValue(label.Value, out var earlier) && earlier.Label != schema)
            {
                problems.Add($"'{earlier.Name}' and '{label.Name}' share value {label.Value} but read as different structures");
                continue;
            }

            byValue[label.Value] = (schema.Value, isExplicit, label.Name);
        }

        foreach (IGrouping<byte, KeyValuePair<int, (byte Label, bool Explicit, string Name)>> group in byValue.Where(e => e.Value.Label != 0).GroupBy(e => e.Value.Label))
        {
            if (group.Count() > 1 && group.Any(e => !e.Value.Explicit))
            {
                problems.Add($"{string.Join(" and ", group.Select(e => $"'{e.Value.Name}'"))} all read as {KneeLabels.Name(group.Key)} ({group.Key}): ambiguous");
            }
        }

        if (userMap is not null)
        {
            foreach (string key in userMap.Keys.Where(k => !used.Contains(k)))
            {
                problems.Add($"--labels names '{key}', which is neither a label name nor a value of {datasetFile}");
            }
        }

        if (problems.Count > 0)
        {
            throw new NnUnetImportException($"{datasetFile}: cannot map these labels to the KneeWeb schema: {string.Join("; ", problems)}. Pass --labels map.json, e.g. {{\"{dataset.Labels.FirstOrDefault(l => l.Value != 0)?.Name ?? "name"}\": \"femoral_cartilage\"}} (a label name or value -> a schema label number 1-9 or name).");
        }

        int[] order = dataset.ModelLabels;
        for (int channel = 0; channel < order.Length; channel++)
        {
            result[channel.ToString(CultureInfo.InvariantCulture)] = byValue[order[channel]].Label;
        }

        return result;
    }

    private static (byte? Label, bool Explicit, string? Problem) MapOne(NnUnetLabel label, IReadOnlyDictionary<string, JsonElement>? userMap, HashSet<string> used)
    {
        string valueKey = label.Value.ToString(CultureInfo.InvariantCulture);
        if (userMap is not null)
        {
            foreach (string key in new[] { label.Name, valueKey })
            {
                if (userMap.TryGetValue(key, out JsonElement target))
                {
                    used.Add(key);
                    (byte? schema, string? problem) = Target(target);
                    if (schema == 0 && label.Value != 0)
                    {
                        return (null, true, "--labels maps it to background, which would erase it from every result");
                    }

                    return (schema, true, problem is null ? null : $"--labels: {problem}");
                }
            }
        }

        if (label.Value == 0)
        {
            return (KneeLabels.Background, false, null);
        }

        Reading reading = Read(label.Name);
        return reading.Label == KneeLabels.Background
            ? (null, false, "a background name on a non-zero value")
            : (reading.Label, false, reading.Problem);
    }

    private static (byte? Label, string? Problem) Target(JsonElement target)
    {
        if (target.ValueKind == JsonValueKind.Number && target.TryGetInt32(out int number))
        {
            return ModelRegistry.IsSchemaLabel(number) ? ((byte)number, null) : (null, $"{number} is not a KneeWeb schema label");
        }

        if (target.ValueKind == JsonValueKind.String)
        {
            string text = target.GetString()!;
            if (int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int parsed))
            {
                return ModelRegistry.IsSchemaLabel(parsed) ? ((byte)parsed, null) : (null, $"{parsed} is not a KneeWeb schema label");
            }

            Reading reading = Read(text);
            return reading.Label is { } label ? (label, null) : (null, $"'{text}' is not a schema label name ({reading.Problem})");
        }

        return (null, "targets must be a schema label number or name");
    }

    /// <summary>Lower-case words: split at case changes and at anything not a letter or digit.</summary>
    internal static List<string> Words(string name)
    {
        var words = new List<string>();
        var current = new StringBuilder();
        for (int i = 0; i < name.Length; i++)
        {
            char c = name[i];
            if (!char.IsLetterOrDigit(c))
            {
                Flush();
                continue;
            }

            if (char.IsUpper(c) && i > 0 && char.IsLower(name[i - 1]))
            {
                Flush();
            }

            current.Append(char.ToLowerInvariant(c));
        }

        Flush();
        return words;

        void Flush()
        {
            if (current.Length > 0)
            {
                words.Add(current.ToString());
                current.Clear();
            }
        }
    }
}
