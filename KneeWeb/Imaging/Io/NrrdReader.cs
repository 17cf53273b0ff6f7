using System.Globalization;
using System.IO.Compression;
using System.Text;

namespace KneeWeb.Imaging.Io;

/// <summary>
/// Reads NRRD (NRRD0001-0005): attached (.nrrd) and detached (.nhdr) headers, raw and gzip
/// encodings, every scalar type, both endians, space directions and origin (LPS, RAS or LAS,
/// converted to RAS), or per-axis spacings. A detached data file must be a bare name beside
/// the header: any path that leads elsewhere is rejected.
/// </summary>
internal static class NrrdReader
{
    private const string Format = "NRRD";
    private const int MaxHeaderBytes = 1 << 20;

    public static Volume Read(string path, VolumeReadOptions options)
    {
        (Dictionary<string, string> fields, long dataOffset) = ReadHeader(path, options);
        NrrdLayout layout = Interpret(fields, options);
        options.CheckHeader?.Invoke(VolumeHeaderInfo.Of(Format, layout.Dims, layout.Frames, layout.Type, layout.Affine));

        string dataPath = path;
        long offset = dataOffset;
        if (fields.TryGetValue("data file", out string? dataFile) || fields.TryGetValue("datafile", out dataFile))
        {
            dataPath = DetachedPath(path, dataFile);
            offset = 0;
        }
        else if (path.EndsWith(".nhdr", StringComparison.OrdinalIgnoreCase))
        {
            throw new InvalidImageException(Format, "data file", "(missing)", "a detached header (.nhdr) must name its data file");
        }

        (Array Voxels, VoxelType Type, double Slope, double Intercept) data;
        using (var file = new FileStream(dataPath, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20, FileOptions.SequentialScan))
        {
            long fileLength = file.Length;
            file.Position = Math.Min(offset, fileLength);
            SkipLines(file, layout.LineSkip);
            long stored = fileLength - file.Position;
            if (layout.Gzip)
            {
                VoxelData.CheckFits(Format, "sizes", layout.Bytes + Math.Max(0, layout.ByteSkip), stored, gzip: true);
                using var gzip = new GZipStream(file, CompressionMode.Decompress, leaveOpen: true);
                VoxelData.Skip(gzip, layout.ByteSkip, Format, "byte skip");
                data = VoxelData.ReadVolume(gzip, layout.Type, layout.Voxels, layout.Swap, 1, 0, options, Format);
            }
            else
            {
                if (layout.ByteSkip == -1)
                {
                    // byte skip -1: the data are the file's last bytes.
                    VoxelData.CheckFits(Format, "sizes", layout.Bytes, stored, gzip: false);
                    file.Position = fileLength - layout.Bytes;
                }
                else
                {
                    VoxelData.CheckFits(Format, "byte skip + data size", layout.ByteSkip + layout.Bytes, stored, gzip: false);
                    file.Position += layout.ByteSkip;
                }

                data = VoxelData.ReadVolume(file, layout.Type, layout.Voxels, layout.Swap, 1, 0, options, Format);
            }
        }

        Array voxels = layout.FramesFirst && layout.Frames > 1 ? FramesLast(data.Voxels, layout.Frames) : data.Voxels;
        return new Volume(new VolumeGeometry(layout.Dims, layout.Affine), data.Type, voxels, layout.Frames)
        {
            Metadata = new ImageMetadata
            {
                Format = Format,
                SourceName = Path.GetFileName(path),
                Properties = new Dictionary<string, string>(StringComparer.Ordinal)
                {
                    ["space"] = fields.GetValueOrDefault("space", "(none)"),
                    ["encoding"] = layout.Gzip ? "gzip" : "raw",
                    ["detached"] = ReferenceEquals(dataPath, path) ? "no" : "yes",
                },
            },
        };
    }

    internal sealed record NrrdLayout(Dims3 Dims, int Frames, bool FramesFirst, VoxelType Type, long Voxels, long Bytes,
        bool Swap, bool Gzip, long ByteSkip, long LineSkip, AffineRas Affine);

    /// <summary>Reads the header lines up to the blank line; returns the fields and where attached data starts.</summary>
    internal static (Dictionary<string, string> Fields, long DataOffset) ReadHeader(string path, VolumeReadOptions options)
    {
        int cap = (int)Math.Min(MaxHeaderBytes, Math.Max(options.MaxBytes, 1024));
        byte[] buffer;
        int length;
        using (var file = File.OpenRead(path))
        {
            buffer = new byte[(int)Math.Min(cap, file.Length)];
            length = file.ReadAtLeast(buffer, buffer.Length, throwOnEndOfStream: false);
        }

        return ParseHeader(buffer.AsSpan(0, length), cap);
    }

    internal static (Dictionary<string, string> Fields, long DataOffset) ParseHeader(ReadOnlySpan<byte> bytes, int cap)
    {
        var fields = new Dictionary<string, string>(StringComparer.Ordinal);
        int position = 0;
        int lineNumber = 0;
        while (true)
        {
            int newline = bytes[position..].IndexOf((byte)'\n');
            if (newline < 0)
            {
                if (bytes.Length >= cap)
                {
                    throw new InvalidImageException(Format, "header", $"> {cap} bytes", "the header has no end (no blank line) within the size cap");
                }

                // A detached header may end at the end of the file without a blank line.
                newline = bytes.Length - position;
            }

            ReadOnlySpan<byte> raw = bytes.Slice(position, newline);
            position = Math.Min(bytes.Length, position + newline + 1);
            string line = Encoding.UTF8.GetString(raw).TrimEnd('\r');
            lineNumber++;
            if (lineNumber == 1)
            {
                if (!line.StartsWith("NRRD000", StringComparison.Ordinal) || line.Length != 8 || line[7] is < '1' or > '5')
                {
                    throw new InvalidImageException(Format, "magic", Quote(line), "must be NRRD0001 to NRRD0005");
                }

                continue;
            }

            if (line.Length == 0)
            {
                return (fields, position);
            }

            if (line[0] == '#' || line.Contains(":=", StringComparison.Ordinal))
            {
                continue; // comments and key/value pairs carry nothing KneeWeb uses
            }

            int colon = line.IndexOf(": ", StringComparison.Ordinal);
            if (colon <= 0)
            {
                throw new InvalidImageException(Format, $"header line {lineNumber}", Quote(line), "is not a \"field: value\" line");
            }

            string field = line[..colon].Trim().ToLowerInvariant();
            string value = line[(colon + 2)..].Trim();
            if (!fields.TryAdd(field, value))
            {
                throw new InvalidImageException(Format, field, Quote(value), "the field appears twice");
            }

            if (position >= bytes.Length)
            {
                return (fields, position);
            }
        }
    }

    internal static NrrdLayout Interpret(Dictionary<string, string> fields, VolumeReadOptions options)
    {
        string typeName = Required(fields, "type");
        VoxelType type = TypeOf(typeName);
        long declaredDimension = ParseLong("dimension", Required(fields, "dimension"));
        if (declaredDimension is < 1 or > 4)
        {
            throw new InvalidImageException(Format, "dimension", declaredDimension.ToString(CultureInfo.InvariantCulture), "KneeWeb reads 1 to 4 dimensions");
        }

        int dimension = (int)declaredDimension;

        string[] sizeWords = Words(Required(fields, "sizes"));
        if (sizeWords.Length != dimension)
        {
            throw new InvalidImageException(Format, "sizes", Quote(fields["sizes"]), $"needs {dimension} values (dimension)");
        }

        long[] sizes = new long[dimension];
        for (int i = 0; i < dimension; i++)
        {
            sizes[i] = ParseLong("sizes", sizeWords[i]);
            if (sizes[i] < 1)
            {
                throw new InvalidImageException(Format, "sizes", Quote(fields["sizes"]), "every size must be at least 1");
            }

            if (sizes[i] > int.MaxValue)
            {
                throw new InvalidImageException(Format, "sizes", Quote(fields["sizes"]), "a size must be below 2^31");
            }
        }

        (long voxels, long bytes) = VoxelData.CheckSize(Format, "sizes", sizes, type, options);

        string encoding = fields.GetValueOrDefault("encoding", "").ToLowerInvariant();
        bool gzip = encoding switch
        {
            "raw" => false,
            "gzip" or "gz" => true,
            "" => throw new InvalidImageException(Format, "encoding", "(missing)", "the encoding field is required"),
            _ => throw new InvalidImageException(Format, "encoding", Quote(encoding), "KneeWeb reads raw and gzip encodings"),
        };

        bool swap = false;
        if (Volume.BytesPerVoxel(type) > 1)
        {
            string endian = fields.GetValueOrDefault("endian", "").ToLowerInvariant();
            swap = endian switch
            {
                "little" => !BitConverter.IsLittleEndian,
                "big" => BitConverter.IsLittleEndian,
                "" => throw new InvalidImageException(Format, "endian", "(missing)", $"the endian field is required for {typeName}"),
                _ => throw new InvalidImageException(Format, "endian", Quote(endian), "must be little or big"),
            };
        }

        long byteSkip = fields.TryGetValue("byte skip", out string? bs) || fields.TryGetValue("byteskip", out bs) ? ParseLong("byte skip", bs) : 0;
        if (byteSkip < -1 || (byteSkip == -1 && gzip) || byteSkip > options.MaxBytes)
        {
            throw new InvalidImageException(Format, "byte skip", byteSkip.ToString(CultureInfo.InvariantCulture), "must be -1 (raw encoding only) or 0 up to the size cap");
        }

        long lineSkip = fields.TryGetValue("line skip", out string? ls) || fields.TryGetValue("lineskip", out ls) ? ParseLong("line skip", ls) : 0;
        if (lineSkip < 0 || lineSkip > 1_000_000)
        {
            throw new InvalidImageException(Format, "line skip", lineSkip.ToString(CultureInfo.InvariantCulture), "must be 0 to 1000000");
        }

        (Dims3 dims, int frames, bool framesFirst, AffineRas affine) = Geometry(fields, sizes);
        return new NrrdLayout(dims, frames, framesFirst, type, voxels, bytes, swap, gzip, byteSkip, lineSkip, affine);
    }

    private static (Dims3 Dims, int Frames, bool FramesFirst, AffineRas Affine) Geometry(Dictionary<string, string> fields, long[] sizes)
    {
        int dimension = sizes.Length;
        (double sx, double sy, double sz) = SpaceSigns(fields);
        double toMm = UnitsToMm(fields);
        var directions = new Vec3d?[dimension];
        if (fields.TryGetValue("space directions", out string? sd))
        {
            List<string> parts = SplitVectors(sd);
            if (parts.Count != dimension)
            {
                throw new InvalidImageException(Format, "space directions", Quote(sd), $"needs {dimension} entries (vectors or none)");
            }

            for (int i = 0; i < dimension; i++)
            {
                if (!string.Equals(parts[i], "none", StringComparison.OrdinalIgnoreCase))
                {
                    Vec3d v = ParseVector("space directions", parts[i]);
                    if (v.Length == 0)
                    {
                        throw new InvalidImageException(Format, "space directions", Quote(parts[i]), $"axis {i} has zero spacing");
                    }

                    directions[i] = new Vec3d(v.X * sx, v.Y * sy, v.Z * sz) * toMm;
                }
            }
        }
        else
        {
            string[] spacings = fields.TryGetValue("spacings", out string? sp) ? Words(sp) : [];
            if (spacings.Length != 0 && spacings.Length != dimension)
            {
                throw new InvalidImageException(Format, "spacings", Quote(sp!), $"needs {dimension} values");
            }

            string[] kinds = fields.TryGetValue("kinds", out string? k) ? Words(k) : [];
            int spatialSeen = 0;
            for (int i = 0; i < dimension; i++)
            {
                bool spatial = kinds.Length == dimension
                    ? kinds[i].ToLowerInvariant() is "domain" or "space" or "???" or "none"
                    : dimension < 4 || i < 3;
                if (!spatial || spatialSeen == 3)
                {
                    continue;
                }

                double s = spacings.Length == 0 ? 1 : ParseDouble("spacings", spacings[i]);
                if (double.IsNaN(s) && spacings.Length != 0)
                {
                    throw new InvalidImageException(Format, "spacings", Quote(sp!), $"axis {i} has NaN spacing");
                }

                if (s == 0 || !double.IsFinite(s))
                {
                    throw new InvalidImageException(Format, "spacings", Quote(sp!), $"axis {i} has spacing {s.ToString(CultureInfo.InvariantCulture)}");
                }

                var unit = new Vec3d(spatialSeen == 0 ? 1 : 0, spatialSeen == 1 ? 1 : 0, spatialSeen == 2 ? 1 : 0);
                directions[i] = new Vec3d(unit.X * sx, unit.Y * sy, unit.Z * sz) * (s * toMm);
                spatialSeen++;
            }
        }

        var spatialAxes = new List<int>();
        int nonSpatial = -1;
        for (int i = 0; i < dimension; i++)
        {
            if (directions[i] is not null)
            {
                spatialAxes.Add(i);
            }
            else if (nonSpatial < 0)
            {
                nonSpatial = i;
            }
            else
            {
                throw new InvalidImageException(Format, "space directions", Quote(fields.GetValueOrDefault("space directions", "")), "at most one axis may be non-spatial (none)");
            }
        }

        if (spatialAxes.Count == 0 || (dimension == 4 && spatialAxes.Count != 3))
        {
            throw new InvalidImageException(Format, "space directions", Quote(fields.GetValueOrDefault("space directions", "(missing)")), $"{spatialAxes.Count} spatial axes among {dimension}");
        }

        if (nonSpatial >= 0 && dimension == 4 && nonSpatial != 0 && nonSpatial != 3)
        {
            throw new InvalidImageException(Format, "space directions", Quote(fields.GetValueOrDefault("space directions", "")), "the non-spatial axis must be the first or the last");
        }

        if (nonSpatial >= 0 && dimension < 4)
        {
            throw new InvalidImageException(Format, "space directions", Quote(fields.GetValueOrDefault("space directions", "")), "a non-spatial axis is only read in 4D images");
        }

        // Missing axes (1D and 2D images) get unit steps orthogonal to the given ones.
        var columns = new List<Vec3d>();
        var lengths = new List<long>();
        foreach (int a in spatialAxes)
        {
            columns.Add(directions[a]!.Value);
            lengths.Add(sizes[a]);
        }

        while (columns.Count < 3)
        {
            Vec3d next = columns.Count == 1
                ? (Math.Abs(columns[0].Normalized().X) < 0.9 ? new Vec3d(1, 0, 0) : new Vec3d(0, 1, 0))
                : columns[0].Cross(columns[1]).Normalized();
            if (columns.Count == 1)
            {
                Vec3d u = columns[0].Normalized();
                next = (next - (u * next.Dot(u))).Normalized();
            }

            columns.Add(next);
            lengths.Add(1);
        }

        Vec3d origin = default;
        if (fields.TryGetValue("space origin", out string? so))
        {
            Vec3d o = ParseVector("space origin", so);
            origin = new Vec3d(o.X * sx, o.Y * sy, o.Z * sz) * toMm;
        }

        var affine = new AffineRas(
            columns[0].X, columns[1].X, columns[2].X, origin.X,
            columns[0].Y, columns[1].Y, columns[2].Y, origin.Y,
            columns[0].Z, columns[1].Z, columns[2].Z, origin.Z);
        int frames = nonSpatial >= 0 ? (int)sizes[nonSpatial] : 1;
        return (new Dims3((int)lengths[0], (int)lengths[1], (int)lengths[2]), frames, nonSpatial == 0, affine);
    }

    /// <summary>Signs that take the header's space to RAS. Generic 3D spaces are read as LPS, as ITK does.</summary>
    private static (double X, double Y, double Z) SpaceSigns(Dictionary<string, string> fields)
    {
        if (fields.TryGetValue("space", out string? space))
        {
            return space.ToLowerInvariant() switch
            {
                "right-anterior-superior" or "ras" => (1, 1, 1),
                "left-anterior-superior" or "las" => (-1, 1, 1),
                "left-posterior-superior" or "lps" => (-1, -1, 1),
                "scanner-xyz" or "3d-right-handed" or "3d-left-handed" => (-1, -1, 1),
                _ => throw new InvalidImageException(Format, "space", Quote(space), "KneeWeb reads 3D spaces: right-anterior-superior, left-anterior-superior, left-posterior-superior"),
            };
        }

        if (fields.TryGetValue("space dimension", out string? sd) && sd.Trim() != "3")
        {
            throw new InvalidImageException(Format, "space dimension", Quote(sd), "KneeWeb reads 3D spaces only");
        }

        return (-1, -1, 1);
    }

    private static double UnitsToMm(Dictionary<string, string> fields)
    {
        if (!fields.TryGetValue("space units", out string? units))
        {
            return 1;
        }

        double? scale = null;
        foreach (string word in units.Split('"', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            double s = word.ToLowerInvariant() switch
            {
                "mm" or "millimeter" or "millimeters" or "millimetre" or "" => 1,
                "m" or "meter" or "meters" or "metre" => 1000,
                "cm" => 10,
                "um" or "µm" or "micron" or "microns" => 0.001,
                _ => throw new InvalidImageException(Format, "space units", Quote(units), "units must be mm, cm, m or um"),
            };
            if (scale is not null && scale != s)
            {
                throw new InvalidImageException(Format, "space units", Quote(units), "all spatial axes must share one unit");
            }

            scale = s;
        }

        return scale ?? 1;
    }

    /// <summary>A detached data file: a bare name, beside the header, a regular file (no link).</summary>
    internal static string DetachedPath(string headerPath, string name)
    {
        if (name.Contains('%', StringComparison.Ordinal) || name.StartsWith("LIST", StringComparison.Ordinal) || name.Contains(' ', StringComparison.Ordinal))
        {
            throw new InvalidImageException(Format, "data file", Quote(name), "multi-file data (LIST or a name pattern) is not read; use one data file");
        }

        if (name.Length == 0 || name is "." or ".." || name.IndexOfAny(['/', '\\', ':', '\0']) >= 0 || Path.IsPathRooted(name))
        {
            throw new InvalidImageException(Format, "data file", Quote(name), "the data file must be a plain file name beside the header, not a path");
        }

        string folder = Path.GetDirectoryName(Path.GetFullPath(headerPath))!;
        string full = Path.Combine(folder, name);
        var info = new FileInfo(full);
        if (!info.Exists)
        {
            throw new InvalidImageException(Format, "data file", Quote(name), "no such file beside the header");
        }

        if (info.LinkTarget is not null)
        {
            throw new InvalidImageException(Format, "data file", Quote(name), "the data file is a link; it must be a regular file beside the header");
        }

        return full;
    }

    private static void SkipLines(Stream stream, long lines)
    {
        for (long i = 0; i < lines; i++)
        {
            int b;
            do
            {
                b = stream.ReadByte();
                if (b < 0)
                {
                    throw new InvalidImageException(Format, "line skip", lines.ToString(CultureInfo.InvariantCulture), "the data file has fewer lines");
                }
            }
            while (b != '\n');
        }
    }

    /// <summary>Reorders voxel-interleaved frames (frame axis first) into frame after frame.</summary>
    private static Array FramesLast(Array interleaved, int frames)
    {
        VoxelType type = VoxelData.VoxelTypeOf(interleaved);
        int size = Volume.BytesPerVoxel(type);
        long perFrame = interleaved.LongLength / frames;
        Array result = VoxelData.Allocate(type, interleaved.LongLength);
        // Blocks of at most 16 MB of interleaved input, so every span length fits an int.
        int block = (int)Math.Max(1, (1L << 24) / ((long)frames * size));
        long blocks = (perFrame + block - 1) / block;
        Parallel.For(0L, blocks, b =>
        {
            long start = b * block;
            int count = (int)Math.Min(block, perFrame - start);
            Span<byte> source = VoxelData.Bytes(interleaved, start * frames * size, (int)((long)count * frames * size));
            for (int f = 0; f < frames; f++)
            {
                Span<byte> target = VoxelData.Bytes(result, ((f * perFrame) + start) * size, count * size);
                for (int v = 0; v < count; v++)
                {
                    source.Slice(((v * frames) + f) * size, size).CopyTo(target.Slice(v * size, size));
                }
            }
        });
        return result;
    }

    internal static VoxelType TypeOf(string name) => name.ToLowerInvariant() switch
    {
        "signed char" or "int8" or "int8_t" => VoxelType.Int8,
        "uchar" or "unsigned char" or "uint8" or "uint8_t" => VoxelType.UInt8,
        "short" or "short int" or "signed short" or "signed short int" or "int16" or "int16_t" => VoxelType.Int16,
        "ushort" or "unsigned short" or "unsigned short int" or "uint16" or "uint16_t" => VoxelType.UInt16,
        "int" or "signed int" or "int32" or "int32_t" => VoxelType.Int32,
        "uint" or "unsigned int" or "uint32" or "uint32_t" => VoxelType.UInt32,
        "longlong" or "long long" or "long long int" or "signed long long" or "signed long long int" or "int64" or "int64_t" => VoxelType.Int64,
        "ulonglong" or "unsigned long long" or "unsigned long long int" or "uint64" or "uint64_t" => VoxelType.UInt64,
        "float" => VoxelType.Float32,
        "double" => VoxelType.Float64,
        "block" => throw new InvalidImageException(Format, "type", "block", "block voxels are not supported"),
        _ => throw new InvalidImageException(Format, "type", Quote(name), "unknown NRRD type"),
    };

    internal static string TypeName(VoxelType type) => type switch
    {
        VoxelType.Int8 => "int8",
        VoxelType.UInt8 => "uint8",
        VoxelType.Int16 => "int16",
        VoxelType.UInt16 => "uint16",
        VoxelType.Int32 => "int32",
        VoxelType.UInt32 => "uint32",
        VoxelType.Int64 => "int64",
        VoxelType.UInt64 => "uint64",
        VoxelType.Float32 => "float",
        VoxelType.Float64 => "double",
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, "NRRD has no such type"),
    };

    private static string Required(Dictionary<string, string> fields, string name) =>
        fields.TryGetValue(name, out string? value) ? value : throw new InvalidImageException(Format, name, "(missing)", "the field is required");

    private static string[] Words(string value) => value.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries);

    private static List<string> SplitVectors(string value)
    {
        var parts = new List<string>();
        int i = 0;
        while (i < value.Length)
        {
            if (char.IsWhiteSpace(value[i]))
            {
                i++;
                continue;
            }

            if (value[i] == '(')
            {
                int close = value.IndexOf(')', i);
                if (close < 0)
                {
                    throw new InvalidImageException(Format, "space directions", Quote(value), "a vector has no closing parenthesis");
                }

                parts.Add(value[i..(close + 1)]);
                i = close + 1;
            }
            else
            {
                int end = i;
                while (end < value.Length && !char.IsWhiteSpace(value[end]))
                {
                    end++;
                }

                parts.Add(value[i..end]);
                i = end;
            }
        }

        return parts;
    }

    private static Vec3d ParseVector(string field, string text)
    {
        string t = text.Trim();
        if (t.Length < 2 || t[0] != '(' || t[^1] != ')')
        {
            throw new InvalidImageException(Format, field, Quote(text), "must be a vector like (1,0,0)");
        }

        string[] parts = t[1..^1].Split(',');
        if (parts.Length != 3)
        {
            throw new InvalidImageException(Format, field, Quote(text), "must have 3 components");
        }

        var v = new Vec3d(ParseDouble(field, parts[0]), ParseDouble(field, parts[1]), ParseDouble(field, parts[2]));
        if (!double.IsFinite(v.X) || !double.IsFinite(v.Y) || !double.IsFinite(v.Z))
        {
            throw new InvalidImageException(Format, field, Quote(text), "every component must be finite");
        }

        return v;
    }

    private static double ParseDouble(string field, string text) =>
        double.TryParse(text.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out double v) ? v
        : string.Equals(text.Trim(), "nan", StringComparison.OrdinalIgnoreCase) ? double.NaN
        : throw new InvalidImageException(Format, field, Quote(text), "is not a number");

    private static long ParseLong(string field, string text) =>
        long.TryParse(text.Trim(), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long v) ? v
        : throw new InvalidImageException(Format, field, Quote(text), "is not an integer (or overflows 64 bits)");

    private static string Quote(string text) => "\"" + (text.Length > 80 ? text[..80] + "..." : text) + "\"";
}
