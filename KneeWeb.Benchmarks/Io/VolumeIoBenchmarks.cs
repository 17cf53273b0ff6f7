using BenchmarkDotNet.Attributes;
using KneeWeb.Imaging;
using KneeWeb.Imaging.Io;

namespace KneeWeb.Benchmarks.Io;

/// <summary>
/// Reading and writing a 256x256x100 int16 volume in each format
/// (`dotnet run -c Release --project KneeWeb.Benchmarks -- --filter '*VolumeIo*'`).
/// </summary>
[MemoryDiagnoser]
public class VolumeIoBenchmarks
{
    private readonly string folder = Path.Combine(Path.GetTempPath(), "kneeweb-bench-io");
    private Volume volume = null!;

    [Params(".nii.gz", ".nii", ".nrrd", ".mrc")]
    public string Extension { get; set; } = ".nii.gz";

    private string PathFor(string stem) => System.IO.Path.Combine(folder, stem + Extension);

    [GlobalSetup]
    public void Setup()
    {
        Directory.CreateDirectory(folder);
        var dims = new Dims3(256, 256, 100);
        var values = new short[dims.VoxelCount];
        var random = new Random(3);
        for (long i = 0; i < values.LongLength; i++)
        {
            values[i] = (short)((i % 256 < 128 ? 500 : 100) + random.Next(40));
        }

        volume = new Volume(new VolumeGeometry(dims, AffineRas.FromSpacing(new Vec3d(0.5, 0.5, 1.5), new Vec3d(-64, -64, -75))), VoxelType.Int16, values);
        VolumeIo.Write(volume, PathFor("read"));
    }

    [Benchmark]
    public Volume Read() => VolumeIo.Read(PathFor("read"));

    [Benchmark]
    public float[] ReadToFloat32() => VolumeIo.Read(PathFor("read")).ToFloat32();

    [Benchmark]
    public Volume ReadAsFloat32() => VolumeIo.Read(PathFor("read"), new VolumeReadOptions { AsFloat32 = true });

    [Benchmark]
    public void Write() => VolumeIo.Write(volume, PathFor("write"));
}
