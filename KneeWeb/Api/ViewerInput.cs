using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using KneeWeb.Data;
using KneeWeb.Imaging.Io;
using KneeWeb.Pipeline;

namespace KneeWeb.Api;

/// <summary>
/// What the viewer reads of a job's upload: the image the job analysed. An upload that holds several DICOM
/// series is read with the series the job chose (else it would fail with "holds 2 series; choose one"),
/// and its NIfTI copy is named after that series so another choice never reuses it.
/// </summary>
public static class ViewerInput
{
    /// <summary>The read options for the job's analysed image (its chosen series, scratch beside the upload).</summary>
    public static VolumeReadOptions ReadOptions(Job job, string uploadPath)
    {
        ArgumentNullException.ThrowIfNull(job);
        return new VolumeReadOptions { WorkFolder = Path.GetDirectoryName(uploadPath), DicomSeries = ChosenSeries(job) };
    }

    /// <summary>Where the converted copy is kept: viewer.nii.gz, or viewer-series-{hash}.nii.gz for a chosen series.</summary>
    public static string ConvertedPath(Job job, string uploadPath)
    {
        ArgumentNullException.ThrowIfNull(job);
        string folder = Path.GetDirectoryName(uploadPath)!;
        string? series = ChosenSeries(job);
        if (series is null)
        {
            return Path.Combine(folder, "viewer.nii.gz");
        }

        string tag = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(series)))[..12];
        return Path.Combine(folder, $"viewer-series-{tag}.nii.gz");
    }

    /// <summary>The DICOM series the job was submitted with, or null (none chosen, or options that no longer parse).</summary>
    public static string? ChosenSeries(Job job)
    {
        ArgumentNullException.ThrowIfNull(job);
        try
        {
            PipelineOptions? options = JsonSerializer.Deserialize<PipelineOptions>(job.OptionsJson, UploadReceiver.OptionsJson);
            return string.IsNullOrWhiteSpace(options?.Series) ? null : options.Series;
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
