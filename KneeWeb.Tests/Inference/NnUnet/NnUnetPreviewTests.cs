using KneeWeb.Imaging;
using KneeWeb.Imaging.Io;
using KneeWeb.Inference;
using KneeWeb.Inference.NnUnet;
using KneeWeb.Pipeline;
using KneeWeb.Tests.TestData;
using Xunit;

namespace KneeWeb.Tests.Inference.NnUnet;

/// <summary>
/// The nnU-Net path's live preview is in the image's own axes even when transpose_forward is not the identity
/// (the synonyms fixture transposes [2, 0, 1], the cascade's low-res stage [0, 2, 1]): it starts with the image as
/// tiling starts (no labels yet) and its final planes equal the image's mid-planes of the final label map, on an
/// image given the model's spacing and no zero voxel (so the transpose is all that lies between the two grids).
/// </summary>
[Trait("Category", "unit")]
public sealed class NnUnetPreviewTests(ImportedNnUnetModels imported) : IClassFixture<ImportedNnUnetModels>
{
    [Theory]
    [InlineData("aniso", "synonyms-fullres")]
    [InlineData("ct", "cascade-lowres")]
    public async Task The_preview_is_in_image_axes_from_the_start_and_ends_as_the_final_labels(string imageCase, string referenceModel)
    {
        var engine = new SegmentationEngine(imported.Models.Path, ImportedNnUnetModels.NameOf(referenceModel));
        ModelEntry model = engine.Resolve(ImportedNnUnetModels.NameOf(referenceModel)) ?? throw new Xunit.Sdk.XunitException("The imported model is missing.");
        NnUnetSettings settings = model.Sidecar!.NnUnet!;
        int[] forward = settings.TransposeForward;
        Assert.NotEqual([0, 1, 2], forward); // the point of the test
        Volume image = OnModelSpacing(VolumeIo.Read(TestFiles.PathOf($"NnUnet/reference/{imageCase}.nii.gz")), settings);

        var previews = new List<SegmentationPreview>();
        SegmentationResult result = await engine.Predictor.SegmentAsync(
            image, model, new SegmentationOptions { Provider = ExecutionProviderPreference.Cpu, Mirroring = MirroringMode.Off }, null, previews.Add, CancellationToken.None);

        Assert.Equal(0, previews[0].Fraction); // as tiling starts: the image, no labels yet
        Assert.All(previews[0].AcrossK.Labels, l => Assert.Equal(0, l));
        Assert.Contains(previews[0].AcrossK.Image, v => v != 0);
        SegmentationPreview last = previews[^1];
        Assert.Equal(1, last.Fraction);

        // No crop and no resampling: the model grid is the image grid transposed, so the preview's planes are the
        // image's own mid-planes of the final label map, pixel for pixel.
        Dims3 d = image.Dims;
        Assert.Equal(d, Transposed(result.ModelGrid, forward));
        byte[] labels = result.Labels.Span<byte>().ToArray();
        AssertPlane(last.AcrossK, d.I, d.J, (x, y) => labels[d.Index(x, y, d.K / 2)]);
        AssertPlane(last.AcrossJ, d.I, d.K, (x, y) => labels[d.Index(x, d.J / 2, y)]);
        AssertPlane(last.AcrossI, d.J, d.K, (x, y) => labels[d.Index(d.I / 2, x, y)]);
    }

    private static void AssertPlane(PreviewPlane plane, int width, int height, Func<int, int, byte> final)
    {
        Assert.Equal((width, height), (plane.Width, plane.Height));
        var expected = new byte[width * height];
        for (int y = 0; y < height; y++)
        {
            for (int x = 0; x < width; x++)
            {
                expected[(y * width) + x] = final(x, y);
            }
        }

        Assert.True(expected.Distinct().Count() >= 3, $"plane {plane.Plane}: fewer than three labels, too few to tell orientations apart");
        Assert.Equal(expected, plane.Labels);
    }

    /// <summary>The model grid (reported fastest network axis first) in image axes: image axis m (0 = k, 1 = j, 2 = i) is network axis a with forward[a] = m.</summary>
    private static Dims3 Transposed(Dims3 modelGrid, int[] forward)
    {
        int[] network = [modelGrid.K, modelGrid.J, modelGrid.I];
        var sizes = new int[3];
        for (int a = 0; a < 3; a++)
        {
            sizes[forward[a]] = network[a];
        }

        return new Dims3(sizes[2], sizes[1], sizes[0]);
    }

    /// <summary>
    /// The fixture image's first channel given the model's spacing (in image axes) and no zero voxel, so nnU-Net
    /// neither crops nor resamples: what remains between image and model grid is the transpose.
    /// </summary>
    private static Volume OnModelSpacing(Volume source, NnUnetSettings settings)
    {
        var spacingKji = new double[3];
        for (int a = 0; a < 3; a++)
        {
            spacingKji[settings.TransposeForward[a]] = settings.SpacingMm[a];
        }

        float[] values = source.ToFloat32();
        float low = values.Min();
        for (int n = 0; n < values.Length; n++)
        {
            values[n] = values[n] - low + 1; // strictly positive: the non-zero box is the whole image
        }

        var geometry = new VolumeGeometry(source.Dims, AffineRas.FromSpacing(new Vec3d(spacingKji[2], spacingKji[1], spacingKji[0]), new Vec3d(0, 0, 0)));
        return new Volume(geometry, VoxelType.Float32, values);
    }
}
