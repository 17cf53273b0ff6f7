using System.Buffers.Binary;
using KneeWeb.Imaging;
using KneeWeb.Imaging.Io;
using Xunit;
using KneeWeb.Tests.TestData;

namespace KneeWeb.Tests.Imaging.Io;

[Trait("Category", "unit")]
public sealed class MrcTests : IDisposable
{
    private readonly TempFolder temp = new();

    public void Dispose() => temp.Dispose();

    /// <summary>An MRC2014 file from the tests' own encoder.</summary>
    internal static byte[] Mrc(int mode, int nx, int ny, int nz, byte[] data, bool bigEndian, int nsymbt = 0,
        float[]? cell = null, float[]? origin = null, int[]? map = null, bool stamp = true, bool mapWord = true, int[]? sampling = null)
    {
        var h = new byte[1024 + nsymbt];
        void I(int at, int v)
        {
            if (bigEndian)
            {
                BinaryPrimitives.WriteInt32BigEndian(h.AsSpan(at), v);
            }
            else
            {
                BinaryPrimitives.WriteInt32LittleEndian(h.AsSpan(at), v);
            }
        }

        void F(int at, float v)
        {
            if (bigEndian)
            {
                BinaryPrimitives.WriteSingleBigEndian(h.AsSpan(at), v);
            }
            else
            {
                BinaryPrimitives.WriteSingleLittleEndian(h.AsSpan(at), v);
            }
        }

        I(0, nx);
        I(4, ny);
        I(8, nz);
        I(12, mode);
        sampling ??= [nx, ny, nz];
        I(28, sampling[0]);
        I(32, sampling[1]);
        I(36, sampling[2]);
        cell ??= [nx * 0.5f, ny * 0.75f, nz * 2f];
        map ??= [1, 2, 3];
        origin ??= [0, 0, 0];
        for (int a = 0; a < 3; a++)
        {
            F(40 + (4 * a), cell[a]);
            F(52 + (4 * a), 90);
            I(64 + (4 * a), map[a]);
            F(196 + (4 * a), origin[a]);
        }

        I(88, 1);
        I(92, nsymbt);
        I(108, 20140);
        if (mapWord)
        {
            "MAP "u8.CopyTo(h.AsSpan(208));
        }

        if (stamp)
        {
            h[212] = bigEndian ? (byte)0x11 : (byte)0x44;
            h[213] = bigEndian ? (byte)0x11 : (byte)0x44;
        }

        for (int i = 1024; i < h.Length; i++)
        {
            h[i] = 0xAB; // extended header bytes that must be skipped
        }

        return [.. h, .. data];
    }

    public static TheoryData<int, bool, bool> Cases()
    {
        var data = new TheoryData<int, bool, bool>();
        foreach (int mode in new[] { 0, 1, 2, 6, 12 })
        {
            foreach (bool big in new[] { false, true })
            {
                foreach (bool stamp in new[] { true, false })
                {
                    data.Add(mode, big, stamp);
                }
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Reads_every_mode_in_both_byte_orders(int mode, bool bigEndian, bool stamp)
    {
        VoxelType type = mode switch { 0 => VoxelType.Int8, 1 => VoxelType.Int16, 2 => VoxelType.Float32, 6 => VoxelType.UInt16, _ => VoxelType.Float16 };
        Array values = VoxelFixtures.Values(type, 4 * 3 * 2);
        File.WriteAllBytes(temp.File("m.mrc"), Mrc(mode, 4, 3, 2, VoxelFixtures.Bytes(values, bigEndian), bigEndian, nsymbt: 80, origin: [1, 2, 3], stamp: stamp));
        Assert.Equal(ImageFormat.Mrc, VolumeIo.DetectFormat(temp.File("m.mrc")));
        Volume volume = VolumeIo.Read(temp.File("m.mrc"));
        VoxelFixtures.AssertSameVoxels(values, volume.Voxels);
        VoxelFixtures.AssertAffine(new AffineRas(0.5, 0, 0, 1, 0, 0.75, 0, 2, 0, 0, 2, 3), volume.Geometry.IndexToRas, 1e-7);
        VoxelFixtures.AssertFloatReadMatches(temp.File("m.mrc"), volume);
    }

    [Fact]
    public void Permuted_axes_map_columns_rows_and_sections()
    {
        // Columns run along z, rows along x, sections along y.
        File.WriteAllBytes(temp.File("p.mrc"), Mrc(0, 4, 3, 2, new byte[24], false, cell: [3, 4, 8], map: [3, 1, 2], sampling: [3, 2, 4]));
        VoxelFixtures.AssertAffine(new AffineRas(0, 1, 0, 0, 0, 0, 2, 0, 2, 0, 0, 0), VolumeIo.Read(temp.File("p.mrc")).Geometry.IndexToRas, 0);
    }

    [Fact]
    public void Old_files_without_map_word_are_detected_by_their_exact_size()
    {
        File.WriteAllBytes(temp.File("old.bin"), Mrc(1, 4, 3, 2, new byte[48], false, stamp: false, mapWord: false));
        Assert.Equal(ImageFormat.Mrc, VolumeIo.DetectFormat(temp.File("old.bin")));
    }

    [Fact]
    public void Writes_and_reads_back_every_type_with_its_geometry()
    {
        var affine = new AffineRas(0.5, 0, 0, -10.25, 0, 0.25, 0, 20.5, 0, 0, 2, 30);
        foreach (VoxelType type in Enum.GetValues<VoxelType>())
        {
            Array values = VoxelFixtures.Values(type, 5 * 4 * 3);
            if (type is VoxelType.UInt32 or VoxelType.Int32 or VoxelType.UInt64 or VoxelType.Int64)
            {
                values = Array.CreateInstance(values.GetType().GetElementType()!, 60);
                for (int i = 0; i < 60; i++)
                {
                    values.SetValue(Convert.ChangeType(i * 1000, values.GetType().GetElementType()!, System.Globalization.CultureInfo.InvariantCulture), i);
                }
            }

            var volume = new Volume(new VolumeGeometry(new Dims3(5, 4, 3), affine), type, values);
            VolumeIo.Write(volume, temp.File("w.mrc"));
            Volume back = VolumeIo.Read(temp.File("w.mrc"));
            Assert.Equal(volume.ToFloat32(), back.ToFloat32());
            VoxelFixtures.AssertAffine(affine, back.Geometry.IndexToRas, 1e-6);
        }
    }

    [Fact]
    public void Volume_stacks_keep_their_frames()
    {
        Array values = VoxelFixtures.Values(VoxelType.Int16, 4 * 3 * 2 * 3);
        var volume = new Volume(new VolumeGeometry(new Dims3(4, 3, 2), AffineRas.FromSpacing(new Vec3d(1, 1, 1), default)), VoxelType.Int16, values, frames: 3);
        VolumeIo.Write(volume, temp.File("stack.mrc"));
        Volume back = VolumeIo.Read(temp.File("stack.mrc"));
        Assert.Equal(3, back.Frames);
        Assert.Equal(new Dims3(4, 3, 2), back.Dims);
        VoxelFixtures.AssertSameVoxels(values, back.Voxels);
    }

    [Fact]
    public void Flipped_axes_are_written_as_flipped_data_at_the_same_ras_points()
    {
        var affine = new AffineRas(-0.5, 0, 0, 10, 0, 0, 2, -20, 0, -0.25, 0, 30);
        Array values = VoxelFixtures.Values(VoxelType.Int16, 5 * 4 * 3);
        var volume = new Volume(new VolumeGeometry(new Dims3(5, 4, 3), affine), VoxelType.Int16, values);
        VolumeIo.Write(volume, temp.File("f.mrc"));
        Volume back = VolumeIo.Read(temp.File("f.mrc"));
        float[] a = volume.ToFloat32(), b = back.ToFloat32();
        var inverse = back.Geometry.IndexToRas.Inverse();
        for (int k = 0; k < 3; k++)
        {
            for (int j = 0; j < 4; j++)
            {
                for (int i = 0; i < 5; i++)
                {
                    Vec3d ijk = inverse.Apply(affine.Apply(new Vec3d(i, j, k)));
                    var index = new Vec3d(Math.Round(ijk.X), Math.Round(ijk.Y), Math.Round(ijk.Z));
                    Assert.True((ijk - index).Length < 1e-6);
                    Assert.Equal(a[volume.Dims.Index(i, j, k)], b[back.Dims.Index((int)index.X, (int)index.Y, (int)index.Z)]);
                }
            }
        }
    }

    [Fact]
    public void Oblique_geometry_is_refused_by_the_mrc_writer()
    {
        var volume = Volume.CreateLabelMap(new VolumeGeometry(new Dims3(2, 2, 2), new AffineRas(0.7, 0.7, 0, 0, -0.7, 0.7, 0, 0, 0, 0, 1, 0)), new byte[8]);
        var e = Assert.Throws<ArgumentException>(() => VolumeIo.Write(volume, temp.File("o.mrc")));
        Assert.Contains("NIfTI or NRRD", e.Message, StringComparison.Ordinal);
    }
}

/// <summary>Cross-check with the field's reader/writer (Python mrcfile), both directions.</summary>
[Trait("Category", "reference")]
public sealed class MrcMrcfileCrossCheckTests : IDisposable
{
    private readonly TempFolder temp = new();

    public void Dispose() => temp.Dispose();

    [Fact]
    public void Agrees_with_mrcfile_on_files_it_writes()
    {
        string script = $$"""
            import mrcfile, numpy as np
            d = (np.arange(4*3*2, dtype=np.float32).reshape(2, 3, 4) * 1.5 - 7)
            with mrcfile.new(r'{{temp.File("py.mrc")}}', overwrite=True) as m:
                m.set_data(d)
                m.voxel_size = (0.5, 0.75, 2.0)
                m.header.origin = (1.0, 2.0, 3.0)
            """;
        PythonTools.Run(script);
        Volume volume = VolumeIo.Read(temp.File("py.mrc"));
        Assert.Equal(new Dims3(4, 3, 2), volume.Dims);
        Assert.Equal(-7f + (1.5f * 23), volume.ToFloat32()[23]);
        Assert.Equal(-7f + (1.5f * 1), volume.ToFloat32()[1]);
        VoxelFixtures.AssertAffine(new AffineRas(0.5, 0, 0, 1, 0, 0.75, 0, 2, 0, 0, 2, 3), volume.Geometry.IndexToRas, 1e-6);

        // And mrcfile opens what KneeWeb writes, with the same values and voxel size.
        VolumeIo.Write(volume, temp.File("kw.mrc"));
        string check = PythonTools.Run($$"""
            import mrcfile, numpy as np
            with mrcfile.open(r'{{temp.File("kw.mrc")}}', permissive=False) as m:
                print(m.data.dtype, m.data.shape, float(m.data[1, 2, 3]), m.voxel_size.x, m.voxel_size.y, m.voxel_size.z, m.header.origin.x)
            """);
        Assert.Equal("float32 (2, 3, 4) 27.5 0.5 0.75 2.0 1.0", check.Trim());
    }
}
