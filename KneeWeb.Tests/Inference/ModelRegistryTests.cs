using System.Text.Json.Nodes;
using KneeWeb.Inference;
using KneeWeb.Inference.ModelBuilding;
using Xunit;

namespace KneeWeb.Tests.Inference;

[Trait("Category", "unit")]
public sealed class ModelRegistryTests(InferenceFixture fixture) : IClassFixture<InferenceFixture>
{
    private string NewFolder(string name)
    {
        string folder = Path.Combine(fixture.Folder, name);
        Directory.CreateDirectory(folder);
        DemoModel.Write(folder);
        return folder;
    }

    private static void EditSidecar(string folder, Action<JsonObject> edit)
    {
        string path = Path.Combine(folder, DemoModel.Name + ".json");
        JsonObject json = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        edit(json);
        File.WriteAllText(path, json.ToJsonString());
    }

    private static ModelEntry Only(ModelRegistry registry)
    {
        ModelEntry entry = Assert.Single(registry.Models);
        Assert.Same(entry, registry.Find(entry.Name));
        return entry;
    }

    [Fact]
    public void The_demo_model_is_enabled_with_its_sidecar()
    {
        ModelEntry entry = Only(new ModelRegistry(NewFolder("ok"), fixture.Runtime));
        Assert.True(entry.Enabled, entry.DisabledReason);
        Assert.Equal(DemoModel.Version, entry.Version);
        Assert.Equal(10, entry.Sidecar!.NumClasses);
        Assert.Equal(entry.Sidecar.Sha256, entry.ComputedSha256);
        Assert.Null(new ModelRegistry(NewFolder("ok2")).Find("no-such-model"));
    }

    [Fact]
    public void A_checksum_mismatch_disables_the_model_with_the_reason()
    {
        string folder = NewFolder("sha");
        EditSidecar(folder, json => json["sha256"] = new string('0', 64));
        ModelEntry entry = Only(new ModelRegistry(folder));
        Assert.False(entry.Enabled);
        Assert.Contains("checksum mismatch", entry.DisabledReason, StringComparison.Ordinal);
    }

    [Fact]
    public void An_incomplete_label_map_disables_the_model_naming_the_missing_labels()
    {
        string folder = NewFolder("labels");
        EditSidecar(folder, json =>
        {
            JsonObject labels = json["labels"]!.AsObject();
            labels.Remove("8");
            labels.Remove("9");
        });
        ModelEntry entry = Only(new ModelRegistry(folder));
        Assert.False(entry.Enabled);
        Assert.Contains("label map is incomplete: model label(s) 8, 9", entry.DisabledReason, StringComparison.Ordinal);
    }

    [Fact]
    public void A_structure_mapped_to_background_or_outside_the_schema_is_refused()
    {
        string folder = NewFolder("erase");
        EditSidecar(folder, json =>
        {
            json["labels"]!["8"] = 0;
            json["labels"]!["9"] = 10;
        });
        string reason = Only(new ModelRegistry(folder)).DisabledReason!;
        Assert.Contains("model label 8 maps to background", reason, StringComparison.Ordinal);
        Assert.Contains("model label 9 maps to 10, not a KneeWeb schema label", reason, StringComparison.Ordinal);
    }

    [Fact]
    public void A_bad_sidecar_a_missing_sidecar_and_a_missing_model_are_listed_disabled()
    {
        string folder = NewFolder("bad");
        File.WriteAllText(Path.Combine(folder, DemoModel.Name + ".json"), "{ \"name\": \"demo-knee\", \"patch_size_ijk\": [64, 64] , \"colour\": 1 }");
        File.Copy(Path.Combine(NewFolder("bad-src"), DemoModel.Name + ".onnx"), Path.Combine(folder, "lonely.onnx"));
        File.WriteAllText(Path.Combine(folder, "ghost.json"), new ModelSidecar { Name = "ghost", Version = "1" }.ToJson());
        var registry = new ModelRegistry(folder);
        Assert.Equal(["demo-knee", "ghost", "lonely"], registry.Models.Select(m => m.Name));
        Assert.All(registry.Models, m => Assert.False(m.Enabled));
        Assert.Contains("not valid", registry.Find("demo-knee")!.DisabledReason, StringComparison.Ordinal);
        Assert.Contains("model file ghost.onnx is missing", registry.Find("ghost")!.DisabledReason, StringComparison.Ordinal);
        Assert.Contains("no sidecar", registry.Find("lonely")!.DisabledReason, StringComparison.Ordinal);
    }

    [Fact]
    public void Sidecar_values_are_checked_and_the_runtime_check_compares_class_counts()
    {
        string folder = NewFolder("values");
        string onnx = Path.Combine(folder, DemoModel.Name + ".onnx");
        EditSidecar(folder, json =>
        {
            json["patch_size_ijk"] = new JsonArray(64, 0, 32);
            json["sliding_window"]!["overlap"] = 1.0;
        });
        string reason = Only(new ModelRegistry(folder)).DisabledReason!;
        Assert.Contains("patch_size_ijk", reason, StringComparison.Ordinal);
        Assert.Contains("overlap", reason, StringComparison.Ordinal);

        string other = NewFolder("classes");
        EditSidecar(other, json =>
        {
            json["num_classes"] = 11;
            json["labels"]!["10"] = 11;
        });
        ModelEntry withoutRuntime = Only(new ModelRegistry(other));
        Assert.True(withoutRuntime.Enabled, withoutRuntime.DisabledReason);
        ModelEntry withRuntime = Only(new ModelRegistry(other, fixture.Runtime));
        Assert.Contains("the model gives 10 class(es), the sidecar says 11", withRuntime.DisabledReason, StringComparison.Ordinal);
        Assert.True(File.Exists(onnx));
    }
}
