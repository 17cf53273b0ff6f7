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
        { ErrorCode.IMAGE_TOO_LARGE, new ImageTooLargeException("would need about 31.4 GB of memory; one job may use 20.0 GB", 31_400_000_000, 20_000_000_000) },
        { ErrorCode.DISK_FULL, new IOException("No space left on device : '/srv/kneeweb/data/jobs/x.tmp-1/segmentation.nii.gz'", 28) },
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
        string[] design = ["GPU_OOM", "TIMEOUT", "INVALID_FORMAT", "FILE_NOT_FOUND", "DICOM_ERROR", "SEGMENTATION_FAILED", "NSM_FAILED", "CONFIG_ERROR", "PIPELINE_ERROR", "CANCELLED", "RATE_LIMITED", "IMAGE_TOO_LARGE", "DISK_FULL"];
        Assert.Equal(design.Order(), ErrorCatalog.All.Select(e => e.Code.ToString()).Order());
        Assert.Equal(design.Length, ErrorCatalog.All.Select(e => e.Message).Distinct().Count());
        Assert.Equal(design.Length, ErrorCatalog.All.Select(e => e.Hint).Distinct().Count());
        Assert.All(ErrorCatalog.All, e => Assert.EndsWith(".", e.Message, StringComparison.Ordinal));
    }

    [Fact]
    public void RATE_LIMITED_tells_a_person_to_wait_and_where_the_limits_are_set()
    {
        ErrorEntry entry = ErrorCatalog.Get(ErrorCode.RATE_LIMITED);
        Assert.Contains("Too many requests", entry.Message, StringComparison.Ordinal);
        Assert.Contains("Retry-After", entry.Hint, StringComparison.Ordinal);
        Assert.Contains("KneeWeb:Limits", entry.Hint, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("Could not find file '/srv/kneeweb/data/uploads/3f2504e0/input.nii.gz'.", "Could not find file 'input.nii.gz'.")]
    [InlineData("dcm2niix failed in /tmp/kneeweb-dicom-1234/series: no images", "dcm2niix failed in series: no images")]
    [InlineData("The folder /var/lib/kneeweb/jobs/ is full.", "The folder (a server folder) is full.")]
    [InlineData("See /v1/jobs/3f2504e0/artifacts for the files.", "See /v1/jobs/3f2504e0/artifacts for the files.")]
    [InlineData("Open /jobs to see it.", "Open /jobs to see it.")]
    [InlineData("dim[1] is 0 and 1/2 of the header is blank", "dim[1] is 0 and 1/2 of the header is blank")]
    [InlineData("https://kneeweb.example/jobs/x stays", "https://kneeweb.example/jobs/x stays")]
    public void User_messages_show_file_names_not_server_paths(string message, string shown) =>
        Assert.Equal(shown, ErrorCatalog.HidePaths(message));

    [Fact]
    public void A_mapped_failure_keeps_the_path_for_admins_only()
    {
        JobError error = ErrorMapper.Map(new FileNotFoundException("Could not find file '/srv/kneeweb/data/uploads/abc/input.nii.gz'.", "/srv/kneeweb/data/uploads/abc/input.nii.gz"), "Loading");
        JobError created = ErrorCatalog.Create(ErrorCode.FILE_NOT_FOUND, error.Details, "Could not find file '/srv/kneeweb/data/uploads/abc/input.nii.gz'.");
        Assert.DoesNotContain("/srv/", created.Message, StringComparison.Ordinal);
        Assert.Contains("input.nii.gz", created.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("/srv/", error.Message, StringComparison.Ordinal);
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

    [Fact]
    public void A_full_disk_is_DISK_FULL_wherever_it_surfaced_and_never_shows_the_server_path()
    {
        var sqliteFull = new Microsoft.EntityFrameworkCore.DbUpdateException("An error occurred while saving the entity changes.",
            new Microsoft.Data.Sqlite.SqliteException("SQLite Error 13: 'database or disk is full'.", 13));
        var ownReserve = new InsufficientDiskSpaceException("Writing stopped at 12 MB: the server's disk would fall below its free-space reserve of 1.00 GB.");
        var enospc = new IOException("No space left on device : '/srv/kneeweb/data/uploads/1/input.nii.gz'", 28);
        foreach (Exception failure in new Exception[] { sqliteFull, ownReserve, enospc, new PipelineStepException(KneeSteps.Save, enospc) })
        {
            JobError error = ErrorMapper.Map(failure, "Saving results");
            Assert.Equal(ErrorCode.DISK_FULL, error.Code);
            Assert.DoesNotContain("/srv/kneeweb", error.Message + error.Details, StringComparison.Ordinal);
        }

        Assert.Contains("free-space reserve", ErrorMapper.Map(ownReserve, null).Message, StringComparison.Ordinal);
        Assert.False(DiskFull.Is(new IOException("The process cannot access the file because it is being used", 11)));
        Assert.False(DiskFull.Is(new Microsoft.Data.Sqlite.SqliteException("SQLite Error 5: 'database is locked'.", 5)));
    }

    [Fact]
    public void Image_too_large_carries_the_estimate_and_the_budget_in_the_message()
    {
        JobError error = ErrorMapper.Map(new ImageTooLargeException("The image would need about 31.4 GB of memory to analyse; one job may use 20.0 GB on this server.", 31_400_000_000, 20_000_000_000), null);
        Assert.Equal(ErrorCode.IMAGE_TOO_LARGE, error.Code);
        Assert.Contains("31.4 GB", error.Message, StringComparison.Ordinal);
        Assert.Contains("20.0 GB", error.Message, StringComparison.Ordinal);
        Assert.Contains("MaxJobMemoryBytes", error.Hint, StringComparison.Ordinal);
    }
}
