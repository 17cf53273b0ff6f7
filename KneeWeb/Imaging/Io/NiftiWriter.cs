using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;

namespace KneeWeb.Imaging.Io;

/// <summary>
/// Writes single-file NIfTI-1 (default) or NIfTI-2, little-endian, gzipped for .gz names. Both
/// sform and qform carry the affine (code 1, scanner), pixdim the spacing, xyzt_units mm and s.
/// NIfTI-1 also carries the double-precision affine in a private extension (see
/// <see cref="NiftiAffineExtension"/>), so KneeWeb's own round trips keep the geometry exactly.
/// </summary>
internal static class NiftiWriter
{
    public static void Write(Volume volume, Stream destination, VolumeWriteOptions options)
    {
        (VoxelType type, Array voxels) = Storable(volume);
        if (options.NiftiVersion == 2)
        {
            destination.Write(Nifti2Header(volume, type));
            destination.Write(new byte[4]); // no extensions: NIfTI-2 holds the affine in double precision
        }
        else
        {
            destination.Write(Nifti1Header(volume, type, NiftiHeader.Nifti1Size + 4 + NiftiAffineExtension.Size));
            destination.Write([1, 0, 0, 0]);
            destination.Write(NiftiAffineExtension.Encode(volume.Geometry.IndexToRas));
        }

        VoxelData.Write(destination, voxels);
    }

    public static void Write(Volume volume, string path, VolumeWriteOptions options)
    {
        VolumeIo.WriteAtomically(path, stream =>
        {
            if (path.EndsWith(".gz", StringComparison.OrdinalIgnoreCase))
            {
                using var gzip = new GZipStream(stream, options.Compression, leaveOpen: true);
                Write(volume, gzip, options);
            }
            else
            {
                Write(volume, stream, options);
            }
        });
    }

    /// <summary>NIfTI has no float16: such voxels are widened to float32, which holds every value.</summary>
    private static (VoxelType Type, Array Voxels) Storable(Volume volume)
    {
        if (volume.Voxels is Half[] half)
        {
            var wide = new float[half.LongLength];
            for (long i = 0; i < half.LongLength; i++)
            {
                wide[i] = (float)half[i];
            }

            return (VoxelType.Float32, wide);
        }

        return (volume.VoxelType, volume.Voxels);
    }

    private static byte[] Nifti1Header(Volume volume, VoxelType type, int voxOffset)
    {
        var h = new byte[NiftiHeader.Nifti1Size];
        Span<byte> s = h;
        BinaryPrimitives.WriteInt32LittleEndian(s, NiftiHeader.Nifti1Size);
        s[38] = (byte)'r'; // "regular", as Analyze readers expect
        Dims3 d = volume.Dims;
        short[] dim = [(short)(volume.Frames > 1 ? 4 : 3), Short(d.I), Short(d.J), Short(d.K), Short(volume.Frames), 1, 1, 1];
        for (int i = 0; i < 8; i++)
        {
            BinaryPrimitives.WriteInt16LittleEndian(s[(40 + (2 * i))..], dim[i]);
        }

        BinaryPrimitives.WriteInt16LittleEndian(s[70..], (short)NiftiReader.DatatypeOf(type));
        BinaryPrimitives.WriteInt16LittleEndian(s[72..], (short)(Volume.BytesPerVoxel(type) * 8));
        Qform q = Qform.From(volume.Geometry.IndexToRas);
        float[] pixdim = [(float)q.Qfac, (float)q.SpacingMm.X, (float)q.SpacingMm.Y, (float)q.SpacingMm.Z, volume.Frames > 1 ? 1f : 0f, 0, 0, 0];
        for (int i = 0; i < 8; i++)
        {
            BinaryPrimitives.WriteSingleLittleEndian(s[(76 + (4 * i))..], pixdim[i]);
        }

        BinaryPrimitives.WriteSingleLittleEndian(s[108..], voxOffset);
        BinaryPrimitives.WriteSingleLittleEndian(s[112..], (float)volume.Slope);
        BinaryPrimitives.WriteSingleLittleEndian(s[116..], (float)volume.Intercept);
        s[123] = 2 | 8; // mm and seconds
        Encoding.ASCII.GetBytes("KneeWeb", s[148..]);
        BinaryPrimitives.WriteInt16LittleEndian(s[252..], 1);
        BinaryPrimitives.WriteInt16LittleEndian(s[254..], 1);
        double[] quatern = [q.B, q.C, q.D, q.Offset.X, q.Offset.Y, q.Offset.Z];
        for (int i = 0; i < 6; i++)
        {
            BinaryPrimitives.WriteSingleLittleEndian(s[(256 + (4 * i))..], (float)quatern[i]);
        }

        AffineRas a = volume.Geometry.IndexToRas;
        for (int r = 0; r < 3; r++)
        {
            for (int c = 0; c < 4; c++)
            {
                BinaryPrimitives.WriteSingleLittleEndian(s[(280 + (16 * r) + (4 * c))..], (float)a[r, c]);
            }
        }

        "n+1\0"u8.CopyTo(s[344..]);
        return h;
    }

    private static byte[] Nifti2Header(Volume volume, VoxelType type)
    {
        var h = new byte[NiftiHeader.Nifti2Size];
        Span<byte> s = h;
        BinaryPrimitives.WriteInt32LittleEndian(s, NiftiHeader.Nifti2Size);
        "n+2\0\r\n\u001a\n"u8.CopyTo(s[4..]);
        BinaryPrimitives.WriteInt16LittleEndian(s[12..], (short)NiftiReader.DatatypeOf(type));
        BinaryPrimitives.WriteInt16LittleEndian(s[14..], (short)(Volume.BytesPerVoxel(type) * 8));
        Dims3 d = volume.Dims;
        long[] dim = [volume.Frames > 1 ? 4 : 3, d.I, d.J, d.K, volume.Frames, 1, 1, 1];
        Qform q = Qform.From(volume.Geometry.IndexToRas);
        double[] pixdim = [q.Qfac, q.SpacingMm.X, q.SpacingMm.Y, q.SpacingMm.Z, volume.Frames > 1 ? 1 : 0, 0, 0, 0];
        for (int i = 0; i < 8; i++)
        {
            BinaryPrimitives.WriteInt64LittleEndian(s[(16 + (8 * i))..], dim[i]);
            BinaryPrimitives.WriteDoubleLittleEndian(s[(104 + (8 * i))..], pixdim[i]);
        }

        BinaryPrimitives.WriteInt64LittleEndian(s[168..], NiftiHeader.Nifti2Size + 4);
        BinaryPrimitives.WriteDoubleLittleEndian(s[176..], volume.Slope);
        BinaryPrimitives.WriteDoubleLittleEndian(s[184..], volume.Intercept);
        Encoding.ASCII.GetBytes("KneeWeb", s[240..]);
        BinaryPrimitives.WriteInt32LittleEndian(s[344..], 1);
        BinaryPrimitives.WriteInt32LittleEndian(s[348..], 1);
        double[] quatern = [q.B, q.C, q.D, q.Offset.X, q.Offset.Y, q.Offset.Z];
        for (int i = 0; i < 6; i++)
        {
            BinaryPrimitives.WriteDoubleLittleEndian(s[(352 + (8 * i))..], quatern[i]);
        }

        AffineRas a = volume.Geometry.IndexToRas;
        for (int r = 0; r < 3; r++)
        {
            for (int c = 0; c < 4; c++)
            {
                BinaryPrimitives.WriteDoubleLittleEndian(s[(400 + (32 * r) + (8 * c))..], a[r, c]);
            }
        }

        BinaryPrimitives.WriteInt32LittleEndian(s[500..], 2 | 8);
        return h;
    }

    private static short Short(int value) => value <= short.MaxValue
        ? (short)value
        : throw new ArgumentException($"NIfTI-1 holds at most 32767 voxels along an axis; this volume has {value}: write NIfTI-2.", nameof(value));
}

/// <summary>
/// The qform form of an affine: the nearest rotation (polar decomposition, as nibabel does), qfac
/// for a left-handed grid, spacing and offset.
/// </summary>
internal readonly record struct Qform(double B, double C, double D, double Qfac, Vec3d SpacingMm, Vec3d Offset)
{
    public static Qform From(AffineRas affine)
    {
        Vec3d spacing = affine.SpacingMm;
        double[,] r = new double[3, 3];
        for (int c = 0; c < 3; c++)
        {
            Vec3d col = affine.Column(c);
            double len = col.Length;
            Vec3d unit = len > 0 ? col * (1.0 / len) : new Vec3d(c == 0 ? 1 : 0, c == 1 ? 1 : 0, c == 2 ? 1 : 0);
            r[0, c] = unit.X;
            r[1, c] = unit.Y;
            r[2, c] = unit.Z;
        }

        double qfac = 1;
        if (Det(r) < 0)
        {
            qfac = -1;
            r[0, 2] = -r[0, 2];
            r[1, 2] = -r[1, 2];
            r[2, 2] = -r[2, 2];
        }

        // Newton iteration for the orthogonal polar factor: R <- (R + R^-T) / 2.
        for (int iteration = 0; iteration < 30; iteration++)
        {
            double det = Det(r);
            if (Math.Abs(det) < 1e-12)
            {
                break;
            }

            double[,] invT = new double[3, 3];
            invT[0, 0] = ((r[1, 1] * r[2, 2]) - (r[1, 2] * r[2, 1])) / det;
            invT[0, 1] = ((r[1, 2] * r[2, 0]) - (r[1, 0] * r[2, 2])) / det;
            invT[0, 2] = ((r[1, 0] * r[2, 1]) - (r[1, 1] * r[2, 0])) / det;
            invT[1, 0] = ((r[0, 2] * r[2, 1]) - (r[0, 1] * r[2, 2])) / det;
            invT[1, 1] = ((r[0, 0] * r[2, 2]) - (r[0, 2] * r[2, 0])) / det;
            invT[1, 2] = ((r[0, 1] * r[2, 0]) - (r[0, 0] * r[2, 1])) / det;
            invT[2, 0] = ((r[0, 1] * r[1, 2]) - (r[0, 2] * r[1, 1])) / det;
            invT[2, 1] = ((r[0, 2] * r[1, 0]) - (r[0, 0] * r[1, 2])) / det;
            invT[2, 2] = ((r[0, 0] * r[1, 1]) - (r[0, 1] * r[1, 0])) / det;
            double change = 0;
            for (int i = 0; i < 3; i++)
            {
                for (int j = 0; j < 3; j++)
                {
                    double next = 0.5 * (r[i, j] + invT[i, j]);
                    change = Math.Max(change, Math.Abs(next - r[i, j]));
                    r[i, j] = next;
                }
            }

            if (change < 1e-15)
            {
                break;
            }
        }

        // nifti_mat44_to_quatern: the quaternion with a >= 0.
        double a = r[0, 0] + r[1, 1] + r[2, 2] + 1, b, cq, d;
        if (a > 0.5)
        {
            a = 0.5 * Math.Sqrt(a);
            b = 0.25 * (r[2, 1] - r[1, 2]) / a;
            cq = 0.25 * (r[0, 2] - r[2, 0]) / a;
            d = 0.25 * (r[1, 0] - r[0, 1]) / a;
        }
        else
        {
            double xd = 1.0 + r[0, 0] - (r[1, 1] + r[2, 2]);
            double yd = 1.0 + r[1, 1] - (r[0, 0] + r[2, 2]);
            double zd = 1.0 + r[2, 2] - (r[0, 0] + r[1, 1]);
            if (xd > 1.0)
            {
                b = 0.5 * Math.Sqrt(xd);
                cq = 0.25 * (r[0, 1] + r[1, 0]) / b;
                d = 0.25 * (r[0, 2] + r[2, 0]) / b;
                a = 0.25 * (r[2, 1] - r[1, 2]) / b;
            }
            else if (yd > 1.0)
            {
                cq = 0.5 * Math.Sqrt(yd);
                b = 0.25 * (r[0, 1] + r[1, 0]) / cq;
                d = 0.25 * (r[1, 2] + r[2, 1]) / cq;
                a = 0.25 * (r[0, 2] - r[2, 0]) / cq;
            }
            else
            {
                d = 0.5 * Math.Sqrt(zd);
                b = 0.25 * (r[0, 2] + r[2, 0]) / d;
                cq = 0.25 * (r[1, 2] + r[2, 1]) / d;
                a = 0.25 * (r[1, 0] - r[0, 1]) / d;
            }

            if (a < 0)
            {
                b = -b;
                cq = -cq;
                d = -d;
            }
        }

        return new Qform(b, cq, d, qfac, spacing, affine.OriginRas);
    }

    private static double Det(double[,] m) =>
        (m[0, 0] * ((m[1, 1] * m[2, 2]) - (m[1, 2] * m[2, 1])))
        - (m[0, 1] * ((m[1, 0] * m[2, 2]) - (m[1, 2] * m[2, 0])))
        + (m[0, 2] * ((m[1, 0] * m[2, 1]) - (m[1, 1] * m[2, 0])));
}
