using KneeWeb.Imaging;
using KneeWeb.Inference;
using KneeWeb.Jobs;
using KneeWeb.Pipeline;
using Xunit;

namespace KneeWeb.Tests.Jobs;

/// <summary>Every catalog code: a message and hint a person can act on, and the typed failure that produces it.</summary>
[Trait("Category", "unit")]
public sealed class ErrorCatalogTests
{
    public static TheoryData<ErrorCode, Exception> Failures => new()
    {
        { ErrorCode.GPU_OOM, new GpuOutOfMemoryException("CUDA out of memory at batch 1") },
        { ErrorCode.TIMEOUT, new TimeoutException("dcm2niix did not finish") },
        { ErrorCode.INVALID_FORMAT, new InvalidImageException("NIfTI-1", "dim[1]", "0", "a dimension is zero") },
        { ErrorCode.FILE_NOT_FOUND, new FileNotFoundException("gone", "/data/uploads/x/input.nii.gz") },
        { ErrorCode.DICOM_ERROR, new DicomSeriesException("The zip holds 3 series") },
        { ErrorCode.SEGMENTATION_FAILED, new InferenceFailedException("Run failed") },
        { ErrorCode.NSM_FAILED, new JobFailureException(ErrorCode.NSM_FAILED, "The latent fit diverged") },
        { ErrorCode.CONFIG_ERROR, new InvalidJobOptionsException("Frame 3 was asked for, but the image has 1 frame(s).") },
        { ErrorCode.PIPELINE_ERROR, new InvalidOperationException("unexpected state") },
        { ErrorCode.CANCELLED, new OperationCanceledException() },
    };

    [Theory]
    [MemberData(nameof(Failures))]
    public void Each_typed_failure_maps_to_its_code_with_message_hint_and_details(ErrorCode expected, Exception failure)
    {
        JobError error = ErrorMapper.Map(failure, "Preprocessing image");
        Assert.Equal(expected, error.Code);
        Assert.Equal(expected.ToString(), error.CodeName);
        Assert.False(string.IsNullOrWhiteSpace(error.Message));
        Assert.False(string.IsNullOrWhiteSpace(error.Hint));
        Assert.Contains("Preprocessing image", error.Details, StringComparison.Ordinal);
        Assert.Contains(failure.GetType().Name, error.Details, StringComparison.Ordinal);
    }

    [Fact]
    public void Every_code_of_the_design_is_in_the_catalog_with_distinct_words()
    {
        string[] design = ["GPU_OOM", "TIMEOUT", "INVALID_FORMAT", "FILE_NOT_FOUND", "DICOM_ERROR", "SEGMENTATION_FAILED", "NSM_FAILED", "CONFIG_ERROR", "PIPELINE_ERROR", "CANCELLED"];
        Assert.Equal(design.Order(), ErrorCatalog.All.Select(e => e.Code.ToString()).Order());
        Assert.Equal(design.Length, ErrorCatalog.All.Select(e => e.Message).Distinct().Count());
        Assert.Equal(design.Length, ErrorCatalog.All.Select(e => e.Hint).Distinct().Count());
        Assert.All(ErrorCatalog.All, e => Assert.EndsWith(".", e.Message, StringComparison.Ordinal));
    }

    [Fact]
    public void A_step_failure_is_mapped_by_its_cause_and_names_the_step()
    {
        var step = new PipelineStepException(KneeSteps.Segment, new GpuOutOfMemoryException("out of memory"));
        JobError error = ErrorMapper.Map(step, null);
        Assert.Equal(ErrorCode.GPU_OOM, error.Code);
        Assert.StartsWith("Step 'Running segmentation'", error.Details, StringComparison.Ordinal);
    }

    [Fact]
    public void The_user_message_carries_the_specific_reason_for_format_errors()
    {
        JobError error = ErrorMapper.Map(new InvalidImageException("NRRD", "sizes", "-4", "a size is negative"), null);
        Assert.Contains("sizes = -4", error.Message, StringComparison.Ordinal);
    }
}
