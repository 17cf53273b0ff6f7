using System.IO.Compression;
using KneeWeb.Imaging;
using KneeWeb.Imaging.Io;
using Xunit;
using KneeWeb.Tests.TestData;

namespace KneeWeb.Tests.Imaging.Io;

/// <summary>
/// DICOM series made here with pydicom (two series, known geometry and pixel values, identifying
/// tags filled in), converted by the real dcm2niix.
/// </summary>
[Trait("Category", "unit")]
public sealed class DicomTests : IDisposable
{
    internal const string Generator = """
        import sys, os, numpy as np
        from pydicom.dataset import Dataset, FileMetaDataset
        from pydicom.uid import ExplicitVRLittleEndian, generate_uid
        MR = '1.2.840.10008.5.1.4.1.1.4'
        def series(folder, number, desc, nslices, rows, cols, spacing, thick, iop, origin, study):
            suid = generate_uid()
            os.makedirs(folder, exist_ok=True)
            r = np.array(iop[:3], float); c = np.array(iop[3:], float); n = np.cross(r, c)
            for k in range(nslices):
                meta = FileMetaDataset()
                meta.MediaStorageSOPClassUID = MR
                sop = generate_uid()
                meta.MediaStorageSOPInstanceUID = sop
                meta.TransferSyntaxUID = ExplicitVRLittleEndian
                ds = Dataset(); ds.file_meta = meta
                ds.is_little_endian = True; ds.is_implicit_VR = False
                ds.SOPClassUID = MR; ds.SOPInstanceUID = sop
                ds.StudyInstanceUID = study; ds.SeriesInstanceUID = suid
                ds.PatientName = 'Secret^Patient'; ds.PatientID = 'ID12345'; ds.PatientBirthDate = '19700101'
                ds.InstitutionName = 'Secret Hospital'; ds.ReferringPhysicianName = 'Doctor^Who'; ds.AccessionNumber = 'ACC999'
                ds.StudyDate = '20240102'; ds.SeriesDate = '20240102'; ds.AcquisitionDate = '20240102'; ds.AcquisitionTime = '101112.000000'
                ds.Modality = 'MR'; ds.Manufacturer = 'ACME'; ds.ManufacturerModelName = 'Phantom 3000'; ds.MagneticFieldStrength = 3
                ds.SeriesDescription = desc; ds.ProtocolName = desc; ds.SeriesNumber = number; ds.InstanceNumber = k + 1
                ds.ScanningSequence = 'SE'; ds.SequenceVariant = 'SK'; ds.SequenceName = 'tse2d1'; ds.MRAcquisitionType = '2D'
                ds.EchoTime = 30; ds.RepetitionTime = 3000; ds.FlipAngle = 150; ds.AcquisitionNumber = 1
                ds.ImageOrientationPatient = [float(x) for x in iop]
                ds.ImagePositionPatient = [float(x) for x in np.array(origin, float) + n * thick * k]
                ds.PixelSpacing = [spacing[0], spacing[1]]
                ds.SliceThickness = thick; ds.SpacingBetweenSlices = thick
                ds.Rows = rows; ds.Columns = cols
                ds.SamplesPerPixel = 1; ds.PhotometricInterpretation = 'MONOCHROME2'
                ds.BitsAllocated = 16; ds.BitsStored = 16; ds.HighBit = 15; ds.PixelRepresentation = 1
                ii, jj = np.meshgrid(np.arange(cols), np.arange(rows))
                ds.PixelData = (ii + 10 * jj + 100 * k).astype('<i2').tobytes()
                ds.save_as(os.path.join(folder, f'IM{number:03d}_{k:04d}.dcm'), write_like_original=False)
        out = sys.argv[1] if len(sys.argv) > 1 else OUT
        study = generate_uid()
        series(os.path.join(out, 'a'), 3, 'T2 SAG', 6, 8, 10, (0.5, 0.6), 2.0, [0, 1, 0, 0, 0, -1], [-20, -30, 40], study)
        if TWO:
            series(os.path.join(out, 'b'), 5, 'PD COR', 4, 8, 8, (0.7, 0.7), 3.0, [1, 0, 0, 0, 0, -1], [-10, 5, 15], study)
        """;

    private readonly TempFolder temp = new();

    public void Dispose() => temp.Dispose();

    private string MakeSeries(bool two)
    {
        string folder = temp.File("dicom");
        PythonTools.Run($"OUT = r'{folder}'\nTWO = {(two ? "True" : "False")}\n" + Generator);
        return folder;
    }

    private string Zip(string folder)
    {
        string zip = temp.File("series.zip");
        ZipFile.CreateFromDirectory(folder, zip);
        return zip;
    }

    private VolumeReadOptions Options => new() { WorkFolder = temp.File("work") };

    [Fact]
    public void Several_series_are_listed_in_the_error_and_the_option_chooses_one()
    {
        string zip = Zip(MakeSeries(two: true));
        Directory.CreateDirectory(temp.File("work"));
        Assert.Equal(ImageFormat.DicomZip, VolumeIo.DetectFormat(zip));

        var e = Assert.Throws<DicomSeriesException>(() => VolumeIo.Read(zip, Options));
        Assert.Contains("2 series", e.Message, StringComparison.Ordinal);
        Assert.Contains("\"T2 SAG\" (6 images", e.Message, StringComparison.Ordinal);
        Assert.Contains("\"PD COR\" (4 images", e.Message, StringComparison.Ordinal);

        IReadOnlyList<DicomSeriesInfo> list = VolumeIo.ListDicomSeries(zip, Options);
        Assert.Equal(2, list.Count);

        Volume byNumber = VolumeIo.Read(zip, Options with { DicomSeries = "3" });
        Assert.Equal("T2 SAG", byNumber.Metadata!.Properties["SeriesDescription"]);
        Volume byName = VolumeIo.Read(zip, Options with { DicomSeries = "pd cor" });
        Assert.Equal("5", byName.Metadata!.Properties["SeriesNumber"]);
        Assert.Equal(8 * 8 * 4, byName.Dims.VoxelCount);

        Assert.Throws<DicomSeriesException>(() => VolumeIo.Read(zip, Options with { DicomSeries = "T1" }));
        Assert.Empty(Directory.EnumerateFileSystemEntries(temp.File("work"))); // work folders are cleaned up
    }

    [Fact]
    public void A_single_series_folder_reads_with_its_geometry_and_without_identifying_tags()
    {
        string folder = MakeSeries(two: false);
        Assert.Equal(ImageFormat.DicomFolder, VolumeIo.DetectFormat(folder));
        Directory.CreateDirectory(temp.File("work"));
        Volume volume = VolumeIo.Read(folder, Options);
        Assert.Equal("DICOM", volume.Metadata!.Format);
        IReadOnlyDictionary<string, string> p = volume.Metadata.Properties;
        Assert.Equal("T2 SAG", p["SeriesDescription"]);
        Assert.Equal("3", p["MagneticFieldStrength"]);
        Assert.Equal("tse2d1", p["SequenceName"]);
        Assert.Contains("2024-01-02", p["AcquisitionDateTime"], StringComparison.Ordinal);
        foreach (string value in p.Values.Concat(p.Keys))
        {
            Assert.DoesNotContain("Secret", value, StringComparison.OrdinalIgnoreCase);
            Assert.DoesNotContain("ID12345", value, StringComparison.Ordinal);
            Assert.DoesNotContain("1970", value, StringComparison.Ordinal);
            Assert.DoesNotContain("Doctor", value, StringComparison.Ordinal);
        }

        Assert.False(p.ContainsKey("PatientName"));
        Assert.False(p.ContainsKey("InstitutionName"));
        Assert.False(p.ContainsKey("SeriesInstanceUID"));

        // Geometry: every voxel's RAS position, taken back to LPS and to the DICOM grid, must find
        // the value the generator put there (col + 10 * row + 100 * slice), whatever order dcm2niix chose.
        Assert.Equal(10 * 8 * 6, volume.Dims.VoxelCount);
        float[] values = volume.ToFloat32();
        var row = new Vec3d(0, 1, 0);
        var column = new Vec3d(0, 0, -1);
        Vec3d normal = row.Cross(column);
        var origin = new Vec3d(-20, -30, 40);
        Dims3 d = volume.Dims;
        for (int k = 0; k < d.K; k++)
        {
            for (int j = 0; j < d.J; j++)
            {
                for (int i = 0; i < d.I; i++)
                {
                    Vec3d ras = volume.Geometry.IndexToRas.Apply(new Vec3d(i, j, k));
                    Vec3d offset = new Vec3d(-ras.X, -ras.Y, ras.Z) - origin;
                    double col = offset.Dot(row) / 0.6, rowIndex = offset.Dot(column) / 0.5, slice = offset.Dot(normal) / 2.0;
                    Assert.True(Math.Abs(col - Math.Round(col)) < 1e-3 && Math.Abs(rowIndex - Math.Round(rowIndex)) < 1e-3 && Math.Abs(slice - Math.Round(slice)) < 1e-3,
                        $"voxel ({i},{j},{k}) lands off the DICOM grid at ({col}, {rowIndex}, {slice})");
                    float expected = (float)(Math.Round(col) + (10 * Math.Round(rowIndex)) + (100 * Math.Round(slice)));
                    Assert.Equal(expected, values[d.Index(i, j, k)]);
                }
            }
        }
    }

    [Fact]
    public void A_single_dicom_file_reads_as_a_one_slice_volume()
    {
        string folder = MakeSeries(two: false);
        string file = Directory.EnumerateFiles(Path.Combine(folder, "a")).Order(StringComparer.Ordinal).First();
        Assert.Equal(ImageFormat.DicomFile, VolumeIo.DetectFormat(file));
        Directory.CreateDirectory(temp.File("work"));
        Volume volume = VolumeIo.Read(file, Options);
        Assert.Equal(10 * 8, volume.Dims.VoxelCount);
        Assert.Equal("T2 SAG", volume.Metadata!.Properties["SeriesDescription"]);
        // Slice 0: value = column + 10 * row; the corner voxel at the DICOM origin holds 0.
        Vec3d origin = volume.Geometry.IndexToRas.Inverse().Apply(new Vec3d(20, 30, 40));
        var index = new Vec3d(Math.Round(origin.X), Math.Round(origin.Y), Math.Round(origin.Z));
        Assert.True((origin - index).Length < 1e-3, $"DICOM origin lands at index {origin}");
        Assert.Equal(0f, volume.ToFloat32()[volume.Dims.Index((int)index.X, (int)index.Y, (int)index.Z)]);
    }

    [Fact]
    public void A_zip_without_dicom_is_a_dicom_error()
    {
        Directory.CreateDirectory(temp.File("junk"));
        File.WriteAllText(temp.File("junk/readme.txt"), "not an image");
        string zip = Zip(temp.File("junk"));
        Directory.CreateDirectory(temp.File("work"));
        var e = Assert.Throws<DicomSeriesException>(() => VolumeIo.Read(zip, Options));
        Assert.Contains("DICOM", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_missing_dcm2niix_says_what_to_install()
    {
        string folder = temp.File("empty");
        Directory.CreateDirectory(folder);
        File.WriteAllText(Path.Combine(folder, "x.dcm"), "x");
        var e = Assert.Throws<DicomSeriesException>(() => VolumeIo.Read(folder, new VolumeReadOptions { Dcm2NiixPath = "/nonexistent/dcm2niix" }));
        Assert.Contains("install the Debian package dcm2niix", e.Message, StringComparison.Ordinal);
        Assert.True(File.Exists("/usr/bin/dcm2niix"), "dcm2niix is missing: apt-get install dcm2niix");
    }
}

/// <summary>Hostile zips: every one must be refused before anything lands outside the fresh folder.</summary>
[Trait("Category", "unit")]
public sealed class HostileZipTests : IDisposable
{
    private readonly TempFolder temp = new();

    public void Dispose() => temp.Dispose();

    private string MakeZip(Action<ZipArchive> build)
    {
        string path = temp.File(Guid.NewGuid().ToString("N") + ".zip");
        using (var archive = ZipFile.Open(path, ZipArchiveMode.Create))
        {
            build(archive);
        }

        return path;
    }

    private static void Add(ZipArchive archive, string name, byte[] content, int? unixMode = null, CompressionLevel level = CompressionLevel.Optimal)
    {
        ZipArchiveEntry entry = archive.CreateEntry(name, level);
        if (unixMode is int mode)
        {
            entry.ExternalAttributes = mode << 16;
        }

        using Stream s = entry.Open();
        s.Write(content);
    }

    private void AssertRefused(string zip, string messagePart, VolumeReadOptions? options = null)
    {
        string work = temp.File("work-" + Guid.NewGuid().ToString("N")[..6]);
        Directory.CreateDirectory(work);
        var e = Assert.Throws<DicomSeriesException>(() => VolumeIo.Read(zip, (options ?? new VolumeReadOptions()) with { WorkFolder = work }));
        Assert.Contains(messagePart, e.Message, StringComparison.Ordinal);
        Assert.Empty(Directory.EnumerateFileSystemEntries(work));
        Assert.False(File.Exists(temp.File("escaped.txt")), "a file escaped the extraction folder");
        Assert.False(File.Exists("/tmp/escaped.txt"), "a file escaped to /tmp");
    }

    [Theory]
    [InlineData("../escaped.txt", "climbs out")]
    [InlineData("a/../../escaped.txt", "climbs out")]
    [InlineData("..\\escaped.txt", "climbs out")]
    [InlineData("/tmp/escaped.txt", "absolute")]
    [InlineData("C:/escaped.txt", "absolute")]
    public void Path_traversal_is_refused(string name, string message) =>
        AssertRefused(MakeZip(a => Add(a, name, "x"u8.ToArray())), message);

    [Fact]
    public void Duplicate_names_and_file_folder_clashes_are_refused()
    {
        AssertRefused(MakeZip(a =>
        {
            Add(a, "x.dcm", [1]);
            Add(a, "x.dcm", [2]);
        }), "could not be extracted");
        AssertRefused(MakeZip(a =>
        {
            Add(a, "d", [1]);
            Add(a, "d/x.dcm", [2]);
        }), "could not be extracted");
    }

    [Fact]
    public void Symbolic_links_are_refused() =>
        AssertRefused(MakeZip(a => Add(a, "link.dcm", "/etc/passwd"u8.ToArray(), unixMode: 0xA1FF)), "symbolic link");

    [Fact]
    public void A_zip_bomb_entry_is_refused_by_its_ratio() =>
        AssertRefused(MakeZip(a => Add(a, "bomb.dcm", new byte[64 << 20], level: CompressionLevel.SmallestSize)), "compression ratio");

    [Fact]
    public void Too_many_entries_are_refused() =>
        AssertRefused(MakeZip(a =>
        {
            for (int i = 0; i < 30; i++)
            {
                Add(a, $"f{i}.dcm", [1]);
            }
        }), "30 entries", new VolumeReadOptions { MaxArchiveEntries = 20 });

    [Fact]
    public void Too_many_bytes_in_total_are_refused() =>
        AssertRefused(MakeZip(a =>
        {
            var random = new Random(1);
            for (int i = 0; i < 4; i++)
            {
                byte[] noise = new byte[300_000];
                random.NextBytes(noise);
                Add(a, $"f{i}.dcm", noise);
            }
        }), "cap on uncompressed size", new VolumeReadOptions { MaxArchiveBytes = 1_000_000 });

    [Fact]
    public void An_entry_lying_about_its_size_is_stopped_at_its_declared_size()
    {
        string zip = MakeZip(a => Add(a, "f.dcm", new byte[200_000], level: CompressionLevel.NoCompression));
        // Shrink the declared uncompressed size in both headers: the data then inflate past it.
        byte[] bytes = File.ReadAllBytes(zip);
        int local = 0;
        PatchSize(bytes, local + 22);
        int central = IndexOf(bytes, [0x50, 0x4b, 0x01, 0x02]);
        PatchSize(bytes, central + 24);
        File.WriteAllBytes(zip, bytes);
        string work = temp.File("work");
        Directory.CreateDirectory(work);
        Exception e = Assert.ThrowsAny<Exception>(() => VolumeIo.Read(zip, new VolumeReadOptions { WorkFolder = work }));
        Assert.True(e is DicomSeriesException && e.Message.Contains("declared", StringComparison.Ordinal), $"unexpected {e.GetType().Name}: {e.Message}");
    }

    [Fact]
    public void A_folder_with_a_link_is_refused()
    {
        string folder = temp.File("dir");
        Directory.CreateDirectory(folder);
        File.WriteAllText(temp.File("outside.txt"), "secret");
        File.CreateSymbolicLink(Path.Combine(folder, "a.dcm"), temp.File("outside.txt"));
        var e = Assert.Throws<DicomSeriesException>(() => VolumeIo.Read(folder));
        Assert.Contains("link", e.Message, StringComparison.Ordinal);
    }

    private static void PatchSize(byte[] bytes, int at) => BitConverter.GetBytes(1000).CopyTo(bytes, at);

    private static int IndexOf(byte[] haystack, byte[] needle) => haystack.AsSpan().IndexOf(needle);
}
