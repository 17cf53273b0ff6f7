using System.IO.Compression;
using System.Text;
using KneeWeb.Imaging;
using KneeWeb.Imaging.Io;
using Xunit;
using KneeWeb.Tests.TestData;

namespace KneeWeb.Tests.Imaging.Io;

[Trait("Category", "unit")]
public sealed class NrrdTests : IDisposable
{
    private static readonly (VoxelType Type, string Name)[] Types =
    [
        (VoxelType.Int8, "signed char"), (VoxelType.UInt8, "uchar"), (VoxelType.Int16, "short"), (VoxelType.UInt16, "unsigned short"),
        (VoxelType.Int32, "int"), (VoxelType.UInt32, "uint32"), (VoxelType.Int64, "long long"), (VoxelType.UInt64, "ulonglong"),
        (VoxelType.Float32, "float"), (VoxelType.Float64, "double"),
    ];

    private readonly TempFolder temp = new();

    public void Dispose() => temp.Dispose();

    public static TheoryData<int, bool, bool, bool> Cases()
    {
        var data = new TheoryData<int, bool, bool, bool>();
        for (int t = 0; t < Types.Length; t++)
        {
            foreach (bool big in new[] { false, true })
            {
                foreach (bool gzip in new[] { false, true })
                {
                    foreach (bool detached in new[] { false, true })
                    {
                        data.Add(t, big, gzip, detached);
                    }
                }
            }
        }

        return data;
    }

    internal static byte[] Encode(byte[] data, bool gzip)
    {
        if (!gzip)
        {
            return data;
        }

        using var memory = new MemoryStream();
        using (var z = new GZipStream(memory, CompressionLevel.Fastest, leaveOpen: true))
        {
            z.Write(data);
        }

        return memory.ToArray();
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Reads_every_type_endian_encoding_and_layout(int typeIndex, bool bigEndian, bool gzip, bool detached)
    {
        (VoxelType type, string name) = Types[typeIndex];
        Array values = VoxelFixtures.Values(type, 4 * 3 * 2);
        byte[] payload = Encode(VoxelFixtures.Bytes(values, bigEndian), gzip);
        string header =
            "NRRD0004\n# a comment\ntype: " + name + "\ndimension: 3\nspace: left-posterior-superior\nsizes: 4 3 2\n" +
            "space directions: (-0.5,0,0) (0,-0.75,0) (0,0,2.5)\nkinds: domain domain domain\n" +
            $"endian: {(bigEndian ? "big" : "little")}\nencoding: {(gzip ? "gzip" : "raw")}\nspace origin: (10,-20,30.25)\n";
        string path;
        if (detached)
        {
            path = temp.File("d.nhdr");
            File.WriteAllText(path, header + "data file: d.raw\n");
            File.WriteAllBytes(temp.File("d.raw"), payload);
        }
        else
        {
            path = temp.File("a.nrrd");
            File.WriteAllBytes(path, [.. Encoding.ASCII.GetBytes(header + "\n"), .. payload]);
        }

        Assert.Equal(ImageFormat.Nrrd, VolumeIo.DetectFormat(path));
        Volume volume = VolumeIo.Read(path);
        Assert.Equal(new Dims3(4, 3, 2), volume.Dims);
        VoxelFixtures.AssertSameVoxels(values, volume.Voxels);
        // LPS (-0.5, 0, 0) is RAS (0.5, 0, 0); the origin flips x and y too.
        VoxelFixtures.AssertAffine(new AffineRas(0.5, 0, 0, -10, 0, 0.75, 0, 20, 0, 0, 2.5, 30.25), volume.Geometry.IndexToRas, 0);
        VoxelFixtures.AssertFloatReadMatches(path, volume);
    }

    [Fact]
    public void Round_trips_oblique_double_geometry_exactly_through_nrrd_and_nhdr()
    {
        double c = Math.Cos(0.2), s = Math.Sin(0.2);
        var affine = new AffineRas(0.3 * c, -0.3 * s, 0, -123.456789012345, 0.3 * s, 0.3 * c, 0, 98.76543210987, 0, 0, -1.1, 11.111111111111);
        Array values = VoxelFixtures.Values(VoxelType.Int16, 5 * 4 * 3 * 2);
        var volume = new Volume(new VolumeGeometry(new Dims3(5, 4, 3), affine), VoxelType.Int16, values, frames: 2);
        foreach (string name in new[] { "r.nrrd", "r.nhdr" })
        {
            VolumeIo.Write(volume, temp.File(name));
            Volume back = VolumeIo.Read(temp.File(name));
            VoxelFixtures.AssertAffine(affine, back.Geometry.IndexToRas, 0);
            VoxelFixtures.AssertSameVoxels(values, back.Voxels);
            Assert.Equal(2, back.Frames);
        }

        Assert.True(File.Exists(temp.File("r.raw.gz")));
    }

    [Fact]
    public void Frames_first_are_deinterleaved()
    {
        // kinds: list first (e.g. a DWI): voxel-interleaved frames.
        short[] interleaved = new short[3 * 2 * 2 * 2];
        for (int v = 0; v < 8; v++)
        {
            for (int f = 0; f < 3; f++)
            {
                interleaved[(v * 3) + f] = (short)((f * 100) + v);
            }
        }

        string header = "NRRD0005\ntype: short\ndimension: 4\nspace: RAS\nsizes: 3 2 2 2\nspace directions: none (1,0,0) (0,1,0) (0,0,1)\nendian: little\nencoding: raw\n\n";
        File.WriteAllBytes(temp.File("i.nrrd"), [.. Encoding.ASCII.GetBytes(header), .. VoxelFixtures.Bytes(interleaved, false)]);
        Volume volume = VolumeIo.Read(temp.File("i.nrrd"));
        Assert.Equal(3, volume.Frames);
        Assert.Equal(new Dims3(2, 2, 2), volume.Dims);
        Assert.Equal(205f, volume.ToFloat32(2)[5]);
    }

    [Fact]
    public void Spacings_without_space_are_read_as_itk_does()
    {
        string header = "NRRD0001\ntype: uchar\ndimension: 3\nsizes: 2 2 2\nspacings: 0.5 0.5 2\nencoding: raw\n\n";
        File.WriteAllBytes(temp.File("s.nrrd"), [.. Encoding.ASCII.GetBytes(header), .. new byte[8]]);
        VoxelFixtures.AssertAffine(new AffineRas(-0.5, 0, 0, 0, 0, -0.5, 0, 0, 0, 0, 2, 0), VolumeIo.Read(temp.File("s.nrrd")).Geometry.IndexToRas, 0);
    }

    [Fact]
    public void Byte_skip_minus_one_and_line_skip_find_the_data()
    {
        byte[] data = [1, 2, 3, 4, 5, 6, 7, 8];
        File.WriteAllText(temp.File("b.nhdr"), "NRRD0004\ntype: uint8\ndimension: 3\nsizes: 2 2 2\nencoding: raw\nbyte skip: -1\nline skip: 1\ndata file: b.dat\n");
        File.WriteAllBytes(temp.File("b.dat"), [.. "junk line\nmore junk"u8, .. data]);
        VoxelFixtures.AssertSameVoxels(data, VolumeIo.Read(temp.File("b.nhdr")).Voxels);
    }

    [Theory]
    [InlineData("../outside.raw")]
    [InlineData("/etc/passwd")]
    [InlineData("sub/d.raw")]
    [InlineData("..")]
    public void A_detached_data_file_anywhere_but_beside_the_header_is_rejected(string dataFile)
    {
        Directory.CreateDirectory(temp.File("sub"));
        File.WriteAllBytes(temp.File("sub/d.raw"), new byte[8]);
        File.WriteAllText(temp.File("x.nhdr"), $"NRRD0004\ntype: uint8\ndimension: 3\nsizes: 2 2 2\nencoding: raw\ndata file: {dataFile}\n");
        var e = Assert.Throws<InvalidImageException>(() => VolumeIo.Read(temp.File("x.nhdr")));
        Assert.Equal("data file", e.Field);
    }

    [Fact]
    public void A_detached_data_file_that_is_a_link_is_rejected()
    {
        File.WriteAllBytes(temp.File("real.raw"), new byte[8]);
        File.CreateSymbolicLink(temp.File("link.raw"), temp.File("real.raw"));
        File.WriteAllText(temp.File("l.nhdr"), "NRRD0004\ntype: uint8\ndimension: 3\nsizes: 2 2 2\nencoding: raw\ndata file: link.raw\n");
        var e = Assert.Throws<InvalidImageException>(() => VolumeIo.Read(temp.File("l.nhdr")));
        Assert.Contains("link", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Label_maps_round_trip_in_every_writer()
    {
        var affine = new AffineRas(0.5, 0, 0, -10, 0, 0.5, 0, 20, 0, 0, 2, 30);
        byte[] labels = [.. Enumerable.Range(0, 60).Select(i => (byte)(i % 16))];
        Volume volume = Volume.CreateLabelMap(new VolumeGeometry(new Dims3(5, 4, 3), affine), labels);
        foreach (string name in new[] { "l.nii.gz", "l.nrrd", "l.nhdr", "l.mrc" })
        {
            VolumeIo.Write(volume, temp.File(name));
            Volume back = VolumeIo.Read(temp.File(name));
            Assert.Equal(volume.ToFloat32(), back.ToFloat32());
            VoxelFixtures.AssertAffine(affine, back.Geometry.IndexToRas, 1e-6);
        }
    }
}

[Trait("Category", "unit")]
public sealed class NrrdScaledWriteTests : IDisposable
{
    private readonly TempFolder temp = new();

    public void Dispose() => temp.Dispose();

    [Theory]
    [InlineData(VoxelType.Int16)]
    [InlineData(VoxelType.Int32)]
    [InlineData(VoxelType.Float32)]
    public void Scaled_volumes_are_written_as_their_scaled_values(VoxelType type)
    {
        Array values = VoxelFixtures.Values(type, 24);
        var volume = new Volume(new VolumeGeometry(new Dims3(4, 3, 2), AffineRas.Identity), type, values, frames: 1, slope: 0.5, intercept: -2);
        VolumeIo.Write(volume, temp.File("s.nrrd"));
        Volume back = VolumeIo.Read(temp.File("s.nrrd"));
        Assert.False(back.IsScaled);
        float[] expected = volume.ToFloat32(), actual = back.ToFloat32();
        for (int i = 0; i < expected.Length; i++)
        {
            Assert.True(Math.Abs(expected[i] - actual[i]) <= 1e-6 * Math.Max(1, Math.Abs(expected[i])), $"voxel {i}: {expected[i]} vs {actual[i]}");
        }
    }
}
