using System.Globalization;
using System.Text.Json;
using KneeWeb.Imaging;
using KneeWeb.Imaging.Io;
using Xunit;
using KneeWeb.Tests.TestData;

namespace KneeWeb.Tests.Imaging.Io;

/// <summary>
/// KneeWeb against nibabel (Debian's python3-nibabel) on generated files: the same affine
/// (img.affine), shape and get_fdata(dtype=float32) values for every type, byte order, version
/// and geometry case; and nibabel reads what KneeWeb writes.
/// </summary>
[Trait("Category", "reference")]
public sealed class NibabelCrossCheckTests : IDisposable
{
    private readonly TempFolder temp = new();

    public void Dispose() => temp.Dispose();

    private static IEnumerable<(string Name, NiftiSpec Spec, VoxelType Type, double UnitScale)> Cases()
    {
        double h = Math.Sqrt(0.5);
        var geometries = new (string, Func<NiftiSpec, NiftiSpec>, double)[]
        {
            ("sform-oblique", s => s with { SformCode = 1, Srow = [0.9, -0.1, 0.05, -100.5, 0.1, 0.95, 0.02, 20.25, -0.05, 0, 2.5, 30.75] }, 1),
            ("qform-oblique", s => s with { QformCode = 1, Pixdim = [1, 0.5, 0.6, 2.5, 0, 0, 0, 0], Quatern = [0.1, -0.2, 0.3, -10, 20, 30] }, 1),
            ("qform-qfac", s => s with { QformCode = 1, Pixdim = [-1, 0.5, 0.6, 2.5, 0, 0, 0, 0], Quatern = [0, h, 0, 1, 2, 3] }, 1),
            ("both", s => s with { QformCode = 1, SformCode = 2, Quatern = [0, 0, 1, 5, 6, 7], Srow = [-1, 0, 0, 90, 0, 1, 0, -120, 0, 0, 3, -60] }, 1),
            ("neither", s => s with { Pixdim = [1, 2, 3, 4, 0, 0, 0, 0] }, 1),
            ("negative-sform", s => s with { SformCode = 1, Srow = [-1.5, 0, 0, 100, 0, -1.5, 0, 100, 0, 0, -4, 50] }, 1),
            ("negative-pixdim", s => s with { QformCode = 1, Pixdim = [1, -2, 1, 1, 0, 0, 0, 0] }, 1),
            ("metres", s => s with { Units = 1, SformCode = 1, Srow = [0.001f, 0, 0, 0.1f, 0, 0.001f, 0, 0, 0, 0, 0.002f, 0] }, 1000),
        };

        int g = 0;
        foreach (VoxelType type in VoxelFixtures.NiftiTypes)
        {
            foreach (bool big in new[] { false, true })
            {
                foreach (int version in new[] { 1, 2 })
                {
                    (string geoName, Func<NiftiSpec, NiftiSpec> geo, double scale) = geometries[g++ % geometries.Length];
                    var spec = geo(new NiftiSpec
                    {
                        Version = version,
                        BigEndian = big,
                        Datatype = VoxelFixtures.NiftiCode(type),
                        Bitpix = Volume.BytesPerVoxel(type) * 8,
                        Slope = type == VoxelType.Int16 ? 0.25 : 1,
                        Inter = type == VoxelType.Int16 ? -10 : 0,
                        Dim = type == VoxelType.UInt16 ? [4, 5, 4, 3, 2, 1, 1, 1] : [3, 5, 4, 3, 1, 1, 1, 1],
                    });
                    yield return ($"{type}-{(big ? "be" : "le")}-v{version}-{geoName}", spec, type, scale);
                }
            }
        }

        // Every geometry case also in plain int16 little-endian NIfTI-1, so each meets nibabel at least once.
        foreach ((string geoName, Func<NiftiSpec, NiftiSpec> geo, double scale) in geometries)
        {
            yield return ($"golden-{geoName}", geo(new NiftiSpec { Dim = [3, 5, 4, 3, 1, 1, 1, 1] }), VoxelType.Int16, scale);
        }
    }

    [Fact]
    public void Geometry_and_values_agree_with_nibabel_on_every_case()
    {
        var cases = Cases().ToList();
        var files = new List<string>();
        for (int n = 0; n < cases.Count; n++)
        {
            (string name, NiftiSpec spec, VoxelType type, _) = cases[n];
            long count = spec.Dim[1] * spec.Dim[2] * spec.Dim[3] * Math.Max(1, spec.Dim[0] >= 4 ? spec.Dim[4] : 1);
            // Every fourth case is a .hdr/.img pair; of the rest, a third are gzipped.
            if (n % 4 == 3)
            {
                spec = spec with { Pair = true };
                cases[n] = cases[n] with { Spec = spec };
            }

            string path = temp.File(name + (spec.Pair ? ".hdr" : n % 3 == 0 ? ".nii.gz" : ".nii"));
            spec.WriteFile(path, VoxelFixtures.Bytes(VoxelFixtures.Values(type, (int)count, seed: n), spec.BigEndian), gzip: path.EndsWith(".gz", StringComparison.Ordinal));
            files.Add(path);
        }

        Dictionary<string, NibabelView> nib = LoadWithNibabel(files);
        foreach (((string name, _, _, double unitScale), string path) in cases.Zip(files))
        {
            Volume volume = VolumeIo.Read(path);
            NibabelView expected = nib[path];
            for (int r = 0; r < 3; r++)
            {
                for (int c = 0; c < 4; c++)
                {
                    double want = expected.Affine[r][c] * unitScale;
                    Assert.True(Math.Abs(want - volume.Geometry.IndexToRas[r, c]) <= 1e-5 * Math.Max(1, Math.Abs(want)),
                        $"{name}: affine[{r},{c}] nibabel {want} KneeWeb {volume.Geometry.IndexToRas[r, c]}");
                }
            }

            if (name.StartsWith("golden-", StringComparison.Ordinal) && unitScale == 1)
            {
                // The CLI's affine_ras is nibabel's img.affine.
                var stdout = new StringWriter();
                Assert.Equal(0, KneeWeb.Cli.ImagingCommands.Inspect(path, json: true, series: null, stdout, new StringWriter()));
                using JsonDocument report = JsonDocument.Parse(stdout.ToString());
                double[][] cli = [.. report.RootElement.GetProperty("affine_ras").EnumerateArray().Select(row => row.EnumerateArray().Select(v => v.GetDouble()).ToArray())];
                for (int r = 0; r < 4; r++)
                {
                    for (int c = 0; c < 4; c++)
                    {
                        Assert.True(Math.Abs(cli[r][c] - expected.Affine[r][c]) <= 1e-5 * Math.Max(1, Math.Abs(expected.Affine[r][c])), $"{name}: inspect affine_ras[{r}][{c}]");
                    }
                }
            }

            int[] shape = volume.Frames > 1 ? [volume.Dims.I, volume.Dims.J, volume.Dims.K, volume.Frames] : [volume.Dims.I, volume.Dims.J, volume.Dims.K];
            Assert.Equal(expected.Shape, shape);
            float[] theirs = ReadFloats(path + ".f32");
            long perFrame = volume.Dims.VoxelCount;
            for (int f = 0; f < volume.Frames; f++)
            {
                float[] ours = volume.ToFloat32(f);
                for (long i = 0; i < perFrame; i++)
                {
                    float a = theirs[(f * perFrame) + i], b = ours[i];
                    Assert.True(a == b || Math.Abs(a - b) <= 1e-6f * Math.Max(1, Math.Abs(a)), $"{name}: voxel {i} frame {f}: nibabel {a} KneeWeb {b}");
                }
            }
        }
    }

    [Fact]
    public void Nibabel_reads_what_kneeweb_writes()
    {
        double c = Math.Cos(0.4), s = Math.Sin(0.4);
        var affine = new AffineRas(-0.5 * c, 0.6 * s, 0, 10.5, -0.5 * s, -0.6 * c, 0, -20.25, 0, 0, 1.5, 30);
        var files = new List<(string Path, Volume Volume)>();
        foreach (VoxelType type in VoxelFixtures.NiftiTypes)
        {
            var volume = new Volume(new VolumeGeometry(new Dims3(5, 4, 3), affine), type, VoxelFixtures.Values(type, 60), frames: 1,
                slope: type == VoxelType.Int16 ? 0.5 : 1, intercept: type == VoxelType.Int16 ? 2 : 0);
            foreach (int version in new[] { 1, 2 })
            {
                string path = temp.File($"kw-{type}-v{version}.nii.gz");
                VolumeIo.Write(volume, path, new VolumeWriteOptions { NiftiVersion = version });
                files.Add((path, volume));
            }
        }

        Dictionary<string, NibabelView> nib = LoadWithNibabel([.. files.Select(f => f.Path)]);
        foreach ((string path, Volume volume) in files)
        {
            NibabelView view = nib[path];
            for (int r = 0; r < 3; r++)
            {
                for (int col = 0; col < 4; col++)
                {
                    Assert.True(Math.Abs(view.Affine[r][col] - affine[r, col]) < 1e-5, $"{path}: affine[{r},{col}]");
                }
            }

            Assert.Equal(view.QformAffine.SelectMany(x => x).Select(v => Math.Round(v, 4)), view.Affine.SelectMany(x => x).Select(v => Math.Round(v, 4)));
            Assert.Equal(volume.ToFloat32(), ReadFloats(path + ".f32"));
        }
    }

    private sealed record NibabelView(double[][] Affine, double[][] QformAffine, int[] Shape);

    private Dictionary<string, NibabelView> LoadWithNibabel(List<string> files)
    {
        string list = temp.File("files-" + Guid.NewGuid().ToString("N")[..6] + ".txt");
        File.WriteAllLines(list, files);
        string json = PythonTools.Run($$"""
            import json, numpy as np, nibabel as nib
            out = {}
            for path in open(r'{{list}}').read().split('\n'):
                if not path: continue
                img = nib.load(path)
                data = img.get_fdata(dtype=np.float32)
                np.asarray(data, dtype='<f4').ravel(order='F').tofile(path + '.f32')
                q = img.header.get_qform() if img.header['qform_code'] != 0 else img.affine
                out[path] = {'affine': img.affine.tolist(), 'qform': np.asarray(q).tolist(), 'shape': list(img.shape)}
            print(json.dumps(out))
            """);
        var result = new Dictionary<string, NibabelView>(StringComparer.Ordinal);
        using JsonDocument doc = JsonDocument.Parse(json);
        foreach (JsonProperty p in doc.RootElement.EnumerateObject())
        {
            double[][] affine = [.. p.Value.GetProperty("affine").EnumerateArray().Select(row => row.EnumerateArray().Select(v => v.GetDouble()).ToArray())];
            double[][] qform = [.. p.Value.GetProperty("qform").EnumerateArray().Select(row => row.EnumerateArray().Select(v => v.GetDouble()).ToArray())];
            int[] shape = [.. p.Value.GetProperty("shape").EnumerateArray().Select(v => v.GetInt32())];
            result[p.Name] = new NibabelView(affine, qform, shape);
        }

        Assert.Equal(files.Count, result.Count);
        return result;
    }

    private static float[] ReadFloats(string path)
    {
        byte[] bytes = File.ReadAllBytes(path);
        var floats = new float[bytes.Length / 4];
        Buffer.BlockCopy(bytes, 0, floats, 0, bytes.Length);
        return floats;
    }
}
