using System.Diagnostics;
using KneeWeb.Inference;
using Xunit;
using KneeWeb.Inference.ModelBuilding;
using KneeWeb.Inference.Native;

namespace KneeWeb.Tests.Inference;

public sealed class OrtBindingTests(InferenceFixture fixture) : IClassFixture<InferenceFixture>
{
    [Fact]
    public void Runtime_loads_the_npm_build_and_lists_the_cpu_provider()
    {
        OrtRuntime runtime = fixture.Runtime;
        Assert.Equal("1.30.0", runtime.Version);
        Assert.Contains("CPUExecutionProvider", runtime.AvailableProviders);
        Assert.Same(runtime, OrtRuntime.Load(null));
        Assert.False(runtime.IsCudaProviderPresent); // the npm install here skips the GPU download
    }

    [Fact]
    public void Session_reports_names_types_and_dynamic_shapes()
    {
        string path = fixture.Save(ModelBuilders.Affine(2f, 1f), "affine-info.onnx");
        using OrtSession session = OrtSession.Create(fixture.Runtime, path, new OrtSessionSettings { Provider = ExecutionProviderPreference.Cpu, IntraOpThreads = 1 });
        OrtTensorInfo input = Assert.Single(session.Inputs);
        OrtTensorInfo output = Assert.Single(session.Outputs);
        Assert.Equal("x", input.Name);
        Assert.Equal("y", output.Name);
        Assert.Equal(OnnxElementType.Float, input.ElementType);
        Assert.Equal(OnnxValueType.Tensor, output.ValueType);
        Assert.Equal(new long[] { -1, -1, -1, -1, -1 }, input.Shape);
        Assert.Equal(new[] { "N", "C", "K", "J", "I" }, input.SymbolicDimensions);
        Assert.Equal("cpu", session.ExecutionProvider);
    }

    [Fact]
    public void Run_writes_into_preallocated_pinned_tensors_and_into_new_arrays()
    {
        string path = fixture.Save(ModelBuilders.Affine(2f, 1f), "affine-run.onnx");
        using OrtSession session = OrtSession.Create(fixture.Runtime, path, new OrtSessionSettings { IntraOpThreads = 1 });
        using var input = new OrtFloatTensor(fixture.Runtime, 1, 1, 2, 3, 4);
        using var output = new OrtFloatTensor(fixture.Runtime, 1, 1, 2, 3, 4);
        for (int i = 0; i < input.Data.Length; i++)
        {
            input.Data[i] = i * 0.5f;
        }

        session.Run([input], [output]);
        for (int i = 0; i < input.Data.Length; i++)
        {
            Assert.Equal((i * 0.5f * 2f) + 1f, output.Data[i]);
        }

        float[] copy = session.Run(input, out long[] shape);
        Assert.Equal(new long[] { 1, 1, 2, 3, 4 }, shape);
        Assert.Equal(output.Data, copy);
    }

    [Fact]
    public void Auto_runs_on_cpu_and_says_why_when_the_cuda_library_is_absent()
    {
        string path = fixture.Save(ModelBuilders.Affine(1f, 0f), "affine-auto.onnx");
        using OrtSession session = OrtSession.Create(fixture.Runtime, path, new OrtSessionSettings { Provider = ExecutionProviderPreference.Auto });
        Assert.Equal("cpu", session.ExecutionProvider);
        Assert.Contains(OrtRuntime.CudaProviderLibraryName, session.ProviderNote, StringComparison.Ordinal);

        ModelConfigurationException error = Assert.Throws<ModelConfigurationException>(
            () => OrtSession.Create(fixture.Runtime, path, new OrtSessionSettings { Provider = ExecutionProviderPreference.Cuda }));
        Assert.Contains("CUDA", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public unsafe void Cuda_slot_of_the_function_table_answers_with_a_status_on_a_cpu_build()
    {
        // Calls table slot 152 directly: a wrong offset would crash or answer nonsense; the CPU
        // build answers with a failed status that names CUDA.
        OrtException error = Assert.Throws<OrtException>(AppendCuda);
        Assert.Contains("CUDA", error.NativeMessage, StringComparison.OrdinalIgnoreCase);

        static void AppendCuda()
        {
            using var options = new OrtSessionOptionsHandle();
            nint pointer;
            OrtNative.Check(OrtNative.Api->CreateSessionOptions(&pointer));
            options.Attach(pointer);
            OrtCudaProviderOptions cuda = OrtCudaProviderOptions.Defaults(0);
            OrtNative.Check(OrtNative.Api->SessionOptionsAppendExecutionProvider_CUDA(pointer, &cuda));
        }
    }

    [Fact]
    public void A_broken_model_file_is_an_ort_exception_with_the_native_code()
    {
        string path = Path.Combine(fixture.Folder, "broken.onnx");
        File.WriteAllBytes(path, [1, 2, 3, 4, 5, 6, 7]);
        OrtException error = Assert.Throws<OrtException>(() => OrtSession.Create(fixture.Runtime, path));
        Assert.NotEqual(OrtErrorCode.Ok, error.Code);
        Assert.False(string.IsNullOrEmpty(error.NativeMessage));
    }

    [Fact]
    public void A_cancelled_token_terminates_a_running_model()
    {
        string path = fixture.Save(ModelBuilders.UNet3d(1, 3, [16, 32, 64], [[1, 1, 1], [2, 2, 2], [2, 2, 2]]), "unet-cancel.onnx");
        using OrtSession session = OrtSession.Create(fixture.Runtime, path, new OrtSessionSettings { Provider = ExecutionProviderPreference.Cpu, IntraOpThreads = 1 });
        using var input = new OrtFloatTensor(fixture.Runtime, 1, 1, 64, 64, 64);
        using var output = new OrtFloatTensor(fixture.Runtime, 1, 3, 64, 64, 64);
        // Warm up first: the first run pays for lazy initialisation and would overstate a run's length.
        session.Run([input], [output]);
        var stopwatch = Stopwatch.StartNew();
        session.Run([input], [output]);
        TimeSpan full = stopwatch.Elapsed;
        Assert.True(full > TimeSpan.FromMilliseconds(100), $"the model ran in {full.TotalMilliseconds:F0} ms, too fast to cancel mid-run");

        // Cancel early in the run (at most 50 ms in), so a run that happens to go faster than the measured one is still cut.
        using var cancellation = new CancellationTokenSource(TimeSpan.FromMilliseconds(Math.Min(full.TotalMilliseconds / 10, 50)));
        stopwatch.Restart();
        Assert.ThrowsAny<OperationCanceledException>(() => session.Run([input], [output], cancellation.Token));
        Assert.True(stopwatch.Elapsed < full * 0.8, $"cancelled run took {stopwatch.Elapsed.TotalMilliseconds:F0} ms of a {full.TotalMilliseconds:F0} ms run");

        using var already = new CancellationTokenSource();
        already.Cancel();
        Assert.ThrowsAny<OperationCanceledException>(() => session.Run([input], [output], already.Token));
    }
}
