using System.Diagnostics;
using System.IO.Compression;
using System.Text;
using KneeWeb.Imaging;
using KneeWeb.Imaging.Io;
using Xunit;
using KneeWeb.Tests.TestData;

namespace KneeWeb.Tests.Imaging.Io;

/// <summary>
/// Mutation fuzzing of each header parser: thousands of mutated headers, each read under small
/// caps. Allowed outcomes: a volume, or InvalidImageException. Anything else (a crash), a read
/// slower than 5 s (a hang) or an allocation past the cap fails the test with the case to replay.
/// </summary>
[Trait("Category", "unit")]
public sealed class HeaderFuzzTests : IDisposable
{
    // A hang guard, not a speed bound (the allocation bounds show a hostile file costs no real work).
    private static readonly TimeSpan HangGuard = TimeSpan.FromMinutes(2);

    private const int Iterations = 1500;

    private static readonly VolumeReadOptions Caps = new() { MaxVoxels = 1 << 20, MaxBytes = 4 << 20 };

    private static readonly long[] Interesting =
    [
        0, 1, -1, 2, 3, 4, 7, 8, 16, 255, 256, 348, 352, 540, 544, 1024, short.MaxValue, short.MinValue, ushort.MaxValue,
        int.MaxValue, int.MinValue, long.MaxValue, long.MinValue, 1L << 31, 1L << 32, 1L << 40,
        BitConverter.SingleToInt32Bits(float.NaN), BitConverter.SingleToInt32Bits(float.PositiveInfinity),
        BitConverter.SingleToInt32Bits(1e30f), BitConverter.SingleToInt32Bits(-1f), BitConverter.SingleToInt32Bits(0.5f),
        BitConverter.DoubleToInt64Bits(double.NaN), BitConverter.DoubleToInt64Bits(1e300),
    ];

    private static readonly string[] Tokens =
    [
        "-1", "0", "1", "3", "4", "99999999999", "99999999999999999999999", "nan", "inf", "(nan,0,0)", "(0,0,0)", "(1,0,0)",
        "none", "", "../x.raw", "/etc/passwd", "gzip", "raw", "bzip2", "big", "little", "short", "double", "block",
        "RAS", "LPS", "martian", "2 2", "2 2 2 2", "1e308 1 1", "LIST", "x%03d.raw", "(1,0,0) (0,1,0)",
    ];

    private readonly TempFolder temp = new();

    public void Dispose() => temp.Dispose();

    [Theory]
    [InlineData("nii", 11)]
    [InlineData("nii.gz", 12)]
    [InlineData("nii2", 13)]
    [InlineData("nii-be", 14)]
    [InlineData("nrrd", 15)]
    [InlineData("nrrd-gz", 16)]
    [InlineData("mrc", 17)]
    [InlineData("nii-kneeweb", 18)]
    public void Mutated_headers_never_crash_hang_or_allocate_past_the_cap(string kind, int seed)
    {
        (byte[] original, int headerLength, bool gzip) = Seed(kind);
        var random = new Random(seed);
        string path = temp.File("fuzz." + (kind.StartsWith("nrrd", StringComparison.Ordinal) ? "nrrd" : kind.StartsWith("mrc", StringComparison.Ordinal) ? "mrc" : "nii"));
        int read = 0, refused = 0;
        for (int n = 0; n < Iterations; n++)
        {
            byte[] mutated = kind.StartsWith("nrrd", StringComparison.Ordinal) && random.Next(2) == 0
                ? MutateText(original, headerLength, random)
                : MutateBinary(original, headerLength, random);
            NiftiSpec.WriteMaybeGzip(path, mutated, gzip);
            long before = GC.GetAllocatedBytesForCurrentThread();
            var clock = Stopwatch.StartNew();
            try
            {
                VolumeIo.Read(path, Caps);
                read++;
            }
            catch (InvalidImageException e)
            {
                Assert.False(string.IsNullOrWhiteSpace(e.Message));
                refused++;
            }
            catch (Exception e)
            {
                File.WriteAllBytes(temp.File("crash.bin"), mutated);
                Assert.Fail($"{kind} mutation {n} crashed with {e.GetType().Name}: {e.Message}\n{e.StackTrace}");
            }

            long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            Assert.True(allocated < Caps.MaxBytes + (4 << 20), $"{kind} mutation {n} allocated {allocated} bytes");
            Assert.True(clock.Elapsed < HangGuard, $"{kind} mutation {n} took {clock.Elapsed}");
        }

        // Both outcomes must occur, or the mutations are not exercising the parser.
        Assert.True(read > 0 && refused > 0, $"{kind}: {read} read, {refused} refused");
    }

    private static (byte[] Bytes, int HeaderLength, bool Gzip) Seed(string kind)
    {
        byte[] data = VoxelFixtures.Bytes(VoxelFixtures.Values(VoxelType.Int16, 4 * 3 * 2), kind == "nii-be");
        switch (kind)
        {
            case "nii":
            case "nii.gz":
            case "nii-be":
            case "nii2":
                var spec = new NiftiSpec
                {
                    Version = kind == "nii2" ? 2 : 1,
                    BigEndian = kind == "nii-be",
                    QformCode = 1,
                    SformCode = 1,
                    Quatern = [0, 0, 0.5, 1, 2, 3],
                    Slope = 2,
                    Inter = 1,
                    Srow = [1, 0, 0, 1, 0, 1, 0, 2, 0, 0, 1, 3],
                };
                byte[] file = [.. spec.Header(), 0, 0, 0, 0, .. data];
                return (file, spec.HeaderSize + 4, kind == "nii.gz");
            case "nii-kneeweb":
                // KneeWeb's own output: header, extender, the double-precision affine extension, data.
                string written = Path.Combine(Path.GetTempPath(), "kneeweb-fuzz-seed-" + Guid.NewGuid().ToString("N")[..8] + ".nii");
                var affine = new AffineRas(0.3, 0.01, 0, -12.5, -0.01, 0.3, 0, 8.25, 0, 0, 1.1, 3);
                VolumeIo.Write(new Volume(new VolumeGeometry(new Dims3(4, 3, 2), affine), VoxelType.Int16, VoxelFixtures.Values(VoxelType.Int16, 24)), written);
                byte[] own = File.ReadAllBytes(written);
                File.Delete(written);
                return (own, own.Length - 48, false);
            case "nrrd":
            case "nrrd-gz":
                bool gz = kind == "nrrd-gz";
                string header = "NRRD0004\ntype: short\ndimension: 3\nspace: left-posterior-superior\nsizes: 4 3 2\n" +
                    "space directions: (1,0,0) (0,1,0) (0,0,1)\nkinds: domain domain domain\nendian: little\n" +
                    $"encoding: {(gz ? "gzip" : "raw")}\nspace origin: (1,2,3)\n\n";
                byte[] head = Encoding.ASCII.GetBytes(header);
                return ([.. head, .. NrrdTests.Encode(data, gz)], head.Length, false);
            default:
                return (MrcTests.Mrc(1, 4, 3, 2, data, false, nsymbt: 16), 1024, false);
        }
    }

    private static byte[] MutateBinary(byte[] original, int headerLength, Random random)
    {
        byte[] bytes = (byte[])original.Clone();
        int edits = 1 + random.Next(4);
        for (int e = 0; e < edits; e++)
        {
            switch (random.Next(4))
            {
                case 0:
                    bytes[random.Next(headerLength)] ^= (byte)(1 << random.Next(8));
                    break;
                case 1:
                    bytes[random.Next(headerLength)] = (byte)random.Next(256);
                    break;
                default:
                    int width = new[] { 2, 4, 8 }[random.Next(3)];
                    int at = random.Next(Math.Max(1, headerLength - width)) & ~(width - 1);
                    long value = Interesting[random.Next(Interesting.Length)];
                    byte[] v = BitConverter.GetBytes(value);
                    if (random.Next(2) == 0)
                    {
                        Array.Reverse(v, 0, width);
                    }

                    Array.Copy(v, 0, bytes, at, width);
                    break;
            }
        }

        if (random.Next(8) == 0)
        {
            Array.Resize(ref bytes, random.Next(bytes.Length));
        }

        return bytes;
    }

    private static byte[] MutateText(byte[] original, int headerLength, Random random)
    {
        string header = Encoding.ASCII.GetString(original, 0, headerLength - 1);
        var lines = header.Split('\n').ToList();
        int edits = 1 + random.Next(3);
        for (int e = 0; e < edits; e++)
        {
            int line = 1 + random.Next(lines.Count - 1);
            switch (random.Next(4))
            {
                case 0:
                    int colon = lines[line].IndexOf(": ", StringComparison.Ordinal);
                    lines[line] = colon > 0 ? lines[line][..(colon + 2)] + Tokens[random.Next(Tokens.Length)] : Tokens[random.Next(Tokens.Length)];
                    break;
                case 1:
                    lines.RemoveAt(line);
                    break;
                case 2:
                    lines.Insert(line, lines[random.Next(lines.Count)]);
                    break;
                default:
                    lines.Insert(line, "data file: " + Tokens[random.Next(Tokens.Length)]);
                    break;
            }

            if (lines.Count < 2)
            {
                break;
            }
        }

        byte[] head = Encoding.ASCII.GetBytes(string.Join('\n', lines) + "\n");
        return [.. head, .. original.AsSpan(headerLength)];
    }
}

/// <summary>Mutated zips: refused with DICOM_ERROR (or INVALID_FORMAT once not a zip), never a crash, nothing outside the work folder.</summary>
[Trait("Category", "unit")]
public sealed class ZipFuzzTests : IDisposable
{
    private readonly TempFolder temp = new();

    public void Dispose() => temp.Dispose();

    [Fact]
    public void Mutated_zips_are_refused_cleanly()
    {
        string source = temp.File("seed.zip");
        using (var archive = ZipFile.Open(source, ZipArchiveMode.Create))
        {
            foreach (string name in new[] { "a/one.txt", "a/two.txt", "b/three.txt" })
            {
                using Stream s = archive.CreateEntry(name).Open();
                s.Write(Encoding.ASCII.GetBytes(new string('x', 300) + name));
            }
        }

        byte[] original = File.ReadAllBytes(source);
        var random = new Random(21);
        string path = temp.File("fuzz.zip");
        string work = temp.File("work");
        Directory.CreateDirectory(work);
        var options = new VolumeReadOptions { WorkFolder = work, MaxArchiveBytes = 1 << 20, MaxArchiveEntries = 50 };
        for (int n = 0; n < 300; n++)
        {
            byte[] bytes = (byte[])original.Clone();
            for (int e = 0, edits = 1 + random.Next(4); e < edits; e++)
            {
                int at = random.Next(bytes.Length);
                bytes[at] = random.Next(3) == 0 ? (byte)0xff : (byte)random.Next(256);
            }

            File.WriteAllBytes(path, bytes);
            var clock = Stopwatch.StartNew();
            try
            {
                VolumeIo.Read(path, options);
                Assert.Fail($"mutation {n}: a zip of text files read as an image");
            }
            catch (DicomSeriesException)
            {
            }
            catch (InvalidImageException)
            {
            }
            catch (Exception e) when (e is not Xunit.Sdk.XunitException)
            {
                File.WriteAllBytes(temp.File("crash.zip"), bytes);
                Assert.Fail($"mutation {n} crashed with {e.GetType().Name}: {e.Message}\n{e.StackTrace}");
            }

            Assert.True(clock.Elapsed < TimeSpan.FromMinutes(2), $"mutation {n} took {clock.Elapsed}");
            Assert.Empty(Directory.EnumerateFileSystemEntries(work));
        }
    }
}
