using System.Buffers.Binary;
using System.IO.Compression;
using System.Text.RegularExpressions;

namespace KneeWeb.Inference.NnUnet;

/// <summary>Caps on what one checkpoint file may make the reader hold.</summary>
public sealed record CheckpointLimits
{
    /// <summary>data.pkl is structure only (weights live in separate entries): a few MB at most for nnU-Net.</summary>
    public long MaxPickleBytes { get; init; } = 64L << 20;

    /// <summary>One tensor materialised as float32 (ResEnc-L's largest conv is ~8M).</summary>
    public long MaxTensorElements { get; init; } = 1L << 28;

    /// <summary>All zip entries together, as declared and as inflated.</summary>
    public long MaxTotalBytes { get; init; } = 8L << 30;

    public int MaxEntries { get; init; } = 100_000;

    /// <summary>Inflated/compressed ratio above which an entry over 1 MB is taken for a zip bomb.</summary>
    public double MaxCompressionRatio { get; init; } = 100;

    public PickleLimits Pickle { get; init; } = new();
}

/// <summary>A tensor materialised as contiguous float32 in C order.</summary>
public sealed record FloatTensor(long[] Shape, float[] Data)
{
    public string ShapeText => "[" + string.Join(", ", Shape) + "]";
}

/// <summary>
/// A PyTorch zip checkpoint (torch 1.6+ and 2.x): &lt;prefix&gt;/data.pkl (read with the
/// <see cref="RestrictedUnpickler"/>) and &lt;prefix&gt;/data/&lt;key&gt; raw little-endian storages,
/// read lazily and only for the tensors asked for. Every declared size is checked against the zip
/// entry it names, and every entry is read with a byte count that cannot exceed its declaration.
/// </summary>
public sealed partial class TorchCheckpoint : IDisposable
{
    private readonly ZipArchive archive;
    private readonly Dictionary<string, ZipArchiveEntry> storageEntries = new(StringComparer.Ordinal);
    private readonly Dictionary<string, TorchStorageRef> storages = new(StringComparer.Ordinal);
    private readonly CheckpointLimits limits;

    private TorchCheckpoint(string path, ZipArchive archive, CheckpointLimits limits)
    {
        FilePath = path;
        this.archive = archive;
        this.limits = limits;
    }

    public string FilePath { get; }

    /// <summary>The archive's record prefix (torch: the file's base name when saved).</summary>
    public string Prefix { get; private set; } = string.Empty;

    /// <summary>The unpickled object (for nnU-Net: a dict with network_weights, init_args, ...).</summary>
    public object? Root { get; private set; }

    /// <summary>Opens and unpickles a checkpoint; storages stay in the zip until asked for.</summary>
    public static TorchCheckpoint Open(string path, CheckpointLimits? limits = null)
    {
        limits ??= new CheckpointLimits();
        string name = Path.GetFileName(path);
        ZipArchive archive;
        try
        {
            archive = ZipFile.OpenRead(path);
        }
        catch (InvalidDataException e)
        {
            throw new NnUnetFormatException($"{name} is not a readable PyTorch zip checkpoint (truncated or damaged: {e.Message}). Checkpoints from torch < 1.6 (legacy tar/pickle format) are not supported either.", e);
        }

        var checkpoint = new TorchCheckpoint(path, archive, limits);
        try
        {
            checkpoint.Load();
            return checkpoint;
        }
        catch (Exception e) when (e is InvalidDataException or IOException)
        {
            checkpoint.Dispose();
            throw new NnUnetFormatException($"{name}: the zip is damaged ({e.Message})", e);
        }
        catch (NnUnetFormatException e)
        {
            checkpoint.Dispose();
            throw new NnUnetFormatException($"{name}: {e.Message}", e);
        }
        catch
        {
            checkpoint.Dispose();
            throw;
        }
    }

    private void Load()
    {
        if (archive.Entries.Count > limits.MaxEntries)
        {
            throw new NnUnetFormatException($"the zip holds {archive.Entries.Count} entries; at most {limits.MaxEntries}");
        }

        ZipArchiveEntry? pickle = null;
        long declared = 0;
        foreach (ZipArchiveEntry entry in archive.Entries)
        {
            declared += entry.Length;
            if (declared > limits.MaxTotalBytes)
            {
                throw new NnUnetFormatException($"the zip declares more than {limits.MaxTotalBytes} bytes in all");
            }

            if (entry.Length > (1 << 20) && (entry.CompressedLength == 0 || (double)entry.Length / entry.CompressedLength > limits.MaxCompressionRatio))
            {
                throw new NnUnetFormatException($"zip entry {entry.FullName} inflates {entry.Length} bytes from {entry.CompressedLength} (a zip bomb?)");
            }

            string[] parts = entry.FullName.Split('/');
            if (parts.Length == 2 && parts[1] == "data.pkl")
            {
                if (pickle is not null)
                {
                    throw new NnUnetFormatException("the zip holds more than one */data.pkl record");
                }

                pickle = entry;
                Prefix = parts[0];
            }
        }

        if (pickle is null)
        {
            throw new NnUnetFormatException("no <name>/data.pkl record: not a PyTorch zip checkpoint");
        }

        string storagePrefix = Prefix + "/data/";
        foreach (ZipArchiveEntry entry in archive.Entries)
        {
            if (entry.FullName.StartsWith(storagePrefix, StringComparison.Ordinal))
            {
                storageEntries[entry.FullName[storagePrefix.Length..]] = entry;
            }
        }

        if (pickle.Length > limits.MaxPickleBytes)
        {
            throw new NnUnetFormatException($"data.pkl is {pickle.Length} bytes; at most {limits.MaxPickleBytes} are read");
        }

        byte[] bytes = ReadEntry(pickle);
        Root = new RestrictedUnpickler(bytes, PersistentLoad, limits.Pickle).Load();
    }

    /// <summary>A storage persistent id: ('storage', torch.XStorage, key, location, numel).</summary>
    private TorchStorageRef PersistentLoad(PyTuple pid)
    {
        if (pid.Count != 5 || pid[0] is not "storage" || pid[1] is not PyGlobal { Module: "torch" } type
            || pid[2] is not string key || pid[3] is not string location || pid[4] is not long numel)
        {
            throw new NnUnetFormatException("a persistent id that is not a torch storage ('storage', type, key, location, numel)");
        }

        if (!RestrictedUnpickler.StorageTypes.TryGetValue(type.Name, out TorchDType dtype))
        {
            throw new NnUnetFormatException($"storage type torch.{type.Name} is not supported");
        }

        if (!StorageKey().IsMatch(key))
        {
            throw new NnUnetFormatException("a storage key that is not a plain name");
        }

        if (storages.TryGetValue(key, out TorchStorageRef? known))
        {
            // Shared storage: every tensor naming this key views the same bytes.
            return known.DType == dtype && known.Numel == numel ? known : throw new NnUnetFormatException($"storage {key} is declared twice with different types or sizes");
        }

        if (!storageEntries.TryGetValue(key, out ZipArchiveEntry? entry))
        {
            throw new NnUnetFormatException($"storage {key} has no data/{key} record in the zip");
        }

        long expected;
        try
        {
            expected = checked(numel * TorchStorageRef.ElementSize(dtype));
        }
        catch (OverflowException)
        {
            throw new NnUnetFormatException($"storage {key} declares {numel} elements");
        }

        if (numel < 0 || expected != entry.Length)
        {
            throw new NnUnetFormatException($"storage {key} declares {numel} {dtype} elements ({expected} bytes) but its record data/{key} holds {entry.Length} bytes");
        }

        var storage = new TorchStorageRef(key, dtype, location, numel);
        storages[key] = storage;
        return storage;
    }

    /// <summary>Reads a view into contiguous float32 (float16, bfloat16 and float64 converted).</summary>
    public FloatTensor ReadFloat(TorchTensorRef tensor, string nameForErrors)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        long count = tensor.Numel;
        if (count > limits.MaxTensorElements)
        {
            throw new NnUnetFormatException($"{Path.GetFileName(FilePath)}: tensor {nameForErrors} has {count} elements; at most {limits.MaxTensorElements}");
        }

        TorchDType dtype = tensor.Storage.DType;
        if (dtype is not (TorchDType.Float32 or TorchDType.Float16 or TorchDType.BFloat16 or TorchDType.Float64))
        {
            throw new NnUnetFormatException($"{Path.GetFileName(FilePath)}: tensor {nameForErrors} holds {dtype}, not floating-point weights");
        }

        byte[] bytes = StorageBytes(tensor.Storage);
        int size = TorchStorageRef.ElementSize(dtype);
        var result = new float[count];
        if (IsContiguous(tensor))
        {
            ReadOnlySpan<byte> span = bytes.AsSpan((int)(tensor.Offset * size), (int)(count * size));
            if (dtype == TorchDType.Float32 && BitConverter.IsLittleEndian)
            {
                System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(span).CopyTo(result);
            }
            else
            {
                for (int n = 0; n < result.Length; n++)
                {
                    result[n] = ReadElement(span.Slice(n * size, size), dtype);
                }
            }

            return new FloatTensor((long[])tensor.Size.Clone(), result);
        }

        int dims = tensor.Size.Length;
        var index = new long[dims];
        for (long n = 0; n < count; n++)
        {
            long element = tensor.Offset;
            for (int d = 0; d < dims; d++)
            {
                element += index[d] * tensor.Stride[d];
            }

            result[n] = ReadElement(bytes.AsSpan((int)(element * size), size), dtype);
            for (int d = dims - 1; d >= 0; d--)
            {
                if (++index[d] < tensor.Size[d])
                {
                    break;
                }

                index[d] = 0;
            }
        }

        return new FloatTensor((long[])tensor.Size.Clone(), result);
    }

    private static bool IsContiguous(TorchTensorRef tensor)
    {
        long expected = 1;
        for (int d = tensor.Size.Length - 1; d >= 0; d--)
        {
            if (tensor.Size[d] != 1 && tensor.Stride[d] != expected)
            {
                return false;
            }

            expected *= tensor.Size[d];
        }

        return true;
    }

    private static float ReadElement(ReadOnlySpan<byte> b, TorchDType dtype) => dtype switch
    {
        TorchDType.Float32 => BinaryPrimitives.ReadSingleLittleEndian(b),
        TorchDType.Float16 => (float)BinaryPrimitives.ReadHalfLittleEndian(b),
        TorchDType.BFloat16 => BitConverter.Int32BitsToSingle(BinaryPrimitives.ReadUInt16LittleEndian(b) << 16),
        _ => (float)BinaryPrimitives.ReadDoubleLittleEndian(b),
    };

    /// <summary>
    /// A storage's bytes, read afresh each time: the graph reads every weight once (aliases are
    /// not read), so a cache would only hold a second copy of the model in memory.
    /// </summary>
    private byte[] StorageBytes(TorchStorageRef storage)
    {
        ZipArchiveEntry entry = storageEntries[storage.Key];
        if (entry.Length > Array.MaxLength)
        {
            throw new NnUnetFormatException($"{Path.GetFileName(FilePath)}: storage {storage.Key} is {entry.Length} bytes, more than one array holds");
        }

        try
        {
            return ReadEntry(entry);
        }
        catch (Exception e) when (e is InvalidDataException or IOException)
        {
            throw new NnUnetFormatException($"{Path.GetFileName(FilePath)}: storage record data/{storage.Key} is damaged ({e.Message})", e);
        }
    }

    /// <summary>Reads exactly the declared bytes of an entry; more or fewer is an error.</summary>
    private static byte[] ReadEntry(ZipArchiveEntry entry)
    {
        var bytes = new byte[entry.Length];
        using Stream stream = entry.Open();
        int filled = 0;
        while (filled < bytes.Length)
        {
            int got = stream.Read(bytes, filled, bytes.Length - filled);
            if (got == 0)
            {
                throw new NnUnetFormatException($"zip entry {entry.FullName} ends after {filled} of its declared {entry.Length} bytes");
            }

            filled += got;
        }

        if (stream.ReadByte() >= 0)
        {
            throw new NnUnetFormatException($"zip entry {entry.FullName} inflates past its declared {entry.Length} bytes");
        }

        return bytes;
    }

    public void Dispose() => archive.Dispose();

    [GeneratedRegex("^[A-Za-z0-9_]{1,64}$")]
    private static partial Regex StorageKey();
}
