using System.Globalization;
using System.Text;
using KneeWeb.Tests.TestData;

namespace KneeWeb.Tests.Inference.NnUnet;

/// <summary>The committed nnU-Net fixtures (scripts/nnunet/make_fixtures.py) and a reader for their .npy references.</summary>
public static class NnUnetFixtures
{
    public const string Plain = "Dataset701_KneeSynonyms/nnUNetTrainer__nnUNetPlans__3d_fullres";
    public const string Lowres = "Dataset702_KneeCascade/nnUNetTrainer__nnUNetResEncUNetMPlans__3d_lowres";
    public const string Cascade = "Dataset702_KneeCascade/nnUNetTrainer__nnUNetResEncUNetMPlans__3d_cascade_fullres";
    public const string OldPlans = "Dataset703_KneeOldPlans/nnUNetTrainer__nnUNetPlans__3d_fullres";

    public static readonly string[] Folders = [Plain, Lowres, Cascade, OldPlans];

    public static string Root => Path.GetDirectoryName(TestFiles.PathOf("NnUnet/hostile/README.md"))![..^"/hostile".Length];

    public static string Folder(string relative) => Path.Combine(Root, relative);

    /// <summary>Every checkpoint file of the fixtures, relative to the NnUnet folder.</summary>
    public static IEnumerable<string> Checkpoints() =>
        Folders.SelectMany(f => Directory.EnumerateFiles(Folder(f), "checkpoint_*.pth", SearchOption.AllDirectories))
            .Select(p => Path.GetRelativePath(Root, p))
            .Order(StringComparer.Ordinal);

    /// <summary>
    /// Imports a fixture folder with KneeWeb's own importer (the `models import-nnunet` code path)
    /// under <paramref name="name"/>; a cascade brings its low-res parent as "NAME-3d-lowres".
    /// </summary>
    public static IReadOnlyList<KneeWeb.Inference.NnUnet.NnUnetImportedModel> Import(string relative, string modelsFolder, string name) =>
        KneeWeb.Inference.NnUnet.NnUnetImporter.Import(new KneeWeb.Inference.NnUnet.NnUnetImportOptions { TrainedFolder = Folder(relative), OutputFolder = modelsFolder, Name = name }).Models;

    /// <summary>Copies a fixture's dataset folder to a temp folder so a test may edit its files.</summary>
    public static string CopyDataset(string relative, string destination)
    {
        string dataset = relative.Split('/')[0];
        string source = Folder(dataset);
        foreach (string file in Directory.EnumerateFiles(source, "*", SearchOption.AllDirectories))
        {
            string target = Path.Combine(destination, dataset, Path.GetRelativePath(source, file));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target);
        }

        return Path.Combine(destination, relative);
    }
}

/// <summary>A float32 (or float64) little-endian C-order .npy array, as numpy.save writes it.</summary>
public sealed record NpyArray(long[] Shape, float[] Data)
{
    public static NpyArray Read(string path)
    {
        byte[] bytes = File.ReadAllBytes(path);
        if (bytes.Length < 10 || bytes[0] != 0x93 || Encoding.ASCII.GetString(bytes, 1, 5) != "NUMPY")
        {
            throw new InvalidDataException($"{path} is not a .npy file");
        }

        int major = bytes[6];
        int headerLength = major == 1 ? BitConverter.ToUInt16(bytes, 8) : BitConverter.ToInt32(bytes, 8);
        int start = major == 1 ? 10 : 12;
        string header = Encoding.ASCII.GetString(bytes, start, headerLength);
        if (header.Contains("'fortran_order': True", StringComparison.Ordinal))
        {
            throw new InvalidDataException("Fortran order is not read");
        }

        string descr = Between(header, "'descr': '", "'");
        string shapeText = Between(header, "'shape': (", ")");
        long[] shape = [.. shapeText.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(s => long.Parse(s, CultureInfo.InvariantCulture))];
        int offset = start + headerLength;
        float[] data = descr switch
        {
            "<f4" => [.. System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(bytes.AsSpan(offset))],
            "<f8" => [.. System.Runtime.InteropServices.MemoryMarshal.Cast<byte, double>(bytes.AsSpan(offset)).ToArray().Select(d => (float)d)],
            _ => throw new InvalidDataException($"dtype {descr} is not read"),
        };
        return new NpyArray(shape, data);
    }

    private static string Between(string text, string start, string end)
    {
        int a = text.IndexOf(start, StringComparison.Ordinal) + start.Length;
        return text[a..text.IndexOf(end, a, StringComparison.Ordinal)];
    }
}
