using System.IO.Compression;
using KneeWeb.Imaging.Io;
using KneeWeb.Inference;
using KneeWeb.Inference.NnUnet;
using KneeWeb.Tests.TestData;
using Xunit;

namespace KneeWeb.Tests.Inference.NnUnet;

/// <summary>The Models page's path: a zipped trained folder through the upload's zip rules, and Admin switches.</summary>
[Trait("Category", "unit")]
public sealed class NnUnetArchiveImportTests(InferenceFixture fixture) : IClassFixture<InferenceFixture>
{
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void A_zipped_trained_folder_imports_with_or_without_its_dataset_folder(bool withDatasetFolder)
    {
        using var temp = new TempFolder("nnunet-zip");
        string trained = NnUnetFixtures.Folder(NnUnetFixtures.OldPlans);
        string zip = temp.File("upload.zip");
        using (ZipArchive archive = ZipFile.Open(zip, ZipArchiveMode.Create))
        {
            foreach (string file in Directory.EnumerateFiles(trained, "*", SearchOption.AllDirectories))
            {
                string relative = Path.GetRelativePath(withDatasetFolder ? Path.GetDirectoryName(trained)! : trained, file);
                archive.CreateEntryFromFile(file, withDatasetFolder ? $"Dataset703_KneeOldPlans/{relative}" : $"{Path.GetFileName(trained)}/{relative}");
            }
        }

        string models = Path.Combine(temp.Path, "models");
        string work = Path.Combine(temp.Path, "work");
        NnUnetImportResult result = NnUnetArchiveImporter.Import(zip, work, new NnUnetImportOptions { TrainedFolder = work, OutputFolder = models, Runtime = fixture.Runtime }, new VolumeReadOptions());

        Assert.Equal("dataset703-kneeoldplans-3d-fullres", Assert.Single(result.Models).Name);
        Assert.True(new ModelRegistry(models, fixture.Runtime).Find("dataset703-kneeoldplans-3d-fullres")!.Enabled);
    }

    [Fact]
    public void A_zip_climbing_out_of_its_folder_is_refused_and_nothing_is_imported()
    {
        using var temp = new TempFolder("nnunet-zip-evil");
        string zip = temp.File("evil.zip");
        using (ZipArchive archive = ZipFile.Open(zip, ZipArchiveMode.Create))
        {
            using StreamWriter writer = new(archive.CreateEntry("../outside/plans.json").Open());
            writer.Write("{}");
        }

        string models = Path.Combine(temp.Path, "models");
        string work = Path.Combine(temp.Path, "work");
        NnUnetFormatException e = Assert.Throws<NnUnetFormatException>(() => NnUnetArchiveImporter.Import(zip, work, new NnUnetImportOptions { TrainedFolder = work, OutputFolder = models }, new VolumeReadOptions()));
        Assert.Contains("..", e.Message, StringComparison.Ordinal);
        Assert.False(Directory.Exists(models));
    }

    [Fact]
    public void A_model_switched_off_by_an_admin_is_listed_disabled_with_who_and_can_be_switched_on()
    {
        using var temp = new TempFolder("nnunet-switch");
        NnUnetImporter.Import(new NnUnetImportOptions { TrainedFolder = NnUnetFixtures.Folder(NnUnetFixtures.OldPlans), OutputFolder = temp.Path, Name = "knee" });

        ModelStates.Set(temp.Path, "knee", enabled: false, "admin-ann");
        ModelEntry off = new ModelRegistry(temp.Path).Find("knee")!;
        Assert.False(off.Enabled);
        Assert.True(off.SwitchedOff);
        Assert.Contains("switched off by an Admin (admin-ann", off.DisabledReason, StringComparison.Ordinal);

        ModelStates.Set(temp.Path, "knee", enabled: true, "admin-bob");
        ModelEntry on = new ModelRegistry(temp.Path).Find("knee")!;
        Assert.True(on.Enabled, on.DisabledReason);
        Assert.Single(new ModelRegistry(temp.Path).Models);
    }
}
