using KneeWeb.Cli;
using KneeWeb.Imaging;
using KneeWeb.Imaging.Io;
using KneeWeb.Inference;
using KneeWeb.Tests.TestData;
using Xunit;

namespace KneeWeb.Tests.Inference.NnUnet;

/// <summary>The fixture folders imported once with KneeWeb's importer, as `models import-nnunet` would.</summary>
public sealed class ImportedNnUnetModels : IDisposable
{
    public ImportedNnUnetModels()
    {
        NnUnetFixtures.Import(NnUnetFixtures.Plain, Models.Path, "synonyms-fullres");
        NnUnetFixtures.Import(NnUnetFixtures.Cascade, Models.Path, "cascade-fullres");
        NnUnetFixtures.Import(NnUnetFixtures.OldPlans, Models.Path, "oldplans-fullres");
    }

    public TempFolder Models { get; } = new("kneeweb-nnunet-imported");

    /// <summary>The registry name of the imported model that the reference calls <paramref name="referenceModel"/>.</summary>
    public static string NameOf(string referenceModel) => referenceModel == "cascade-lowres" ? "cascade-fullres-3d-lowres" : referenceModel;

    public void Dispose() => Models.Dispose();
}

/// <summary>
/// End to end: the fixture folders imported with KneeWeb's importer, then `KneeWeb segment` (in
/// process), against the independent numpy port of nnU-Net's predictor
/// (scripts/nnunet/reference_predict.py): both network classes, a transpose, separate z, masked and
/// CT normalisation, padding, the cascade (and its low-res stage alone), two channels and old
/// plans, and a file whose pixdim disagrees with its sform (nnU-Net's readers take pixdim), mirroring
/// off and on. Labels compared in schema labels through each imported model's sidecar.
/// </summary>
[Trait("Category", "unit")]
public sealed class NnUnetReferenceTests(ImportedNnUnetModels imported) : IClassFixture<ImportedNnUnetModels>
{
    [Theory]
    [InlineData("aniso", "synonyms-fullres", "off")]
    [InlineData("aniso", "synonyms-fullres", "on")]
    [InlineData("pixdim", "synonyms-fullres", "off")]
    [InlineData("pixdim", "synonyms-fullres", "on")]
    [InlineData("ct", "cascade-lowres", "off")]
    [InlineData("ct", "cascade-lowres", "on")]
    [InlineData("ct", "cascade-fullres", "off")]
    [InlineData("ct", "cascade-fullres", "on")]
    [InlineData("twochan", "oldplans-fullres", "off")]
    [InlineData("twochan", "oldplans-fullres", "on")]
    public async Task Segment_agrees_with_the_reference_predictor(string imageCase, string referenceModel, string mirroring)
    {
        string model = ImportedNnUnetModels.NameOf(referenceModel);
        string image = TestFiles.PathOf($"NnUnet/reference/{imageCase}.nii.gz");
        using var outputs = new TempFolder("kneeweb-nnunet-segment");
        string output = outputs.File($"{imageCase}-{model}-{mirroring}.nii.gz");
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        int code = await SegmentCommand.RunAsync(image, model, "cpu", mirroring == "on" ? "model" : "off", output, imported.Models.Path, stdout, stderr, CancellationToken.None);
        Assert.True(code == 0, stderr.ToString());

        AssertAgrees(imageCase, mirroring, image, output, imported.Models.File($"{model}.json"), referenceModel);
    }

    [Fact]
    public void The_pixdim_case_really_disagrees_with_its_sform()
    {
        // Guards the fixture: were pixdim and the sform's columns equal, the test above would not tell them apart.
        Volume image = VolumeIo.Read(TestFiles.PathOf("NnUnet/reference/pixdim.nii.gz"));
        Vec3d header = image.Metadata!.HeaderSpacingMm!.Value;
        Vec3d affine = image.Geometry.SpacingMm;
        Assert.Equal(1.8, header.X, 5);
        Assert.Equal(0.7, header.Y, 5);
        Assert.Equal(0.45, header.Z, 5);
        Assert.Equal(2.5, affine.X, 4);
        Assert.Equal(0.6, affine.Y, 4);
        Assert.Equal(0.55, affine.Z, 4);
    }

    /// <summary>
    /// Our labels against the reference (nnU-Net label values mapped to the schema by the model's
    /// sidecar): at least 99.8 % of voxels agree, and every label the reference holds has Dice >= 0.99.
    /// </summary>
    internal static void AssertAgrees(string imageCase, string mirroring, string image, string output, string sidecarPath, string referenceModel)
    {
        Volume input = VolumeIo.Read(image);
        Volume labels = VolumeIo.Read(output);
        Assert.Equal(input.Dims, labels.Dims);
        Assert.True(input.Geometry.IndexToRas.ApproximatelyEquals(labels.Geometry.IndexToRas, 1e-4), "the labels are not in the input's geometry");

        ModelSidecar sidecar = ModelSidecar.Parse(File.ReadAllText(sidecarPath));
        byte[] expected = VolumeIo.Read(TestFiles.PathOf($"NnUnet/reference/{imageCase}__{referenceModel}__mirror_{mirroring}.nii.gz")).ToFloat32()
            .Select(v => (byte)sidecar.Labels![((int)v).ToString(System.Globalization.CultureInfo.InvariantCulture)]).ToArray();
        float[] actual = labels.ToFloat32();
        int agree = 0;
        var counts = new Dictionary<int, (int Expected, int Actual, int Both)>();
        for (int v = 0; v < expected.Length; v++)
        {
            int e = expected[v], a = (int)actual[v];
            agree += e == a ? 1 : 0;
            counts[e] = counts.GetValueOrDefault(e) with { Expected = counts.GetValueOrDefault(e).Expected + 1 };
            counts[a] = counts.GetValueOrDefault(a) with { Actual = counts.GetValueOrDefault(a).Actual + 1 };
            if (e == a)
            {
                counts[e] = counts[e] with { Both = counts[e].Both + 1 };
            }
        }

        double agreement = (double)agree / expected.Length;
        string where = $"{imageCase}/{referenceModel}/mirror {mirroring}";
        string table = string.Join(", ", counts.OrderBy(c => c.Key).Select(c => $"{c.Key}: {c.Value.Expected} ref / {c.Value.Actual} ours / {c.Value.Both} both"));
        Assert.True(agreement >= 0.998, $"{where}: {agreement:P3} of voxels agree ({table})");
        Assert.True(counts.Count(c => c.Value.Expected > 0) >= 3, $"{where}: the reference holds fewer than three labels, too few to test anything ({table})");
        foreach ((int label, (int e, int a, int both)) in counts)
        {
            if (e > 0)
            {
                double dice = 2.0 * both / (e + a);
                Assert.True(dice >= 0.99, $"{where}: label {label} Dice {dice:F4} ({e} reference voxels, {a} ours; {table})");
            }
        }
    }

    [Fact]
    public async Task Segment_reports_catalog_errors()
    {
        using var outputs = new TempFolder("kneeweb-nnunet-errors");
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        string image = TestFiles.PathOf("NnUnet/reference/ct.nii.gz");
        string lowres = ImportedNnUnetModels.NameOf("cascade-lowres");
        Assert.Equal(CliErrors.ExitFailure, await SegmentCommand.RunAsync(image, "no-such-model", "cpu", "model", outputs.File("x.nii.gz"), imported.Models.Path, stdout, stderr, CancellationToken.None));
        Assert.Contains("CONFIG_ERROR", stderr.ToString(), StringComparison.Ordinal);
        Assert.Equal(CliErrors.ExitFailure, await SegmentCommand.RunAsync(image, lowres, "cpu", "sideways", outputs.File("x.nii.gz"), imported.Models.Path, stdout, stderr, CancellationToken.None));
        Assert.Equal(CliErrors.ExitFailure, await SegmentCommand.RunAsync(outputs.File("missing.nii.gz"), lowres, "cpu", "off", outputs.File("x.nii.gz"), imported.Models.Path, stdout, stderr, CancellationToken.None));
        Assert.Contains("FILE_NOT_FOUND", stderr.ToString(), StringComparison.Ordinal);
        Assert.False(File.Exists(outputs.File("x.nii.gz")));
    }
}
