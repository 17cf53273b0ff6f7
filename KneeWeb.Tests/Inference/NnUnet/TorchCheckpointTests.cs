using System.Text.Json;
using KneeWeb.Inference.NnUnet;
using Xunit;

namespace KneeWeb.Tests.Inference.NnUnet;

/// <summary>The checkpoint reader against what torch itself saved (expectations written by the generator).</summary>
[Trait("Category", "unit")]
public sealed class TorchCheckpointTests
{
    public static TheoryData<string> CheckpointFiles() => [.. NnUnetFixtures.Checkpoints()];

    [Theory]
    [MemberData(nameof(CheckpointFiles))]
    public void Every_fixture_checkpoint_reads_with_the_values_torch_saved(string relative)
    {
        string path = Path.Combine(NnUnetFixtures.Root, relative);
        using JsonDocument expect = JsonDocument.Parse(File.ReadAllText(Path.ChangeExtension(path, ".expect.json")));
        using NnUnetCheckpoint checkpoint = NnUnetCheckpoint.Open(path);

        Assert.Equal("nnUNetTrainer", checkpoint.TrainerName);
        Assert.NotNull(checkpoint.Configuration);
        Assert.NotEmpty(checkpoint.MirrorAxes);
        int count = 0;
        foreach (JsonProperty tensor in expect.RootElement.EnumerateObject())
        {
            // The expectations use the network's own names; the file may carry module./_orig_mod.
            FloatTensor value = checkpoint.Get(tensor.Name);
            long[] shape = [.. tensor.Value.GetProperty("shape").EnumerateArray().Select(e => e.GetInt64())];
            Assert.Equal(shape, value.Shape);
            double sum = value.Data.Sum(v => (double)v);
            double sumAbs = value.Data.Sum(v => Math.Abs((double)v));
            Assert.Equal(tensor.Value.GetProperty("sum").GetDouble(), sum, 1e-3 + 1e-5 * sumAbs);
            Assert.Equal(tensor.Value.GetProperty("sum_abs").GetDouble(), sumAbs, 1e-3 + 1e-5 * sumAbs);
            double[] first = [.. tensor.Value.GetProperty("first").EnumerateArray().Select(e => e.GetDouble())];
            for (int i = 0; i < first.Length; i++)
            {
                Assert.Equal((float)first[i], value.Data[i]);
            }

            Assert.Equal((float)tensor.Value.GetProperty("last").GetDouble(), value.Data[^1]);
            count++;
        }

        Assert.True(count > 20);
        Assert.Equal(count, checkpoint.Names.Count);
    }

    [Fact]
    public void Prefixed_and_torch2_checkpoints_read_like_plain_ones()
    {
        // fold_0 best was saved with 'module.', fold_1 final in the torch 2.x layout with '_orig_mod.'.
        string folder = NnUnetFixtures.Folder(NnUnetFixtures.Plain);
        using NnUnetCheckpoint best = NnUnetCheckpoint.Open(Path.Combine(folder, "fold_0", "checkpoint_best.pth"));
        using NnUnetCheckpoint torch2 = NnUnetCheckpoint.Open(Path.Combine(folder, "fold_1", "checkpoint_final.pth"));
        Assert.Contains("encoder.stages.0.0.convs.0.conv.weight", best.Names);
        Assert.Contains("encoder.stages.0.0.convs.0.conv.weight", torch2.Names);
        Assert.DoesNotContain(best.Names, n => n.StartsWith("module.", StringComparison.Ordinal));
        Assert.DoesNotContain(torch2.Names, n => n.StartsWith("_orig_mod.", StringComparison.Ordinal));
        Assert.Equal("3d_fullres", torch2.Configuration);
        Assert.Equal([0, 1, 2], torch2.MirrorAxes);
    }

    [Theory]
    [InlineData("zoo.pth")]
    [InlineData("zoo_torch2.pth")]
    public void Float_kinds_shared_storages_offsets_and_strides_materialise_exactly(string file)
    {
        string path = Path.Combine(NnUnetFixtures.Root, "tensors", file);
        using JsonDocument expect = JsonDocument.Parse(File.ReadAllText(Path.Combine(NnUnetFixtures.Root, "tensors", "zoo.expect.json")));
        using TorchCheckpoint checkpoint = TorchCheckpoint.Open(path);
        var weights = (PyDict)((PyDict)checkpoint.Root!).Get("network_weights")!;
        var byName = weights.Items.ToDictionary(e => NnUnetCheckpoint.StripPrefixes((string)e.Key!), e => (TorchTensorRef)e.Value!);
        foreach (JsonProperty entry in expect.RootElement.EnumerateObject())
        {
            TorchTensorRef tensor = byName[entry.Name];
            long[] shape = [.. entry.Value.GetProperty("shape").EnumerateArray().Select(e => e.GetInt64())];
            Assert.Equal(shape, tensor.Size);
            if (entry.Name == "long")
            {
                NnUnetFormatException e = Assert.Throws<NnUnetFormatException>(() => checkpoint.ReadFloat(tensor, "long"));
                Assert.Contains("not floating-point", e.Message, StringComparison.Ordinal);
                continue;
            }

            float[] values = checkpoint.ReadFloat(tensor, entry.Name).Data;
            float[] expected = [.. entry.Value.GetProperty("values").EnumerateArray().Select(e => (float)e.GetDouble())];
            Assert.Equal(expected, values);
        }

        // Shared storage: the offset view and the whole tensor name one storage record.
        Assert.Same(byName["shared_whole"].Storage, byName["shared_offset"].Storage);
        Assert.Equal(3, byName["shared_offset"].Offset);
        Assert.Equal([1L, 6L], byName["strided"].Stride);
        Assert.Equal(file == "zoo.pth" ? "cuda:0" : "cpu", byName["f32"].Storage.Location);
    }

    [Fact]
    public void Torch2_numpy_core_scalars_and_layout_records_are_understood()
    {
        using TorchCheckpoint checkpoint = TorchCheckpoint.Open(Path.Combine(NnUnetFixtures.Root, "tensors", "zoo_torch2.pth"));
        Assert.Equal(1.25, (double)((PyDict)checkpoint.Root!).Get("n")!);
        Assert.Equal("zoo_torch2", checkpoint.Prefix);
    }

    [Fact]
    public void Numpy_scalars_logging_and_devices_of_a_real_checkpoint_dict_are_read()
    {
        string path = Path.Combine(NnUnetFixtures.Folder(NnUnetFixtures.Plain), "fold_0", "checkpoint_final.pth");
        using TorchCheckpoint checkpoint = TorchCheckpoint.Open(path);
        var root = (PyDict)checkpoint.Root!;
        var logging = (PyDict)root.Get("logging")!;
        Assert.All((List<object?>)logging.Get("mean_fg_dice")!, v => Assert.IsType<double>(v));
        Assert.All((List<object?>)logging.Get("train_losses")!, v => Assert.IsType<double>(v));
        Assert.IsType<double>(root.Get("_best_ema"));
        Assert.Equal(3L, root.Get("current_epoch"));
        var initArgs = (PyDict)root.Get("init_args")!;
        Assert.Equal(new TorchDevice("cuda", 0), initArgs.Get("device"));
        Assert.Equal(0L, initArgs.Get("fold"));
        Assert.IsType<PyDict>(initArgs.Get("plans"));
        var optimizer = (PyDict)root.Get("optimizer_state")!;
        Assert.IsType<PyDict>(optimizer.Get("state"));
    }
}
