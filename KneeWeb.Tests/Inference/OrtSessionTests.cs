using KneeWeb.Inference;
using KneeWeb.Inference.ModelBuilding;
using KneeWeb.Jobs;
using Xunit;
using Ort = Microsoft.ML.OnnxRuntime;

namespace KneeWeb.Tests.Inference;

/// <summary>
/// OrtRuntime and OrtSession over the official package (Microsoft.ML.OnnxRuntime, or the GPU
/// build with -p:KneeWebOnnxRuntime=gpu: every test holds for both on a machine without a GPU).
/// </summary>
[Trait("Category", "unit")]
public sealed class OrtSessionTests(InferenceFixture fixture) : IClassFixture<InferenceFixture>
{
    [Fact]
    public void Runtime_loads_the_package_library_from_beside_the_build_output()
    {
        OrtRuntime runtime = fixture.Runtime;
        Assert.Equal("1.32.0", runtime.Version);
        Assert.Contains("CPUExecutionProvider", runtime.AvailableProviders);
        Assert.Same(runtime, OrtRuntime.Load());
        Assert.Same(runtime, OrtRuntime.Current);

        // `dotnet build` alone put the library there: no npm package, no path setting.
        Assert.True(File.Exists(runtime.LibraryPath), runtime.LibraryPath);
        Assert.StartsWith(Path.GetFullPath(AppContext.BaseDirectory), runtime.LibraryPath, StringComparison.Ordinal);

        // The CUDA provider library is there exactly when the build lists CUDA (the GPU package).
        Assert.Equal(runtime.AvailableProviders.Contains("CUDAExecutionProvider"), runtime.IsCudaProviderPresent);
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
        Assert.Equal(InferenceProvider.Cpu, session.ExecutionProvider);
        Assert.Null(session.ProviderNote);
    }

    [Fact]
    public void Run_writes_into_preallocated_pinned_tensors_and_into_new_arrays()
    {
        string path = fixture.Save(ModelBuilders.Affine(2f, 1f), "affine-run.onnx");
        using OrtSession session = OrtSession.Create(fixture.Runtime, path, new OrtSessionSettings { Provider = ExecutionProviderPreference.Cpu, IntraOpThreads = 1 });
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

        // The same tensor refilled: the runtime reads the pinned array itself, not a copy made at creation.
        input.Data.AsSpan().Fill(3f);
        float[] copy = session.Run(input, out long[] shape);
        Assert.Equal(new long[] { 1, 1, 2, 3, 4 }, shape);
        Assert.All(copy, v => Assert.Equal(7f, v));
    }

    [Theory]
    [InlineData(ExecutionProviderPreference.Auto)]
    [InlineData(ExecutionProviderPreference.Cuda)]
    public void Cuda_that_cannot_be_used_fails_over_to_the_cpu_with_the_reason(ExecutionProviderPreference preference)
    {
        string path = fixture.Save(ModelBuilders.Affine(2f, 0f), $"affine-{preference}.onnx");
        using OrtSession session = OrtSession.Create(fixture.Runtime, path, new OrtSessionSettings { Provider = preference, IntraOpThreads = 1 });
        if (session.ExecutionProvider == InferenceProvider.Cuda)
        {
            // A GPU server with CUDA 13 and cuDNN 9: nothing to fail over from.
            Assert.True(fixture.Runtime.IsCudaProviderPresent);
            Assert.Null(session.ProviderNote);
            return;
        }

        Assert.Equal(InferenceProvider.Cpu, session.ExecutionProvider);
        Assert.NotNull(session.ProviderNote);
        Assert.Contains("running on CPU", session.ProviderNote, StringComparison.Ordinal);
        if (fixture.Runtime.IsCudaProviderPresent)
        {
            // The GPU build without CUDA: the note carries the runtime's reason, naming the missing library.
            Assert.Contains(".so", session.ProviderNote, StringComparison.Ordinal);
            Assert.Contains("CUDA 13", session.ProviderNote, StringComparison.Ordinal);
        }
        else
        {
            Assert.Contains(OrtRuntime.CudaProviderLibraryName, session.ProviderNote, StringComparison.Ordinal);
        }

        // And the session that failed over still computes.
        using var input = new OrtFloatTensor(fixture.Runtime, 1, 1, 1, 2, 2);
        input.Data.AsSpan().Fill(1.5f);
        Assert.All(session.Run(input, out _), v => Assert.Equal(3f, v));
    }

    [Fact]
    public void The_package_reports_a_missing_cuda_as_a_catchable_exception_naming_cuda()
    {
        // What the fail-over relies on: adding CUDA where it cannot load throws, it does not abort the process.
        if (fixture.Runtime.IsCudaProviderPresent && File.Exists("/dev/nvidiactl"))
        {
            return; // a GPU machine with the GPU build: adding CUDA may succeed
        }

        using var options = new Ort.SessionOptions();
        Ort.OnnxRuntimeException error = Assert.Throws<Ort.OnnxRuntimeException>(() => OrtSession.AddCuda(options, 0));
        Assert.Contains("cuda", error.Message, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void A_broken_model_file_is_an_ort_exception_with_the_runtime_code_and_maps_to_the_catalog()
    {
        string path = Path.Combine(fixture.Folder, "broken.onnx");
        File.WriteAllBytes(path, [1, 2, 3, 4, 5, 6, 7]);
        OrtException error = Assert.Throws<OrtException>(() => OrtSession.Create(fixture.Runtime, path, new OrtSessionSettings { Provider = ExecutionProviderPreference.Cpu }));
        Assert.Equal(OrtErrorCode.InvalidProtobuf, error.Code);
        Assert.False(string.IsNullOrEmpty(error.NativeMessage));
        Assert.DoesNotContain("[ErrorCode:", error.NativeMessage, StringComparison.Ordinal);
        Assert.IsType<Ort.OnnxRuntimeException>(error.InnerException);
        Assert.Equal(ErrorCode.SEGMENTATION_FAILED, ErrorMapper.Map(error, "Segmentation").Code);
    }

    [Fact]
    public void A_failed_run_is_an_ort_exception_and_the_session_stays_usable()
    {
        // Two inputs of different shapes into an elementwise Add: the runtime refuses the run.
        string path = fixture.Save(ModelBuilders.Affine(1f, 0f), "affine-badrun.onnx");
        using OrtSession session = OrtSession.Create(fixture.Runtime, path, new OrtSessionSettings { Provider = ExecutionProviderPreference.Cpu, IntraOpThreads = 1 });
        using var input = new OrtFloatTensor(fixture.Runtime, 1, 1, 2, 2, 2);
        using var wrongOutput = new OrtFloatTensor(fixture.Runtime, 1, 1, 3, 3, 3);
        OrtException error = Assert.Throws<OrtException>(() => session.Run([input], [wrongOutput]));
        Assert.NotEqual(OrtErrorCode.Ok, error.Code);
        Assert.False(error.IsOutOfMemory);

        input.Data.AsSpan().Fill(2f);
        Assert.All(session.Run(input, out _), v => Assert.Equal(2f, v));
    }

    [Theory]
    [InlineData("[ErrorCode:RuntimeException] CUDA failure 2: out of memory", OrtErrorCode.RuntimeException, "CUDA failure 2: out of memory")]
    [InlineData("[ErrorCode:InvalidProtobuf] Load model failed", OrtErrorCode.InvalidProtobuf, "Load model failed")]
    [InlineData("[ErrorCode:ShapeInferenceNotRegistered] provider failed", OrtErrorCode.EpFail, "provider failed")]
    [InlineData("[ErrorCode:SomethingNew] text", OrtErrorCode.Fail, "text")]
    [InlineData("no prefix at all", OrtErrorCode.Fail, "no prefix at all")]
    public void Package_messages_give_back_the_code_and_the_runtime_text(string message, OrtErrorCode code, string text)
    {
        (OrtErrorCode parsedCode, string parsedText) = OrtErrors.Parse(message);
        Assert.Equal(code, parsedCode);
        Assert.Equal(text, parsedText);
    }

    [Fact]
    public void A_cancelled_token_terminates_a_running_model()
    {
        string path = fixture.Save(ModelBuilders.UNet3d(1, 3, [16, 32, 64], [[1, 1, 1], [2, 2, 2], [2, 2, 2]]), "unet-cancel.onnx");
        using OrtSession session = OrtSession.Create(fixture.Runtime, path, new OrtSessionSettings { Provider = ExecutionProviderPreference.Cpu, IntraOpThreads = 1 });
        using var input = new OrtFloatTensor(fixture.Runtime, 1, 1, 96, 96, 96);
        using var output = new OrtFloatTensor(fixture.Runtime, 1, 3, 96, 96, 96);
        input.Data.AsSpan().Fill(0.25f);
        session.Run([input], [output]);
        float[] expected = (float[])output.Data.Clone();

        // The proof that the native run itself was stopped is the runtime's own terminate error
        // under the cancellation. A cancel that lands before the run starts (a thread starved on a
        // loaded machine) is still a cancellation, just not this proof: try again then.
        OperationCanceledException? terminated = null;
        for (int attempt = 0; attempt < 5 && terminated is null; attempt++)
        {
            using var cancellation = new CancellationTokenSource(TimeSpan.FromMilliseconds(30));
            OperationCanceledException cancelled = Assert.ThrowsAny<OperationCanceledException>(() => session.Run([input], [output], cancellation.Token));
            if (cancelled.InnerException is Ort.OnnxRuntimeException)
            {
                terminated = cancelled;
            }
        }

        Assert.NotNull(terminated);
        Assert.Contains("terminate", terminated.InnerException!.Message, StringComparison.OrdinalIgnoreCase);

        using var already = new CancellationTokenSource();
        already.Cancel();
        Assert.ThrowsAny<OperationCanceledException>(() => session.Run([input], [output], already.Token));

        // Terminate belongs to the one run: the next run completes and gives the same result.
        output.Data.AsSpan().Clear();
        session.Run([input], [output], CancellationToken.None);
        Assert.Equal(expected, output.Data);
    }
}
