using System.CommandLine;
using System.Text.Json;
using KneeWeb.Cli;
using KneeWeb.Imaging;
using KneeWeb.Imaging.Io;
using Xunit;
using KneeWeb.Tests.TestData;

namespace KneeWeb.Tests.Imaging.Io;

/// <summary>The inspect and convert verbs, run through System.CommandLine with captured output.</summary>
[Trait("Category", "unit")]
public sealed class ImagingCommandsTests : IDisposable
{
    private readonly TempFolder temp = new();

    public void Dispose() => temp.Dispose();

    private static (int Exit, string Out, string Err) Run(params string[] args)
    {
        var root = new RootCommand();
        root.Subcommands.Add(ImagingCommands.CreateInspect());
        root.Subcommands.Add(ImagingCommands.CreateConvert());
        var output = new StringWriter();
        var error = new StringWriter();
        int exit = root.Parse(args).Invoke(new InvocationConfiguration { Output = output, Error = error });
        return (exit, output.ToString(), error.ToString());
    }

    private string Sample()
    {
        var affine = new AffineRas(-0.5, 0, 0, 10, 0, 0.5, 0, -20, 0, 0, 2, 30);
        short[] values = [.. Enumerable.Range(0, 24).Select(i => (short)(i - 4))];
        var volume = new Volume(new VolumeGeometry(new Dims3(4, 3, 2), affine), VoxelType.Int16, values, frames: 1, slope: 2, intercept: 1);
        string path = temp.File("in.nii.gz");
        VolumeIo.Write(volume, path);
        return path;
    }

    [Fact]
    public void The_verbs_are_registered_in_the_binary() =>
        Assert.True(CliApp.IsCommandLine(["inspect", "x"]) && CliApp.IsCommandLine(["convert", "a", "b"]));

    [Fact]
    public void Inspect_json_has_the_documented_keys_and_values()
    {
        (int exit, string output, string error) = Run("inspect", Sample(), "--json");
        Assert.True(exit == 0, error);
        using JsonDocument doc = JsonDocument.Parse(output);
        JsonElement root = doc.RootElement;
        Assert.Equal(["format", "dims", "datatype", "spacing_mm", "affine_ras", "min", "max", "mean"], root.EnumerateObject().Select(p => p.Name));
        Assert.Equal("NIfTI-1", root.GetProperty("format").GetString());
        Assert.Equal([4, 3, 2], root.GetProperty("dims").EnumerateArray().Select(e => e.GetInt32()));
        Assert.Equal("int16", root.GetProperty("datatype").GetString());
        Assert.Equal([0.5, 0.5, 2.0], root.GetProperty("spacing_mm").EnumerateArray().Select(e => e.GetDouble()));
        double[][] affine = [.. root.GetProperty("affine_ras").EnumerateArray().Select(r => r.EnumerateArray().Select(v => v.GetDouble()).ToArray())];
        Assert.Equal([-0.5, 0, 0, 10], affine[0]);
        Assert.Equal([0, 0, 0, 1], affine[3]);
        Assert.Equal((-4 * 2) + 1, root.GetProperty("min").GetDouble());
        Assert.Equal((19 * 2) + 1, root.GetProperty("max").GetDouble());
        Assert.Equal((7.5 * 2) + 1, root.GetProperty("mean").GetDouble(), 9);
    }

    [Fact]
    public void Inspect_text_shows_the_affine()
    {
        (int exit, string output, _) = Run("inspect", Sample());
        Assert.Equal(0, exit);
        Assert.Contains("format:      NIfTI-1", output, StringComparison.Ordinal);
        Assert.Contains("affine_ras", output, StringComparison.Ordinal);
        Assert.Contains("spacing_mm:  0.5 0.5 2", output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("out.nrrd")]
    [InlineData("out.nhdr")]
    [InlineData("out.mrc")]
    [InlineData("out.nii")]
    public void Convert_picks_the_format_from_the_output_name(string name)
    {
        (int exit, _, string error) = Run("convert", Sample(), temp.File(name));
        Assert.True(exit == 0, error);
        Volume a = VolumeIo.Read(temp.File("in.nii.gz"));
        Volume b = VolumeIo.Read(temp.File(name));
        if (name.EndsWith(".mrc", StringComparison.Ordinal))
        {
            // MRC has no flips: x is reversed in the data, and every voxel keeps its RAS position.
            Assert.Equal(new AffineRas(0.5, 0, 0, 10 - 1.5, 0, 0.5, 0, -20, 0, 0, 2, 30), b.Geometry.IndexToRas);
            float[] fa = a.ToFloat32(), fb = b.ToFloat32();
            Assert.Equal(fa[a.Dims.Index(3, 1, 1)], fb[b.Dims.Index(0, 1, 1)]);
            return;
        }

        Assert.Equal(a.ToFloat32(), b.ToFloat32());
        Assert.True(a.Geometry.IndexToRas.ApproximatelyEquals(b.Geometry.IndexToRas, 1e-6));
    }

    [Fact]
    public void Errors_print_the_catalog_code_and_exit_non_zero()
    {
        File.WriteAllText(temp.File("bad.nii"), "garbage that is not an image");
        (int exit, string output, string error) = Run("inspect", temp.File("bad.nii"));
        Assert.NotEqual(0, exit);
        Assert.Empty(output);
        Assert.StartsWith("INVALID_FORMAT: ", error, StringComparison.Ordinal);

        (exit, _, error) = Run("inspect", temp.File("missing.nii.gz"), "--json");
        Assert.NotEqual(0, exit);
        Assert.StartsWith("FILE_NOT_FOUND: ", error, StringComparison.Ordinal);

        (exit, _, error) = Run("convert", Sample(), temp.File("out.png"));
        Assert.NotEqual(0, exit);
        Assert.StartsWith("INVALID_FORMAT: ", error, StringComparison.Ordinal);

        string zip = temp.File("empty.zip");
        using (System.IO.Compression.ZipFile.Open(zip, System.IO.Compression.ZipArchiveMode.Create))
        {
        }

        (exit, _, error) = Run("convert", zip, temp.File("x.nii.gz"));
        Assert.NotEqual(0, exit);
        Assert.StartsWith("DICOM_ERROR: ", error, StringComparison.Ordinal);
    }
}
