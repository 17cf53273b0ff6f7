using Xunit;
using KneeWeb.Imaging;
using KneeWeb.Imaging.Io;
using KneeWeb.Tests.TestData;

namespace KneeWeb.Tests.Imaging.Io;

[Trait("Category", "unit")]
public sealed class NiftiReadWriteTests : IDisposable
{
    private readonly TempFolder temp = new();

    public void Dispose() => temp.Dispose();

    public static TheoryData<VoxelType, bool, int, string> Cases()
    {
        var data = new TheoryData<VoxelType, bool, int, string>();
        foreach (VoxelType type in VoxelFixtures.NiftiTypes)
        {
            foreach (bool bigEndian in new[] { false, true })
            {
                foreach (int version in new[] { 1, 2 })
                {
                    foreach (string name in new[] { "a.nii", "a.nii.gz", "a.hdr", "a.hdr.gz" })
                    {
                        data.Add(type, bigEndian, version, name);
                    }
                }
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Reads_every_type_byte_order_version_and_container(VoxelType type, bool bigEndian, int version, string name)
    {
        Array values = VoxelFixtures.Values(type, 4 * 3 * 2);
        bool pair = name.Contains(".hdr", StringComparison.Ordinal);
        var spec = new NiftiSpec
        {
            Version = version,
            BigEndian = bigEndian,
            Datatype = VoxelFixtures.NiftiCode(type),
            Bitpix = Volume.BytesPerVoxel(type) * 8,
            Pair = pair,
            Pixdim = [1, 0.5, 0.75, 2, 0, 0, 0, 0],
            SformCode = 1,
            Srow = [0.5, 0, 0, -10, 0, 0.75, 0, 20, 0, 0, 2, 30.5],
        };
        string path = temp.File(name);
        spec.WriteFile(path, VoxelFixtures.Bytes(values, bigEndian), gzip: name.EndsWith(".gz", StringComparison.Ordinal));

        Assert.Equal(version == 2 ? ImageFormat.Nifti2 : ImageFormat.Nifti1, VolumeIo.DetectFormat(path));
        Volume volume = VolumeIo.Read(path);

        Assert.Equal(new Dims3(4, 3, 2), volume.Dims);
        Assert.Equal(type, volume.VoxelType);
        VoxelFixtures.AssertSameVoxels(values, volume.Voxels);
        VoxelFixtures.AssertAffine(new AffineRas(0.5, 0, 0, -10, 0, 0.75, 0, 20, 0, 0, 2, 30.5), volume.Geometry.IndexToRas, 0);
        Assert.Equal(version == 2 ? "NIfTI-2" : "NIfTI-1", volume.Metadata!.Format);
        VoxelFixtures.AssertFloatReadMatches(path, volume);
    }

    [Fact]
    public void Reading_the_img_of_a_pair_finds_its_header()
    {
        var spec = new NiftiSpec { Pair = true };
        Array values = VoxelFixtures.Values(VoxelType.Int16, 24);
        spec.WriteFile(temp.File("p.hdr"), VoxelFixtures.Bytes(values, false));
        Assert.Equal(ImageFormat.Nifti1, VolumeIo.DetectFormat(temp.File("p.img")));
        VoxelFixtures.AssertSameVoxels(values, VolumeIo.Read(temp.File("p.img")).Voxels);
    }

    [Fact]
    public void Scaling_is_applied_and_kept_for_lossless_writing()
    {
        var spec = new NiftiSpec { Slope = 0.5, Inter = -3 };
        short[] raw = [.. Enumerable.Range(0, 24).Select(i => (short)(i * 10))];
        spec.WriteFile(temp.File("s.nii"), VoxelFixtures.Bytes(raw, false));
        Volume volume = VolumeIo.Read(temp.File("s.nii"));
        Assert.Equal(0.5, volume.Slope);
        Assert.Equal(-3, volume.Intercept);
        Assert.Equal(-3f + (0.5f * 230), volume.ToFloat32()[23]);
        VoxelFixtures.AssertFloatReadMatches(temp.File("s.nii"), volume);

        VolumeIo.Write(volume, temp.File("s2.nii.gz"));
        Volume back = VolumeIo.Read(temp.File("s2.nii.gz"));
        VoxelFixtures.AssertSameVoxels(raw, back.Voxels);
        Assert.Equal(0.5, back.Slope);
        Assert.Equal(-3, back.Intercept);
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(double.NaN)]
    public void A_zero_or_nan_slope_means_unscaled(double slope)
    {
        new NiftiSpec { Slope = slope, Inter = 5 }.WriteFile(temp.File("u.nii"), new byte[48]);
        Volume volume = VolumeIo.Read(temp.File("u.nii"));
        Assert.False(volume.IsScaled);
    }

    [Fact]
    public void Four_d_inputs_keep_every_frame()
    {
        var spec = new NiftiSpec { Dim = [4, 4, 3, 2, 5, 1, 1, 1] };
        Array values = VoxelFixtures.Values(VoxelType.Int16, 4 * 3 * 2 * 5);
        spec.WriteFile(temp.File("f.nii.gz"), VoxelFixtures.Bytes(values, false), gzip: true);
        Volume volume = VolumeIo.Read(temp.File("f.nii.gz"));
        Assert.Equal(5, volume.Frames);
        Assert.Equal(new Dims3(4, 3, 2), volume.Dims);
        Assert.Equal((float)(short)values.GetValue(24 * 3)!, volume.ToFloat32(3)[0]);
        VoxelFixtures.AssertFloatReadMatches(temp.File("f.nii.gz"), volume);

        VolumeIo.Write(volume, temp.File("f2.nii.gz"));
        Volume back = VolumeIo.Read(temp.File("f2.nii.gz"));
        Assert.Equal(5, back.Frames);
        VoxelFixtures.AssertSameVoxels(values, back.Voxels);
    }

    public static TheoryData<VoxelType> AllTypes()
    {
        var data = new TheoryData<VoxelType>();
        foreach (VoxelType t in Enum.GetValues<VoxelType>())
        {
            data.Add(t);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(AllTypes))]
    public void Writing_then_reading_is_lossless_for_every_type(VoxelType type)
    {
        Array values = VoxelFixtures.Values(type, 5 * 4 * 3);
        // An oblique affine with float32-exact entries: NIfTI-1 keeps the sform in float32.
        var affine = new AffineRas(0.25f, -0.5f, 0.125f, -100.5f, 0.5f, 0.25f, 0, 12.25f, 0, 0.125f, 3f, 40.75f);
        var volume = new Volume(new VolumeGeometry(new Dims3(5, 4, 3), affine), type, values);
        foreach (string name in new[] { "w.nii.gz", "w.nii" })
        {
            VolumeIo.Write(volume, temp.File(name));
            Volume back = VolumeIo.Read(temp.File(name));
            if (type == VoxelType.Float16)
            {
                Assert.Equal(volume.ToFloat32(), back.ToFloat32());
            }
            else
            {
                VoxelFixtures.AssertSameVoxels(values, back.Voxels);
            }

            VoxelFixtures.AssertAffine(affine, back.Geometry.IndexToRas, 0);
        }
    }

    [Fact]
    public void Nifti2_keeps_double_precision_geometry()
    {
        var affine = new AffineRas(0.3, 0.01, 0, -123.456789012345, -0.01, 0.3, 0, 98.7654321, 0, 0, 1.1, 11.1111111111);
        var volume = Volume.CreateLabelMap(new VolumeGeometry(new Dims3(3, 3, 3), affine), new byte[27]);
        VolumeIo.Write(volume, temp.File("d.nii.gz"), new VolumeWriteOptions { NiftiVersion = 2 });
        Assert.Equal(ImageFormat.Nifti2, VolumeIo.DetectFormat(temp.File("d.nii.gz")));
        VoxelFixtures.AssertAffine(affine, VolumeIo.Read(temp.File("d.nii.gz")).Geometry.IndexToRas, 1e-12);

        // NIfTI-1: the float32 sform for every other tool, the exact affine in KneeWeb's extension.
        VolumeIo.Write(volume, temp.File("d1.nii.gz"));
        Volume back = VolumeIo.Read(temp.File("d1.nii.gz"));
        VoxelFixtures.AssertAffine(affine, back.Geometry.IndexToRas, 0);
        Assert.StartsWith("sform (double precision", back.Metadata!.Properties["affine_source"], StringComparison.Ordinal);
    }

    [Fact]
    public void A_sform_changed_by_another_tool_wins_over_the_stale_extension()
    {
        var affine = new AffineRas(0.3, 0, 0, -123.456789012345, 0, 0.3, 0, 98.7654321, 0, 0, 1.1, 11.1111111111);
        VolumeIo.Write(Volume.CreateLabelMap(new VolumeGeometry(new Dims3(3, 3, 3), affine), new byte[27]), temp.File("t.nii"));
        byte[] bytes = File.ReadAllBytes(temp.File("t.nii"));
        BitConverter.GetBytes(50f).CopyTo(bytes, 280 + 12); // srow_x[3]: moved 173 mm by an editor
        File.WriteAllBytes(temp.File("t.nii"), bytes);
        Volume back = VolumeIo.Read(temp.File("t.nii"));
        Assert.Equal(50.0, back.Geometry.IndexToRas[0, 3]);
        Assert.Equal("sform", back.Metadata!.Properties["affine_source"]);
    }

    [Fact]
    public void Written_qform_matches_the_sform()
    {
        // A rotated, left-handed grid: the qform (float32 quaternion) must describe the same affine.
        double c = Math.Cos(0.3), s = Math.Sin(0.3);
        var affine = new AffineRas(-0.5 * c, 0.6 * s, 0, 10, -0.5 * s, -0.6 * c, 0, 20, 0, 0, 1.5, -30);
        var volume = Volume.CreateLabelMap(new VolumeGeometry(new Dims3(2, 2, 2), affine), new byte[8]);
        VolumeIo.Write(volume, temp.File("q.nii"));
        byte[] bytes = File.ReadAllBytes(temp.File("q.nii"));
        bytes[254] = 0; // sform_code = 0: the reader falls back to the qform
        File.WriteAllBytes(temp.File("q.nii"), bytes);
        Volume back = VolumeIo.Read(temp.File("q.nii"));
        Assert.Equal("qform", back.Metadata!.Properties["affine_source"]);
        VoxelFixtures.AssertAffine(affine, back.Geometry.IndexToRas, 1e-5);
    }
}

[Trait("Category", "unit")]
public sealed class VolumeConversionTests
{
    [Fact]
    public void Signed_voxels_convert_to_float_with_their_sign()
    {
        // The runtime lets sbyte[] pass as byte[] and short[] as ushort[]: conversion must not be fooled.
        var geometry = new VolumeGeometry(new Dims3(2, 1, 1), AffineRas.Identity);
        Assert.Equal([-128f, 127f], new Volume(geometry, VoxelType.Int8, new sbyte[] { -128, 127 }).ToFloat32());
        Assert.Equal([-32768f, 5f], new Volume(geometry, VoxelType.Int16, new short[] { -32768, 5 }).ToFloat32());
        Assert.Equal([-7f, 5f], new Volume(geometry, VoxelType.Int32, new int[] { -7, 5 }).ToFloat32());
        Assert.Equal([-7f, 5f], new Volume(geometry, VoxelType.Int64, new long[] { -7, 5 }).ToFloat32());
        VolumeStatistics stats = VolumeStatistics.Of(new Volume(geometry, VoxelType.Int16, new short[] { -32768, 5 }));
        Assert.Equal(-32768, stats.Min);
    }
}

[Trait("Category", "unit")]
public sealed class LargeVolumeTests : IDisposable
{
    private readonly TempFolder temp = new();

    public void Dispose() => temp.Dispose();

    [Fact]
    public void A_multi_chunk_big_endian_gzip_volume_reads_the_same_both_ways()
    {
        // 3.1 M voxels: several 1 M-voxel chunks of the pipelined float path, with a ragged last one.
        var spec = new NiftiSpec { BigEndian = true, Dim = [3, 157, 160, 125, 1, 1, 1, 1], Slope = 0.5, Inter = 3 };
        Array values = VoxelFixtures.Values(VoxelType.Int16, 157 * 160 * 125);
        string path = temp.File("big.nii.gz");
        spec.WriteFile(path, VoxelFixtures.Bytes(values, bigEndian: true), gzip: true);
        Volume typed = VolumeIo.Read(path);
        VoxelFixtures.AssertSameVoxels(values, typed.Voxels);
        VoxelFixtures.AssertFloatReadMatches(path, typed);
    }
}

[Trait("Category", "unit")]
public sealed class SelectFrameTests
{
    [Fact]
    public void Selecting_a_frame_keeps_geometry_and_records_the_choice()
    {
        var geometry = new VolumeGeometry(new Dims3(2, 1, 1), new AffineRas(2, 0, 0, 1, 0, 2, 0, 2, 0, 0, 2, 3));
        var volume = new Volume(geometry, VoxelType.Int16, new short[] { 1, 2, 3, 4, 5, 6 }, frames: 3, slope: 2, intercept: 1)
        {
            Metadata = new ImageMetadata { Format = "NIfTI-1" },
        };
        Volume one = VolumeIo.SelectFrame(volume, 1);
        Assert.Equal(1, one.Frames);
        Assert.Equal([7f, 9f], one.ToFloat32());
        Assert.Equal(geometry, one.Geometry);
        Assert.Equal(1, one.Metadata!.FrameChosen);
        Assert.Equal("NIfTI-1", one.Metadata.Format);
        Assert.Throws<ArgumentOutOfRangeException>(() => VolumeIo.SelectFrame(volume, 3));
    }
}
