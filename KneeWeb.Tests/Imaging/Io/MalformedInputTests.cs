using System.Diagnostics;
using System.IO.Compression;
using System.Text;
using KneeWeb.Imaging;
using KneeWeb.Imaging.Io;
using Xunit;
using KneeWeb.Tests.TestData;

namespace KneeWeb.Tests.Imaging.Io;

/// <summary>
/// Every malformed file ends as InvalidImageException naming the field and the value, fast and
/// without allocating what the header claims.
/// </summary>
[Trait("Category", "unit")]
public sealed class MalformedInputTests : IDisposable
{
    // A hang guard, not a speed bound (the allocation bounds show a hostile file costs no real work).
    private static readonly TimeSpan HangGuard = TimeSpan.FromMinutes(2);

    private readonly TempFolder temp = new();

    public void Dispose() => temp.Dispose();

    private static InvalidImageException AssertInvalid(string path, string field, VolumeReadOptions? options = null)
    {
        long before = GC.GetAllocatedBytesForCurrentThread();
        var clock = Stopwatch.StartNew();
        var e = Assert.Throws<InvalidImageException>(() => VolumeIo.Read(path, options));
        Assert.True(clock.Elapsed < HangGuard, $"took {clock.Elapsed}");
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.True(allocated < 16 << 20, $"allocated {allocated} bytes for a malformed file");
        Assert.Contains(field, e.Message, StringComparison.Ordinal);
        Assert.False(string.IsNullOrEmpty(e.Field) && field != "magic bytes", $"no field in: {e.Message}");
        return e;
    }

    private string Nifti(NiftiSpec spec, int dataBytes = 48, bool gzip = false, string name = "bad.nii")
    {
        string path = temp.File(gzip ? name + ".gz" : name);
        spec.WriteFile(path, new byte[dataBytes], gzip);
        return path;
    }

    public static TheoryData<string, NiftiSpec, string> NiftiCases() => new()
    {
        { "dim0 zero", new NiftiSpec { Dim = [0, 4, 3, 2, 1, 1, 1, 1] }, "dim[0] = 0" },
        { "dim0 eight", new NiftiSpec { Dim = [8, 4, 3, 2, 1, 1, 1, 1] }, "dim[0] = 8" },
        { "zero dim", new NiftiSpec { Dim = [3, 4, 0, 2, 1, 1, 1, 1] }, "dim[2] = 0" },
        { "negative dim", new NiftiSpec { Dim = [3, -4, 3, 2, 1, 1, 1, 1] }, "dim[1] = -4" },
        { "5D", new NiftiSpec { Dim = [5, 4, 3, 2, 1, 2, 1, 1] }, "dim[5] = 2" },
        { "complex", new NiftiSpec { Datatype = 32, Bitpix = 64 }, "datatype = 32: complex" },
        { "rgb", new NiftiSpec { Datatype = 128, Bitpix = 24 }, "datatype = 128: RGB" },
        { "unknown type", new NiftiSpec { Datatype = 999 }, "datatype = 999" },
        { "bitpix", new NiftiSpec { Datatype = 4, Bitpix = 32 }, "bitpix = 32" },
        { "offset outside", new NiftiSpec { HeaderVoxOffset = 100000 }, "vox_offset" },
        { "negative offset", new NiftiSpec { HeaderVoxOffset = -1000 }, "vox_offset" },
        { "nan pixdim", new NiftiSpec { Pixdim = [1, double.NaN, 1, 1, 0, 0, 0, 0] }, "pixdim[1] = NaN" },
        { "zero pixdim qform", new NiftiSpec { QformCode = 1, Pixdim = [1, 1, 0, 1, 0, 0, 0, 0] }, "pixdim[2] = 0" },
        { "nan sform", new NiftiSpec { SformCode = 1, Srow = [1, 0, 0, double.NaN, 0, 1, 0, 0, 0, 0, 1, 0] }, "srow_x[3] = NaN" },
        { "zero sform column", new NiftiSpec { SformCode = 1, Srow = [1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0] }, "zero spacing" },
        { "bad quaternion", new NiftiSpec { QformCode = 1, Quatern = [0.9, 0.9, 0, 0, 0, 0] }, "quatern_b/c/d" },
        { "nan intercept", new NiftiSpec { Slope = 2, Inter = double.NaN }, "scl_inter = NaN" },
        { "wrong magic", new NiftiSpec { Magic = "xyz" }, "magic" },
        { "nifti2 overflow", new NiftiSpec { Version = 2, Dim = [3, 1L << 40, 1L << 40, 1L << 40, 1, 1, 1, 1] }, "dim[1]" },
        { "nifti2 64-bit overflow", new NiftiSpec { Version = 2, Dim = [4, 2_000_000_000, 2_000_000_000, 2_000_000_000, 2_000_000_000, 1, 1, 1] }, "overflows 64 bits" },
    };

    [Theory]
    [MemberData(nameof(NiftiCases))]
    public void Nifti_header_faults_name_the_field(string name, NiftiSpec spec, string expected)
    {
        Assert.NotNull(name);
        AssertInvalid(Nifti(spec), expected);
        AssertInvalid(Nifti(spec, gzip: true), expected);
    }

    [Fact]
    public void A_size_beyond_the_cap_is_refused_before_allocating()
    {
        var spec = new NiftiSpec { Dim = [3, 1000, 1000, 500, 1, 1, 1, 1] }; // 1 GB of int16 declared, 48 bytes present
        AssertInvalid(Nifti(spec), "vox_offset + data size");
        AssertInvalid(Nifti(spec, gzip: true), "cannot inflate");
        AssertInvalid(Nifti(spec), "exceed the cap", new VolumeReadOptions { MaxVoxels = 1_000_000 });
        AssertInvalid(Nifti(spec), "exceed the cap", new VolumeReadOptions { MaxBytes = 1_000_000 });
    }

    [Fact]
    public void Truncated_data_is_reported()
    {
        var spec = new NiftiSpec();
        AssertInvalid(Nifti(spec, dataBytes: 20), "truncated");
        AssertInvalid(Nifti(spec, dataBytes: 20, gzip: true), "truncated");
        // A gzip stream cut in the middle.
        string path = Nifti(spec, dataBytes: 48, gzip: true, name: "cut.nii");
        byte[] bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..(bytes.Length / 2)]);
        Exception e = Assert.Throws<InvalidImageException>(() => VolumeIo.Read(path));
        Assert.Contains("NIfTI", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Corrupt_gzip_bytes_are_invalid_format()
    {
        string path = Nifti(new NiftiSpec(), dataBytes: 4000, gzip: true, name: "corrupt.nii");
        byte[] bytes = File.ReadAllBytes(path);
        for (int i = 30; i < bytes.Length - 8; i += 7)
        {
            bytes[i] ^= 0x5a;
        }

        File.WriteAllBytes(path, bytes);
        Assert.Throws<InvalidImageException>(() => VolumeIo.Read(path));
    }

    [Fact]
    public void A_gzip_stream_that_inflates_past_the_declared_size_is_refused_inflating_only_a_margin_past_it()
    {
        // 48 declared bytes followed by 256 MB of zeros in the stream.
        string path = temp.File("long.nii.gz");
        using (var file = File.Create(path))
        using (var gzip = new GZipStream(file, CompressionLevel.Fastest))
        {
            var spec = new NiftiSpec();
            gzip.Write(spec.Header());
            gzip.Write(new byte[4]);
            gzip.Write(Enumerable.Range(0, 48).Select(i => (byte)i).ToArray());
            byte[] zeros = new byte[1 << 20];
            for (int i = 0; i < 256; i++)
            {
                gzip.Write(zeros);
            }
        }

        // The stream is not the file its header describes: refused, having inflated at most a 1 MiB margin past the data.
        long before = GC.GetAllocatedBytesForCurrentThread();
        InvalidImageException refused = Assert.Throws<InvalidImageException>(() => VolumeIo.Read(path));
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 8 << 20);
        Assert.Contains("inflates beyond", refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Unknown_content_is_refused_whatever_the_name()
    {
        File.WriteAllText(temp.File("fake.nii.gz"), "hello, I am not an image");
        var e = AssertInvalid(temp.File("fake.nii.gz"), "magic bytes");
        Assert.Contains("not a NIfTI", e.Message, StringComparison.Ordinal);
        File.WriteAllBytes(temp.File("empty.nrrd"), []);
        AssertInvalid(temp.File("empty.nrrd"), "(empty file)");
        Assert.Throws<FileNotFoundException>(() => VolumeIo.Read(temp.File("missing.nii")));
    }

    public static TheoryData<string, string> NrrdCases() => new()
    {
        { "NRRD0004\ndimension: 3\nsizes: 2 2 2\nencoding: raw\n\n", "type = (missing)" },
        { "NRRD0004\ntype: short\ndimension: 3\nsizes: 2 2\nencoding: raw\nendian: little\n\n", "sizes" },
        { "NRRD0004\ntype: short\ndimension: 3\nsizes: 2 -2 2\nencoding: raw\nendian: little\n\n", "sizes" },
        { "NRRD0004\ntype: short\ndimension: 3\nsizes: 2 2 99999999999999999999\nencoding: raw\nendian: little\n\n", "sizes" },
        { "NRRD0004\ntype: short\ndimension: 3\nsizes: 2 2 2\nencoding: bzip2\nendian: little\n\n", "encoding = \"bzip2\"" },
        { "NRRD0004\ntype: short\ndimension: 3\nsizes: 2 2 2\nencoding: raw\n\n", "endian = (missing)" },
        { "NRRD0004\ntype: complex\ndimension: 3\nsizes: 2 2 2\nencoding: raw\n\n", "type = \"complex\"" },
        { "NRRD0004\ntype: uchar\ndimension: 9\nsizes: 2 2 2\nencoding: raw\n\n", "dimension = 9" },
        { "NRRD0004\ntype: uchar\ndimension: 3\nsizes: 2 2 2\nencoding: raw\nspace: RAS\nspace directions: (1,0,0) (0,1,0)\n\n", "space directions" },
        { "NRRD0004\ntype: uchar\ndimension: 3\nsizes: 2 2 2\nencoding: raw\nspace: RAS\nspace directions: (1,0,0) (0,0,0) (0,0,1)\n\n", "zero spacing" },
        { "NRRD0004\ntype: uchar\ndimension: 3\nsizes: 2 2 2\nencoding: raw\nspace: RAS\nspace directions: (1,0,0) (0,1,0) (0,0,1)\nspace origin: (nan,0,0)\n\n", "space origin" },
        { "NRRD0004\ntype: uchar\ndimension: 3\nsizes: 2 2 2\nencoding: raw\nspacings: 1 0 1\n\n", "spacings" },
        { "NRRD0004\ntype: uchar\ndimension: 3\nsizes: 2 2 2\nencoding: raw\nspacings: 1 nan 1\n\n", "NaN spacing" },
        { "NRRD0004\ntype: uchar\ndimension: 3\nsizes: 2 2 2\nencoding: raw\nspace: martian\n\n", "space = \"martian\"" },
        { "NRRD0004\ntype: uchar\ntype: uchar\ndimension: 3\nsizes: 2 2 2\nencoding: raw\n\n", "appears twice" },
        { "NRRD0004\ntype: uchar\ndimension: 3\nsizes: 4 4 4\nencoding: raw\n\n", "truncated" },
        { "NRRD0004\nthis is not a field\n\n", "header line 2" },
        { "NRRD9999\ntype: uchar\n\n", "magic" },
        { "NRRD0004\ntype: uchar\ndimension: 4294967299\nsizes: 2 2 2\nencoding: raw\n\n", "dimension = 4294967299" },
        { "NRRD0004\ntype: uchar\ndimension: 3\nsizes: 2 2 2\nencoding: gzip\nbyte skip: 9223372036854775000\n\n", "byte skip" },
        { "NRRD0004\ntype: uchar\ndimension: 3\nsizes: 2 2 2\nencoding: raw\nbyte skip: 9223372036854775000\n\n", "byte skip" },
    };

    [Theory]
    [MemberData(nameof(NrrdCases))]
    public void Nrrd_header_faults_name_the_field(string header, string expected)
    {
        string path = temp.File("bad.nrrd");
        File.WriteAllBytes(path, [.. Encoding.ASCII.GetBytes(header), .. new byte[8]]);
        AssertInvalid(path, expected);
    }

    [Fact]
    public void A_nrrd_header_without_end_is_refused_at_the_cap()
    {
        string path = temp.File("endless.nrrd");
        using (var writer = new StreamWriter(path))
        {
            writer.Write("NRRD0004\n");
            for (int i = 0; i < 200_000; i++)
            {
                writer.Write("# comment line that never ends the header\n");
            }
        }

        AssertInvalid(path, "no end");
    }

    public static TheoryData<string, Func<byte[]>, string> MrcCases() => new()
    {
        { "nx zero", () => MrcTests.Mrc(1, 0, 3, 2, new byte[48], false), "nx = 0" },
        { "complex", () => MrcTests.Mrc(4, 4, 3, 2, new byte[192], false), "mode = 4" },
        { "unknown mode", () => MrcTests.Mrc(77, 4, 3, 2, new byte[48], false), "mode = 77" },
        { "zero cell", () => MrcTests.Mrc(1, 4, 3, 2, new byte[48], false, cell: [0, 1, 1]), "cella.x = 0" },
        { "nan cell", () => MrcTests.Mrc(1, 4, 3, 2, new byte[48], false, cell: [1, float.NaN, 1]), "cella.y = NaN" },
        { "bad map", () => MrcTests.Mrc(1, 4, 3, 2, new byte[48], false, map: [1, 1, 3]), "mapc/mapr/maps" },
        { "truncated", () => MrcTests.Mrc(1, 4, 3, 2, new byte[20], false), "truncated" },
        { "ext header past end", () => WithInt32(MrcTests.Mrc(1, 4, 3, 2, new byte[48], false), 92, 5000), "nsymbt + data size" },
        { "huge", () => MrcTests.Mrc(2, 2000, 2000, 2000, new byte[48], false), "exceed the cap" },
    };

    private static byte[] WithInt32(byte[] bytes, int at, int value)
    {
        BitConverter.GetBytes(value).CopyTo(bytes, at);
        return bytes;
    }

    [Theory]
    [MemberData(nameof(MrcCases))]
    public void Mrc_header_faults_name_the_field(string name, Func<byte[]> make, string expected)
    {
        Assert.NotNull(name);
        string path = temp.File("bad.mrc");
        File.WriteAllBytes(path, make());
        AssertInvalid(path, expected);
    }

    [Fact]
    public void A_negative_extended_header_is_refused()
    {
        byte[] bytes = MrcTests.Mrc(1, 4, 3, 2, new byte[48], false);
        BitConverter.GetBytes(-5).CopyTo(bytes, 92);
        File.WriteAllBytes(temp.File("n.mrc"), bytes);
        AssertInvalid(temp.File("n.mrc"), "nsymbt = -5");
    }
}
