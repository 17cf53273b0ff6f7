using KneeWeb.Imaging.Io;
using KneeWeb.Inference;
using KneeWeb.Inference.NnUnet;
using KneeWeb.Pipeline;
using KneeWeb.Setup;
using Microsoft.Extensions.Options;

namespace KneeWeb.Api;

/// <summary>The outcome of an Admin's model action: what was done, or the catalog code and reason it was not.</summary>
public sealed record ModelAdminOutcome(bool Succeeded, string? Code, string Message, IReadOnlyList<string> Models)
{
    public static ModelAdminOutcome Failed(string code, string message) => new(false, code, message, []);
}

/// <summary>
/// Admin actions on the models folder, for the API and the Models page alike: import a zipped
/// nnU-Net trained folder (the command line's importer, under the upload caps and hostile-zip
/// rules) and switch models off and on. Each action is audited and reloads the registry.
/// </summary>
public sealed class ModelAdminService(SegmentationEngine engine, IOptions<KneeWebOptions> options, Security.AuditLog audit, ILogger<ModelAdminService> logger)
{
    private static readonly SemaphoreSlim OneImportAtATime = new(1, 1);
    private readonly KneeWebOptions settings = options.Value;

    /// <summary>Imports a zip read from <paramref name="upload"/> (at most MaxUploadBytes) as a model named <paramref name="name"/> (or the default name).</summary>
    public async Task<ModelAdminOutcome> ImportNnUnetZipAsync(Stream upload, string? name, string? user, string? remoteAddress, System.Security.Claims.ClaimsPrincipal? principal, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(upload);
        string work = Path.Combine(settings.UploadsPath, $"model-import-{Guid.NewGuid():N}");
        await OneImportAtATime.WaitAsync(ct);
        try
        {
            Directory.CreateDirectory(work);
            string zip = Path.Combine(work, "upload.zip");
            if (!await CopyCappedAsync(upload, zip, settings.MaxUploadBytes, ct))
            {
                return ModelAdminOutcome.Failed("CONFIG_ERROR", $"The zip is larger than the upload cap of {settings.MaxUploadBytes / 1e9:0.##} GB.");
            }

            var importOptions = new NnUnetImportOptions
            {
                TrainedFolder = work,
                OutputFolder = engine.ModelsFolder,
                Name = string.IsNullOrWhiteSpace(name) ? null : name.Trim(),
                ImportedBy = user,
                Runtime = engine.Runtime,
            };
            NnUnetImportResult result = await Task.Run(() => NnUnetArchiveImporter.Import(zip, work, importOptions, new VolumeReadOptions { MinFreeDiskBytes = settings.MinFreeDiskBytes, Cancellation = ct }), ct);
            engine.ReloadModels();
            string[] names = [.. result.Models.Select(m => m.Name)];
            await audit.RecordAsync(principal, remoteAddress, "model.import", target: string.Join(",", names), detail: string.Join("; ", result.Models.Select(m => $"{m.Name} sha256 {m.Sha256}")));
            return new ModelAdminOutcome(true, null, $"Imported {string.Join(", ", names)}.", names);
        }
        catch (NnUnetFormatException e)
        {
            return ModelAdminOutcome.Failed(NnUnetFormatException.ErrorCode, e.Message);
        }
        catch (NnUnetImportException e)
        {
            return ModelAdminOutcome.Failed(NnUnetImportException.ErrorCode, e.Message);
        }
        catch (Imaging.InsufficientDiskSpaceException e)
        {
            return ModelAdminOutcome.Failed("DISK_FULL", e.Message);
        }
        catch (IOException e)
        {
            logger.LogWarning(e, "Model import failed");
            return ModelAdminOutcome.Failed("CONFIG_ERROR", $"The model could not be written: {e.Message}");
        }
        finally
        {
            OneImportAtATime.Release();
            try
            {
                Directory.Delete(work, recursive: true);
            }
            catch (IOException)
            {
                // The work folder sits under uploads/, which retention sweeps.
            }
        }
    }

    /// <summary>Switches a model on or off (persisted beside the models; audited).</summary>
    public async Task<ModelAdminOutcome> SetEnabledAsync(string name, bool enabled, string? user, string? remoteAddress, System.Security.Claims.ClaimsPrincipal? principal)
    {
        ModelEntry? entry = engine.Registry.Find(name);
        if (entry is null)
        {
            return ModelAdminOutcome.Failed("FILE_NOT_FOUND", $"No model named {name}.");
        }

        ModelStates.Set(engine.ModelsFolder, name, enabled, user);
        engine.ReloadModels();
        await audit.RecordAsync(principal, remoteAddress, enabled ? "model.enable" : "model.disable", target: name);
        ModelEntry? now = engine.Registry.Find(name);
        return new ModelAdminOutcome(true, null, now is { Enabled: true } ? $"{name} is enabled." : $"{name} is disabled: {now?.DisabledReason}", [name]);
    }

    private static async Task<bool> CopyCappedAsync(Stream source, string path, long cap, CancellationToken ct)
    {
        await using var target = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, useAsync: true);
        byte[] buffer = new byte[1 << 16];
        long total = 0;
        int read;
        while ((read = await source.ReadAsync(buffer, ct)) > 0)
        {
            total += read;
            if (total > cap)
            {
                return false;
            }

            await target.WriteAsync(buffer.AsMemory(0, read), ct);
        }

        return true;
    }
}
