using System.Text.Json;
using KneeWeb.Inference.NnUnet;
using Xunit;

namespace KneeWeb.Tests.Inference.NnUnet;

[Trait("Category", "unit")]
public sealed class NnUnetLabelMapperTests
{
    [Theory]
    [InlineData("femoral_cartilage", 4)]
    [InlineData("fem_cart", 4)]
    [InlineData("FC", 4)]
    [InlineData("Femoral Cartilage", 4)]
    [InlineData("tibial cartilage medial", 5)]
    [InlineData("med_tib_cart", 5)]
    [InlineData("MTC", 5)]
    [InlineData("lateral-tibial-cartilage", 6)]
    [InlineData("patellar_cartilage", 7)]
    [InlineData("medial_meniscus", 8)]
    [InlineData("med_men", 8)]
    [InlineData("MedialMeniscus", 8)]
    [InlineData("lat_men", 9)]
    [InlineData("Tibia", 2)]
    [InlineData("femur", 1)]
    [InlineData("femoral bone", 1)]
    [InlineData("Patella", 3)]
    [InlineData("background", 0)]
    public void Names_and_synonyms_read_as_schema_labels(string name, int label)
    {
        Assert.Equal((byte)label, NnUnetLabelMapper.Read(name).Label);
    }

    [Theory]
    [InlineData("tibial_cartilage", "without a side")]
    [InlineData("meniscus", "without a side")]
    [InlineData("cartilage", "which bone")]
    [InlineData("fibula", "'fibula'")]
    [InlineData("medial lateral meniscus", "both sides")]
    public void Incomplete_or_unknown_names_say_why(string name, string why)
    {
        NnUnetLabelMapper.Reading reading = NnUnetLabelMapper.Read(name);
        Assert.Null(reading.Label);
        Assert.Contains(why, reading.Problem, StringComparison.Ordinal);
    }

    [Fact]
    public void Values_in_any_order_map_by_output_channel()
    {
        NnUnetDataset dataset = NnUnetDataset.Parse("""{"channel_names": {"0": "MRI"}, "labels": {"background": 0, "lat_men": 3, "Femur": 1, "fem_cart": 2}}""");
        Assert.Equal([0, 1, 2, 3], dataset.ModelLabels);
        Dictionary<string, int> map = NnUnetLabelMapper.Map(dataset, null);
        Assert.Equal(new Dictionary<string, int> { ["0"] = 0, ["1"] = 1, ["2"] = 4, ["3"] = 9 }, map);
    }

    [Fact]
    public void Unmapped_and_ambiguous_labels_are_an_error_naming_each()
    {
        NnUnetDataset dataset = NnUnetDataset.Parse("""{"channel_names": {"0": "MRI"}, "labels": {"background": 0, "fibula": 1, "FC": 2, "femoral_cartilage": 3, "meniscus": 4}}""");
        NnUnetImportException e = Assert.Throws<NnUnetImportException>(() => NnUnetLabelMapper.Map(dataset, null));
        Assert.Contains("'fibula' (value 1)", e.Message, StringComparison.Ordinal);
        Assert.Contains("'FC' and 'femoral_cartilage'", e.Message, StringComparison.Ordinal);
        Assert.Contains("'meniscus' (value 4)", e.Message, StringComparison.Ordinal);
        Assert.Contains("--labels", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_user_map_by_name_or_value_resolves_them()
    {
        NnUnetDataset dataset = NnUnetDataset.Parse("""{"channel_names": {"0": "MRI"}, "labels": {"background": 0, "fibula": 1, "FC": 2, "femoral_cartilage": 3, "meniscus": 4}}""");
        var user = JsonSerializer.Deserialize<Dictionary<string, JsonElement>>("""{"fibula": "tibia", "3": 4, "FC": 4, "meniscus": "lateral meniscus"}""")!;
        Dictionary<string, int> map = NnUnetLabelMapper.Map(dataset, user);
        Assert.Equal(new Dictionary<string, int> { ["0"] = 0, ["1"] = 2, ["2"] = 4, ["3"] = 4, ["4"] = 9 }, map);
    }

    [Fact]
    public void A_user_map_naming_no_label_or_no_schema_label_is_refused()
    {
        NnUnetDataset dataset = NnUnetDataset.Parse("""{"channel_names": {"0": "MRI"}, "labels": {"background": 0, "femur": 1}}""");
        var typo = JsonSerializer.Deserialize<Dictionary<string, JsonElement>>("""{"femr": 1}""")!;
        Assert.Contains("'femr'", Assert.Throws<NnUnetImportException>(() => NnUnetLabelMapper.Map(dataset, typo)).Message, StringComparison.Ordinal);
        var wrong = JsonSerializer.Deserialize<Dictionary<string, JsonElement>>("""{"femur": 42}""")!;
        Assert.Contains("42 is not a KneeWeb schema label", Assert.Throws<NnUnetImportException>(() => NnUnetLabelMapper.Map(dataset, wrong)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Region_based_datasets_are_refused()
    {
        Assert.Contains("region-based", Assert.Throws<NnUnetImportException>(() => NnUnetDataset.Parse("""{"channel_names": {"0": "MRI"}, "labels": {"background": 0, "whole": [1, 2], "core": 2}, "regions_class_order": [1, 2]}""")).Message, StringComparison.Ordinal);
    }
}
