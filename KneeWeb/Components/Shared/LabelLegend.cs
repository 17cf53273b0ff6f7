using System.Globalization;
using KneeWeb.Imaging.Rendering;
using KneeWeb.Imaging.Segmentation;

namespace KneeWeb.Components.Shared;

/// <summary>One label of the knee schema as pages show it: value, machine name, words, colour.</summary>
public sealed record LabelEntry(int Value, string Name, string DisplayName, string Hex);

/// <summary>The knee label schema for legends, toggles and tables (names and colours from the schema's own tables).</summary>
public static class LabelLegend
{
    public static IReadOnlyList<LabelEntry> Structures { get; } = Build(KneeLabels.Structures);

    public static IReadOnlyList<LabelEntry> All { get; } = Build([.. KneeLabels.Structures, .. KneeLabels.FemoralSubregions]);

    /// <summary>"medial_tibial_cartilage" -> "Medial tibial cartilage"; unknown names pass through the same rule.</summary>
    public static string Display(string name)
    {
        if (string.IsNullOrEmpty(name))
        {
            return name;
        }

        string words = name.Replace('_', ' ');
        return char.ToUpper(words[0], CultureInfo.InvariantCulture) + words[1..];
    }

    /// <summary>The colour of a structure by machine name, or null for names outside the schema.</summary>
    public static string? HexOf(string name)
    {
        foreach (LabelEntry e in All)
        {
            if (string.Equals(e.Name, name, StringComparison.Ordinal))
            {
                return e.Hex;
            }
        }

        return null;
    }

    private static List<LabelEntry> Build(IEnumerable<byte> labels)
    {
        var list = new List<LabelEntry>();
        foreach (byte label in labels)
        {
            string name = KneeLabels.Name(label);
            list.Add(new LabelEntry(label, name, Display(name), LabelColors.Hex(label)));
        }

        return list;
    }
}
