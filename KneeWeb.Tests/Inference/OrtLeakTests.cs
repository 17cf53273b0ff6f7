using System.Diagnostics;
using KneeWeb.Inference;
using KneeWeb.Inference.ModelBuilding;
using Xunit;

namespace KneeWeb.Tests.Inference;

/// <summary>Resident memory is process-wide: this collection runs alone, after the parallel ones.</summary>
[CollectionDefinition(nameof(MemoryMeasurementCollection), DisableParallelization = true)]
public sealed class MemoryMeasurementCollection;

[Collection(nameof(MemoryMeasurementCollection))]
public sealed class OrtLeakTests(InferenceFixture fixture) : IClassFixture<InferenceFixture>
{
    [Fact]
    public void A_thousand_runs_keep_process_memory_flat()
    {
        string folder = Path.Combine(fixture.Folder, "leak");
        Directory.CreateDirectory(folder);
        string path = DemoModel.Write(folder);
        using OrtSession session = OrtSession.Create(fixture.Runtime, path, new OrtSessionSettings { Provider = ExecutionProviderPreference.Cpu, IntraOpThreads = 1 });
        using var output = new OrtFloatTensor(fixture.Runtime, 1, 10, 16, 32, 32);
        using var cancellation = new CancellationTokenSource();

        // Each run creates and frees a pinned input tensor, run options with a cancellation
        // registration, and (every other run) an output the runtime allocates: 640 KB per run,
        // so a leak of any of them would add hundreds of MB over the loop.
        void RunOnce(int n)
        {
            using var input = new OrtFloatTensor(fixture.Runtime, 1, 1, 16, 32, 32);
            input.Data.AsSpan().Fill(n % 7);
            if (n % 2 == 0)
            {
                session.Run([input], [output], cancellation.Token);
            }
            else
            {
                float[] result = session.Run(input, out long[] _, cancellation.Token);
                Assert.Equal(output.Data.Length, result.Length);
            }
        }

        // Warm up long enough for the allocator's arenas to settle (after the rest of the suite has
        // run, glibc keeps up to ~50 MB of fragmentation that is not a leak).
        for (int n = 0; n < 500; n++)
        {
            RunOnce(n);
        }

        long before = NativeResidentBytes();
        for (int n = 0; n < 1000; n++)
        {
            RunOnce(n);
        }

        long after = NativeResidentBytes();
        double growthMb = (after - before) / (1024.0 * 1024.0);
        // A leaked tensor of either kind would add 300-600 MB over the loop; 64 MB leaves room for
        // allocator noise and still catches any per-run leak of a tensor.
        Assert.True(growthMb < 64, $"resident memory outside the managed heap grew {growthMb:F1} MB over 1000 runs ({before / 1048576} MB -> {after / 1048576} MB)");
    }

    /// <summary>
    /// Resident memory minus what the managed heap has committed: native allocations (ONNX Runtime's
    /// tensors, sessions, run options) are what a leak in the binding would grow, while the GC may
    /// keep freed segments of the 640 KB result arrays committed for a while (seen in CI after the
    /// other test collections had run).
    /// </summary>
    private static long NativeResidentBytes()
    {
        System.Runtime.GCSettings.LargeObjectHeapCompactionMode = System.Runtime.GCLargeObjectHeapCompactionMode.CompactOnce;
        GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
        GC.WaitForPendingFinalizers();
        GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
        using Process self = Process.GetCurrentProcess();
        self.Refresh();
        return self.WorkingSet64 - GC.GetGCMemoryInfo().TotalCommittedBytes;
    }
}
