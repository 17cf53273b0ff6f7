using System.Diagnostics;
using KneeWeb.Inference;
using KneeWeb.Inference.ModelBuilding;
using Xunit;

namespace KneeWeb.Tests.Inference;

/// <summary>Resident memory is process-wide: this collection runs alone, after the parallel ones.</summary>
[CollectionDefinition(nameof(MemoryMeasurementCollection), DisableParallelization = true)]
public sealed class MemoryMeasurementCollection;

[Collection(nameof(MemoryMeasurementCollection))]
[Trait("Category", "unit")]
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

        using var wrongOutput = new OrtFloatTensor(fixture.Runtime, 1, 10, 8, 32, 32);

        // Each run creates and frees a pinned input tensor, run options with a cancellation
        // registration, and (every other run) an output the runtime allocates: 640 KB per run,
        // so a leak of any of them would add hundreds of MB over the loop. Every 25th run fails
        // (an output of the wrong shape) and every 100th creates and disposes a session of its
        // own, so the error path and session teardown are counted too.
        void RunOnce(int n)
        {
            using var input = new OrtFloatTensor(fixture.Runtime, 1, 1, 16, 32, 32);
            input.Data.AsSpan().Fill(n % 7);
            if (n % 100 == 99)
            {
                using OrtSession own = OrtSession.Create(fixture.Runtime, path, new OrtSessionSettings { Provider = ExecutionProviderPreference.Cpu, IntraOpThreads = 1 });
                own.Run([input], [output], cancellation.Token);
            }
            else if (n % 25 == 24)
            {
                Assert.Throws<OrtException>(() => session.Run([input], [wrongOutput], cancellation.Token));
            }
            else if (n % 2 == 0)
            {
                session.Run([input], [output], cancellation.Token);
            }
            else
            {
                float[] result = session.Run(input, out long[] _, cancellation.Token);
                Assert.Equal(output.Data.Length, result.Length);
            }
        }

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
        Assert.True(growthMb < 16, $"native heap in use grew {growthMb:F1} MB over 1000 runs ({before / 1048576} MB -> {after / 1048576} MB)");
    }

    /// <summary>
    /// Bytes the C allocator has handed out and not had back (glibc mallinfo2: in-use heap plus
    /// mmapped blocks). ONNX Runtime allocates tensors, sessions and run options there, so a leak
    /// in the session wrapper or the package grows this; the managed heap and the rest of the suite's resident memory don't.
    /// </summary>
    private static long NativeResidentBytes()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        MallInfo2 info = mallinfo2();
        return (long)(info.Uordblks + info.Hblkhd);
    }

    [System.Runtime.InteropServices.StructLayout(System.Runtime.InteropServices.LayoutKind.Sequential)]
    private struct MallInfo2
    {
        public nuint Arena, Ordblks, Smblks, Hblks, Hblkhd, Usmblks, Fsmblks, Uordblks, Fordblks, Keepcost;
    }

#pragma warning disable SYSLIB1054, CA5392 // A libc entry point with a plain struct return; no marshalling to generate.
    [System.Runtime.InteropServices.DllImport("libc")]
    private static extern MallInfo2 mallinfo2();
#pragma warning restore SYSLIB1054, CA5392
}
