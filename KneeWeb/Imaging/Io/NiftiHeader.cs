using System.Buffers.Binary;
using System.Globalization;
using System.Text;

namespace KneeWeb.Imaging.Io;

/// <summary>
/// The fields of a NIfTI-1 (348-byte) or NIfTI-2 (540-byte) header that KneeWeb uses, widened
/// to double/long. Parsing only decodes; <see cref="NiftiReader"/> validates.
/// </summary>
internal sealed class NiftiHeader
{
    public const int Nifti1Size = 348;
    public const int Nifti2Size = 540;

    public int Version { get; private set; }

    public bool BigEndian { get; private set; }

    /// <summary>True for the single-file magic (n+1, n+2); false for a .hdr/.img pair (ni1, ni2).</summary>
    public bool SingleFile { get; private set; }

    public long[] Dim { get; } = new long[8];

    public double[] Pixdim { get; } = new double[8];

    public int Datatype { get; private set; }

    public int Bitpix { get; private set; }

    public double VoxOffset { get; private set; }

    public double SclSlope { get; private set; }

    public double SclInter { get; private set; }

    public int XyztUnits { get; private set; }

    public int QformCode { get; private set; }

    public int SformCode { get; private set; }

    public double QuaternB { get; private set; }

    public double QuaternC { get; private set; }

    public double QuaternD { get; private set; }

    public double QoffsetX { get; private set; }

    public double QoffsetY { get; private set; }

    public double QoffsetZ { get; private set; }

    public double[] SrowX { get; } = new double[4];

    public double[] SrowY { get; } = new double[4];

    public double[] SrowZ { get; } = new double[4];

    public int HeaderSize => Version == 2 ? Nifti2Size : Nifti1Size;

    public string FormatName => Version == 2 ? "NIfTI-2" : "NIfTI-1";

    /// <summary>NIfTI version told by sizeof_hdr and the magic in the first bytes; 0 when not NIfTI.</summary>
    public static int Sniff(ReadOnlySpan<byte> head)
    {
        if (head.Length < 4)
        {
            return 0;
        }

        int le = BinaryPrimitives.ReadInt32LittleEndian(head);
        int be = BinaryPrimitives.ReadInt32BigEndian(head);
        if ((le == Nifti1Size || be == Nifti1Size) && head.Length >= Nifti1Size)
        {
            ReadOnlySpan<byte> magic = head.Slice(344, 4);
            if (magic.SequenceEqual("n+1\0"u8) || magic.SequenceEqual("ni1\0"u8))
            {
                return 1;
            }
        }

        if ((le == Nifti2Size || be == Nifti2Size) && head.Length >= 12)
        {
            ReadOnlySpan<byte> magic = head.Slice(4, 4);
            if (magic.SequenceEqual("n+2\0"u8) || magic.SequenceEqual("ni2\0"u8))
            {
                return 2;
            }
        }

        return 0;
    }

    /// <summary>The first four bytes are 348 or 540 in either byte order.</summary>
    public static bool SizeofHdrMatches(ReadOnlySpan<byte> head)
    {
        int le = BinaryPrimitives.ReadInt32LittleEndian(head), be = BinaryPrimitives.ReadInt32BigEndian(head);
        return le is Nifti1Size or Nifti2Size || be is Nifti1Size or Nifti2Size;
    }

    /// <summary>Decodes a header; <paramref name="bytes"/> holds at least the header's size.</summary>
    public static NiftiHeader Parse(ReadOnlySpan<byte> bytes, string format)
    {
        if (bytes.Length < 4)
        {
            throw new InvalidImageException(format, "sizeof_hdr", $"{bytes.Length} bytes", "the file is too short for a NIfTI header");
        }

        int le = BinaryPrimitives.ReadInt32LittleEndian(bytes);
        int be = BinaryPrimitives.ReadInt32BigEndian(bytes);
        var h = new NiftiHeader();
        if (le == Nifti1Size || le == Nifti2Size)
        {
            h.Version = le == Nifti1Size ? 1 : 2;
        }
        else if (be == Nifti1Size || be == Nifti2Size)
        {
            h.Version = be == Nifti1Size ? 1 : 2;
            h.BigEndian = true;
        }
        else
        {
            throw new InvalidImageException(format, "sizeof_hdr", le.ToString(CultureInfo.InvariantCulture), "must be 348 (NIfTI-1) or 540 (NIfTI-2) in either byte order");
        }

        if (bytes.Length < h.HeaderSize)
        {
            throw new InvalidImageException(h.FormatName, "header", $"{bytes.Length} bytes", $"the file ends inside the {h.HeaderSize}-byte header");
        }

        var r = new FieldReader(bytes, h.BigEndian);
        if (h.Version == 1)
        {
            h.ParseNifti1(r, bytes);
        }
        else
        {
            h.ParseNifti2(r, bytes);
        }

        return h;
    }

    private void ParseNifti1(FieldReader r, ReadOnlySpan<byte> bytes)
    {
        ReadOnlySpan<byte> magic = bytes.Slice(344, 4);
        SingleFile = magic.SequenceEqual("n+1\0"u8);
        if (!SingleFile && !magic.SequenceEqual("ni1\0"u8))
        {
            throw new InvalidImageException("NIfTI-1", "magic", Printable(magic), "must be \"n+1\" or \"ni1\" (Analyze 7.5 files are not read)");
        }

        for (int i = 0; i < 8; i++)
        {
            Dim[i] = r.Int16(40 + (2 * i));
            Pixdim[i] = r.Float32(76 + (4 * i));
        }

        Datatype = r.Int16(70);
        Bitpix = r.Int16(72);
        VoxOffset = r.Float32(108);
        SclSlope = r.Float32(112);
        SclInter = r.Float32(116);
        XyztUnits = bytes[123];
        QformCode = r.Int16(252);
        SformCode = r.Int16(254);
        QuaternB = r.Float32(256);
        QuaternC = r.Float32(260);
        QuaternD = r.Float32(264);
        QoffsetX = r.Float32(268);
        QoffsetY = r.Float32(272);
        QoffsetZ = r.Float32(276);
        for (int i = 0; i < 4; i++)
        {
            SrowX[i] = r.Float32(280 + (4 * i));
            SrowY[i] = r.Float32(296 + (4 * i));
            SrowZ[i] = r.Float32(312 + (4 * i));
        }
    }

    private void ParseNifti2(FieldReader r, ReadOnlySpan<byte> bytes)
    {
        ReadOnlySpan<byte> magic = bytes.Slice(4, 8);
        SingleFile = magic[..4].SequenceEqual("n+2\0"u8);
        if ((!SingleFile && !magic[..4].SequenceEqual("ni2\0"u8)) || !magic[4..].SequenceEqual("\r\n\u001a\n"u8))
        {
            throw new InvalidImageException("NIfTI-2", "magic", Printable(magic), "must be \"n+2\\0\\r\\n\\x1a\\n\" or \"ni2\\0\\r\\n\\x1a\\n\"");
        }

        Datatype = r.Int16(12);
        Bitpix = r.Int16(14);
        for (int i = 0; i < 8; i++)
        {
            Dim[i] = r.Int64(16 + (8 * i));
            Pixdim[i] = r.Float64(104 + (8 * i));
        }

        VoxOffset = r.Int64(168);
        SclSlope = r.Float64(176);
        SclInter = r.Float64(184);
        QformCode = r.Int32(344);
        SformCode = r.Int32(348);
        QuaternB = r.Float64(352);
        QuaternC = r.Float64(360);
        QuaternD = r.Float64(368);
        QoffsetX = r.Float64(376);
        QoffsetY = r.Float64(384);
        QoffsetZ = r.Float64(392);
        for (int i = 0; i < 4; i++)
        {
            SrowX[i] = r.Float64(400 + (8 * i));
            SrowY[i] = r.Float64(432 + (8 * i));
            SrowZ[i] = r.Float64(464 + (8 * i));
        }

        XyztUnits = r.Int32(500);
    }

    private static string Printable(ReadOnlySpan<byte> bytes)
    {
        var sb = new StringBuilder("\"");
        foreach (byte b in bytes)
        {
            sb.Append(b is >= 32 and < 127 ? ((char)b).ToString() : $"\\x{b:x2}");
        }

        return sb.Append('"').ToString();
    }

    private readonly ref struct FieldReader(ReadOnlySpan<byte> bytes, bool bigEndian)
    {
        private readonly ReadOnlySpan<byte> bytes = bytes;

        public short Int16(int at) => bigEndian ? BinaryPrimitives.ReadInt16BigEndian(bytes[at..]) : BinaryPrimitives.ReadInt16LittleEndian(bytes[at..]);

        public int Int32(int at) => bigEndian ? BinaryPrimitives.ReadInt32BigEndian(bytes[at..]) : BinaryPrimitives.ReadInt32LittleEndian(bytes[at..]);

        public long Int64(int at) => bigEndian ? BinaryPrimitives.ReadInt64BigEndian(bytes[at..]) : BinaryPrimitives.ReadInt64LittleEndian(bytes[at..]);

        public float Float32(int at) => bigEndian ? BinaryPrimitives.ReadSingleBigEndian(bytes[at..]) : BinaryPrimitives.ReadSingleLittleEndian(bytes[at..]);

        public double Float64(int at) => bigEndian ? BinaryPrimitives.ReadDoubleBigEndian(bytes[at..]) : BinaryPrimitives.ReadDoubleLittleEndian(bytes[at..]);
    }
}
