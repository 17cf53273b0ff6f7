using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace KneeWeb.Inference.NnUnet;

/// <summary>One entry of dataset.json's labels: the name and the value nnU-Net trained with.</summary>
public sealed record NnUnetLabel(string Name, int Value);

/// <summary>dataset.json: channels and labels (region-based datasets refused).</summary>
public sealed record NnUnetDataset
{
    /// <summary>Channel names in channel order (keys "0", "1", ...).</summary>
    public required string[] ChannelNames { get; init; }

    /// <summary>Labels as listed ('ignore' left out: nnU-Net gives it no output channel).</summary>
    public required NnUnetLabel[] Labels { get; init; }

    /// <summary>Output channel order: the distinct label values sorted ascending (nnU-Net's LabelManager).</summary>
    public int[] ModelLabels => Labels.Select(l => l.Value).Distinct().Order().ToArray();

    /// <summary>The foreground label values, sorted: a cascade's one-hot input channels, in order.</summary>
    public int[] ForegroundLabels => ModelLabels.Where(v => v != 0).ToArray();

    public static NnUnetDataset Parse(string json, string fileName = "dataset.json")
    {
        JsonObject root;
        try
        {
            root = JsonNode.Parse(json) as JsonObject ?? throw new NnUnetFormatException($"{fileName} is not a JSON object");
        }
        catch (JsonException e)
        {
            throw new NnUnetFormatException($"{fileName} is not valid JSON: {e.Message}", e);
        }

        if (root["regions_class_order"] is JsonArray)
        {
            throw new NnUnetImportException($"{fileName}: region-based training (regions_class_order) is not supported: its outputs are per-region sigmoids, not one label per voxel");
        }

        JsonObject channels = (root["channel_names"] ?? root["modality"]) as JsonObject ?? throw new NnUnetFormatException($"{fileName} has no channel_names");
        var channelNames = new string[channels.Count];
        foreach (KeyValuePair<string, JsonNode?> entry in channels)
        {
            if (!int.TryParse(entry.Key, NumberStyles.None, CultureInfo.InvariantCulture, out int index) || index >= channelNames.Length || channelNames[index] is not null)
            {
                throw new NnUnetFormatException($"{fileName}: channel_names keys must be 0..{channelNames.Length - 1}; found '{entry.Key}'");
            }

            channelNames[index] = entry.Value?.ToString() ?? string.Empty;
        }

        JsonObject labelsNode = root["labels"] as JsonObject ?? throw new NnUnetFormatException($"{fileName} has no labels");
        var labels = new List<NnUnetLabel>();
        foreach (KeyValuePair<string, JsonNode?> entry in labelsNode)
        {
            if (entry.Value is JsonArray)
            {
                throw new NnUnetImportException($"{fileName}: label '{entry.Key}' is a region (a list of values): region-based training is not supported");
            }

            if (entry.Value is not JsonValue value || !value.TryGetValue(out int number) && !(value.TryGetValue(out double d) && d == Math.Floor(d) && (number = (int)d) == d))
            {
                throw new NnUnetFormatException($"{fileName}: label '{entry.Key}' has no integer value");
            }

            if (entry.Key == "ignore")
            {
                continue;
            }

            if (number is < 0 or > 254)
            {
                throw new NnUnetFormatException($"{fileName}: label '{entry.Key}' has value {number}; 0..254 expected");
            }

            labels.Add(new NnUnetLabel(entry.Key, number));
        }

        if (!labels.Any(l => l.Value == 0))
        {
            throw new NnUnetFormatException($"{fileName}: no label has value 0 (background)");
        }

        return new NnUnetDataset { ChannelNames = channelNames, Labels = [.. labels] };
    }
}
