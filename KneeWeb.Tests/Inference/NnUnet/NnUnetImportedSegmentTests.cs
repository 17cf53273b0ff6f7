using KneeWeb.Cli;
using KneeWeb.Inference.NnUnet;
using KneeWeb.Tests.TestData;
using Xunit;

namespace KneeWeb.Tests.Inference.NnUnet;

/// <summary>
/// The fixture folders imported with the importer (`models import-nnunet`'s code path), then
/// `KneeWeb segment`, against the independent numpy port of nnU-Net's predictor: both network
/// classes, a transpose, separate z, masked and CT normalisation, padding, the cascade, mirroring off and on.
/// </summary>
[Trait("Category", "unit")]
public sealed class NnUnetImportedSegmentTests : IDisposable
{
    private readonly TempFolder models = new("kneeweb-nnunet-imported");

    public void Dispose() => models.Dispose();

    [Theory]
    [InlineData("Dataset701_KneeSynonyms/nnUNetTrainer__nnUNetPlans__3d_fullres", "aniso", "synonyms-fullres", "off")]
    [InlineData("Dataset701_KneeSynonyms/nnUNetTrainer__nnUNetPlans__3d_fullres", "aniso", "synonyms-fullres", "on")]
    [InlineData("Dataset702_KneeCascade/nnUNetTrainer__nnUNetResEncUNetMPlans__3d_cascade_fullres", "ct", "cascade-fullres", "off")]
    [InlineData("Dataset702_KneeCascade/nnUNetTrainer__nnUNetResEncUNetMPlans__3d_cascade_fullres", "ct", "cascade-fullres", "on")]
    [InlineData("Dataset703_KneeOldPlans/nnUNetTrainer__nnUNetPlans__3d_fullres", "twochan", "oldplans-fullres", "off")]
    [InlineData("Dataset703_KneeOldPlans/nnUNetTrainer__nnUNetPlans__3d_fullres", "twochan", "oldplans-fullres", "on")]
    public async Task An_imported_folder_segments_like_the_reference(string folder, string imageCase, string referenceModel, string mirroring)
    {
        string trained = Path.GetDirectoryName(TestFiles.PathOf($"NnUnet/{folder}/plans.json"))!;
        NnUnetImportResult imported = NnUnetImporter.Import(new NnUnetImportOptions { TrainedFolder = trained, OutputFolder = models.Path });
        NnUnetImportedModel model = imported.Models.Single(m => m.Sidecar.NnUnet is not null && (imported.Models.Count == 1 || m.Sidecar.NnUnet.PreviousStage is not null));

        string image = TestFiles.PathOf($"NnUnet/reference/{imageCase}.nii.gz");
        string output = models.File($"{imageCase}-{mirroring}.nii.gz");
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        int code = await SegmentCommand.RunAsync(image, model.Name, "cpu", mirroring == "on" ? "model" : "off", output, models.Path, stdout, stderr, CancellationToken.None);
        Assert.True(code == 0, stderr.ToString());
        NnUnetReferenceTests.AssertAgrees(imageCase, model.Name, mirroring, image, output, model.SidecarPath, referenceModel);
    }
}
