using System.Buffers.Binary;

namespace KneeWeb.Imaging.Io;

/// <summary>
/// NIfTI-1 keeps the sform in float32 (about 1e-5 mm at 200 mm). KneeWeb also stores the affine
/// in double precision in a header extension (ecode 0, NIFTI_ECODE_IGNORE: private data every
/// other tool skips). On reading, the extension is used only when it still agrees with the sform
/// to float32 precision, so a file whose sform another tool has since changed keeps that change.
/// </summary>
internal static class NiftiAffineExtension
{
    public const int Size = 128;
    private const int Code = 0;

    private static ReadOnlySpan<byte> Magic => "KneeWebAffine64\0"u8;

    /// <summary>The extension bytes: esize, ecode, magic, 12 little-endian doubles, zero padding to 16.</summary>
    public static byte[] Encode(AffineRas affine)
    {
        var bytes = new byte[Size];
        Span<byte> s = bytes;
        BinaryPrimitives.WriteInt32LittleEndian(s, Size);
        BinaryPrimitives.WriteInt32LittleEndian(s[4..], Code);
        Magic.CopyTo(s[8..]);
        for (int r = 0; r < 3; r++)
        {
            for (int c = 0; c < 4; c++)
            {
                BinaryPrimitives.WriteDoubleLittleEndian(s[(24 + (8 * ((4 * r) + c)))..], affine[r, c]);
            }
        }

        return bytes;
    }

    /// <summary>
    /// Looks for KneeWeb's extension in the bytes between the header and the data (starting with
    /// the 4-byte extender) and returns its affine if it agrees with <paramref name="sform"/>.
    /// </summary>
    public static AffineRas? Find(ReadOnlySpan<byte> region, bool bigEndian, AffineRas sform)
    {
        if (region.Length < 4 + 8 || region[0] == 0)
        {
            return null;
        }

        int at = 4;
        while (at + 8 <= region.Length)
        {
            int esize = bigEndian ? BinaryPrimitives.ReadInt32BigEndian(region[at..]) : BinaryPrimitives.ReadInt32LittleEndian(region[at..]);
            int ecode = bigEndian ? BinaryPrimitives.ReadInt32BigEndian(region[(at + 4)..]) : BinaryPrimitives.ReadInt32LittleEndian(region[(at + 4)..]);
            if (esize < 8 || esize > region.Length - at)
            {
                return null;
            }

            if (ecode == Code && esize >= 24 + 96 && region.Slice(at + 8, Magic.Length).SequenceEqual(Magic))
            {
                return Decode(region.Slice(at + 24, 96), sform);
            }

            at += esize;
        }

        return null;
    }

    private static AffineRas? Decode(ReadOnlySpan<byte> doubles, AffineRas sform)
    {
        var m = new double[12];
        for (int i = 0; i < 12; i++)
        {
            m[i] = BinaryPrimitives.ReadDoubleLittleEndian(doubles[(8 * i)..]);
            if (!double.IsFinite(m[i]) || (float)m[i] != (float)sform[i / 4, i % 4])
            {
                return null; // stale or damaged: the sform rules
            }
        }

        return new AffineRas(m[0], m[1], m[2], m[3], m[4], m[5], m[6], m[7], m[8], m[9], m[10], m[11]);
    }
}
