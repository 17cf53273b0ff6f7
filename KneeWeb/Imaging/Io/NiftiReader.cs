using System.Globalization;

namespace KneeWeb.Imaging.Io;

/// <summary>
/// Reads NIfTI-1 and NIfTI-2: .nii, .nii.gz and .hdr/.img pairs (either part gzipped), both byte
/// orders. Geometry follows nibabel's <c>img.affine</c>: sform when sform_code != 0, else qform
/// when qform_code != 0, else the centred pixdim affine (x flipped), scaled to mm by xyzt_units.
/// </summary>
internal static class NiftiReader
{
    /// <summary>The validated meaning of a header: what to allocate and where it sits in the world.</summary>
    internal sealed record Layout(Dims3 Dims, int Frames, VoxelType Type, long Voxels, long Bytes, long VoxOffset,
        AffineRas Affine, string AffineSource, double Slope, double Intercept);

    public static Volume Read(string path, VolumeReadOptions options)
    {
        string headerPath = HeaderPathFor(path);
        using Stream headerStream = VoxelData.Open(headerPath, out bool gzip, out long storedLength);
        NiftiHeader header = ReadHeader(headerStream);
        Layout layout = Validate(header, options);
        options.CheckHeader?.Invoke(VolumeHeaderInfo.Of(header.FormatName, layout.Dims, layout.Frames, layout.Type, layout.Affine));
        (Array Voxels, VoxelType Type, double Slope, double Intercept) data;
        if (header.SingleFile)
        {
            VoxelData.CheckFits(header.FormatName, "vox_offset + data size", layout.VoxOffset + layout.Bytes, storedLength, gzip);
            layout = ReadExtensions(headerStream, header, layout);
            data = VoxelData.ReadVolume(headerStream, layout.Type, layout.Voxels, header.BigEndian, layout.Slope, layout.Intercept, options, header.FormatName);
        }
        else
        {
            string imagePath = ImagePathFor(headerPath)
                ?? throw new InvalidImageException(header.FormatName, "magic", "ni" + header.Version.ToString(CultureInfo.InvariantCulture),
                    $"the header says the voxels are in a separate .img file, but none sits beside {Path.GetFileName(headerPath)}");
            using Stream image = VoxelData.Open(imagePath, out bool imageGzip, out long imageLength);
            VoxelData.CheckFits(header.FormatName, "vox_offset + data size", layout.VoxOffset + layout.Bytes, imageLength, imageGzip);
            VoxelData.Skip(image, layout.VoxOffset, header.FormatName, "vox_offset");
            data = VoxelData.ReadVolume(image, layout.Type, layout.Voxels, header.BigEndian, layout.Slope, layout.Intercept, options, header.FormatName);
        }

        return new Volume(new VolumeGeometry(layout.Dims, layout.Affine), data.Type, data.Voxels, layout.Frames, data.Slope, data.Intercept)
        {
            Metadata = new ImageMetadata
            {
                Format = header.FormatName,
                SourceName = Path.GetFileName(path),
                HeaderSpacingMm = HeaderSpacing(header),
                Properties = new Dictionary<string, string>(StringComparer.Ordinal)
                {
                    ["affine_source"] = layout.AffineSource,
                    ["qform_code"] = header.QformCode.ToString(CultureInfo.InvariantCulture),
                    ["sform_code"] = header.SformCode.ToString(CultureInfo.InvariantCulture),
                    ["byte_order"] = header.BigEndian ? "big-endian" : "little-endian",
                    ["file_datatype"] = layout.Type.ToString().ToLowerInvariant(),
                },
            },
        };
    }

    /// <summary>
    /// Moves the stream from the header's end to the data, reading the extensions on the way when
    /// they are small; KneeWeb's double-precision affine replaces the float32 sform it matches.
    /// </summary>
    private static Layout ReadExtensions(Stream stream, NiftiHeader header, Layout layout)
    {
        long length = layout.VoxOffset - header.HeaderSize;
        bool mm = (header.XyztUnits & 0x07) is 0 or 2;
        if (header.Version != 1 || length > 1 << 20 || length < 4 + NiftiAffineExtension.Size || layout.AffineSource != "sform" || !mm)
        {
            VoxelData.Skip(stream, length, header.FormatName, "vox_offset");
            return layout;
        }

        byte[] region = new byte[length];
        int got = VoxelData.ReadUpTo(stream, region);
        if (got < length)
        {
            throw new InvalidImageException(header.FormatName, "vox_offset", layout.VoxOffset.ToString(CultureInfo.InvariantCulture), "the data offset lies outside the file");
        }

        AffineRas? exact = NiftiAffineExtension.Find(region, header.BigEndian, layout.Affine);
        return exact is AffineRas affine ? layout with { Affine = affine, AffineSource = "sform (double precision from KneeWeb extension)" } : layout;
    }

    /// <summary>Reads exactly the header's bytes (348 or 540, told by sizeof_hdr).</summary>
    internal static NiftiHeader ReadHeader(Stream stream)
    {
        byte[] bytes = new byte[NiftiHeader.Nifti2Size];
        int got = VoxelData.ReadUpTo(stream, bytes.AsSpan(0, 4));
        if (got < 4)
        {
            throw new InvalidImageException("NIfTI", "sizeof_hdr", $"{got} bytes", "the file is too short for a NIfTI header");
        }

        int le = BitConverter.ToInt32(bytes, 0);
        int be = System.Buffers.Binary.BinaryPrimitives.ReverseEndianness(le);
        int size = le is NiftiHeader.Nifti1Size or NiftiHeader.Nifti2Size ? le
            : be is NiftiHeader.Nifti1Size or NiftiHeader.Nifti2Size ? be
            : throw new InvalidImageException("NIfTI", "sizeof_hdr", le.ToString(CultureInfo.InvariantCulture), "must be 348 (NIfTI-1) or 540 (NIfTI-2) in either byte order");
        got += VoxelData.ReadUpTo(stream, bytes.AsSpan(4, size - 4));
        return NiftiHeader.Parse(bytes.AsSpan(0, got), size == NiftiHeader.Nifti1Size ? "NIfTI-1" : "NIfTI-2");
    }

    /// <summary>Checks every field KneeWeb relies on and derives the layout and the RAS affine.</summary>
    internal static Layout Validate(NiftiHeader h, VolumeReadOptions options)
    {
        string f = h.FormatName;
        long ndim = h.Dim[0];
        if (ndim is < 1 or > 7)
        {
            throw new InvalidImageException(f, "dim[0]", Str(ndim), "the number of dimensions must be 1 to 7");
        }

        for (int i = 1; i <= ndim; i++)
        {
            if (h.Dim[i] < 1)
            {
                throw new InvalidImageException(f, $"dim[{i}]", Str(h.Dim[i]), "a dimension must be at least 1");
            }
        }

        for (int i = 5; i <= ndim; i++)
        {
            if (h.Dim[i] != 1)
            {
                throw new InvalidImageException(f, $"dim[{i}]", Str(h.Dim[i]), "images with more than 4 dimensions are not supported");
            }
        }

        long[] extent = [h.Dim[1], ndim >= 2 ? h.Dim[2] : 1, ndim >= 3 ? h.Dim[3] : 1, ndim >= 4 ? h.Dim[4] : 1];
        for (int i = 0; i < 4; i++)
        {
            if (extent[i] > int.MaxValue)
            {
                throw new InvalidImageException(f, $"dim[{i + 1}]", Str(extent[i]), "a dimension must be below 2^31");
            }
        }

        VoxelType type = TypeOf(h.Datatype, f);
        int bits = Volume.BytesPerVoxel(type) * 8;
        if (h.Bitpix != bits)
        {
            throw new InvalidImageException(f, "bitpix", Str(h.Bitpix), $"datatype {h.Datatype} ({type}) has {bits} bits per voxel");
        }

        (long voxels, long bytes) = VoxelData.CheckSize(f, "dim", extent, type, options);

        long minOffset = h.SingleFile ? h.HeaderSize + 4 : 0;
        if (!double.IsFinite(h.VoxOffset) || h.VoxOffset < 0 || h.VoxOffset > long.MaxValue / 2)
        {
            throw new InvalidImageException(f, "vox_offset", Str(h.VoxOffset), "the data offset must be a finite, non-negative byte count");
        }

        // nibabel reads int(vox_offset) and lifts a single-file offset below the header to 352 (544).
        long voxOffset = Math.Max((long)h.VoxOffset, minOffset);
        if (voxOffset - minOffset > options.MaxBytes)
        {
            throw new InvalidImageException(f, "vox_offset", Str(voxOffset), $"the extensions before the data exceed the cap of {options.MaxBytes} bytes");
        }

        (AffineRas affine, string source) = ChooseAffine(h);

        double slope = h.SclSlope, intercept = h.SclInter;
        if (slope == 0 || !double.IsFinite(slope))
        {
            slope = 1;
            intercept = 0;
        }
        else if (!double.IsFinite(intercept))
        {
            throw new InvalidImageException(f, "scl_inter", Str(intercept), "the intercept must be finite when scl_slope is set");
        }

        var dims = new Dims3((int)extent[0], (int)extent[1], (int)extent[2]);
        return new Layout(dims, (int)extent[3], type, voxels, bytes, voxOffset, affine, source, slope, intercept);
    }

    /// <summary>nibabel's get_best_affine, in mm.</summary>
    internal static (AffineRas Affine, string Source) ChooseAffine(NiftiHeader h)
    {
        string f = h.FormatName;
        double toMm = (h.XyztUnits & 0x07) switch
        {
            1 => 1000.0, // metres
            3 => 0.001, // micrometres
            _ => 1.0, // mm, or unknown: every tool assumes mm
        };

        AffineRas affine;
        string source;
        if (h.SformCode != 0)
        {
            source = "sform";
            affine = new AffineRas(
                h.SrowX[0], h.SrowX[1], h.SrowX[2], h.SrowX[3],
                h.SrowY[0], h.SrowY[1], h.SrowY[2], h.SrowY[3],
                h.SrowZ[0], h.SrowZ[1], h.SrowZ[2], h.SrowZ[3]);
            string[] rows = ["srow_x", "srow_y", "srow_z"];
            for (int r = 0; r < 3; r++)
            {
                for (int c = 0; c < 4; c++)
                {
                    if (!double.IsFinite(affine[r, c]))
                    {
                        throw new InvalidImageException(f, $"{rows[r]}[{c}]", Str(affine[r, c]), "the sform must be finite");
                    }
                }
            }

            for (int c = 0; c < 3; c++)
            {
                if (affine.Column(c).Length == 0)
                {
                    throw new InvalidImageException(f, $"srow_*[{c}]", "0", $"the sform gives zero spacing along axis {c}");
                }
            }
        }
        else if (h.QformCode != 0)
        {
            source = "qform";
            Vec3d spacing = SpatialPixdim(h, qform: true);
            affine = QformAffine(h, spacing);
        }
        else
        {
            source = "pixdim";
            Vec3d spacing = SpatialPixdim(h, qform: false);
            long ndim = h.Dim[0];
            double ci = (h.Dim[1] - 1) / 2.0, cj = ndim >= 2 ? (h.Dim[2] - 1) / 2.0 : 0, ck = ndim >= 3 ? (h.Dim[3] - 1) / 2.0 : 0;
            affine = new AffineRas(
                -spacing.X, 0, 0, ci * spacing.X,
                0, spacing.Y, 0, -cj * spacing.Y,
                0, 0, spacing.Z, -ck * spacing.Z);
        }

        if (toMm != 1.0)
        {
            affine = AffineRas.FromSpacing(new Vec3d(toMm, toMm, toMm), default).Multiply(affine);
        }

        return (affine, source);
    }

    private static AffineRas QformAffine(NiftiHeader h, Vec3d spacing)
    {
        double b = h.QuaternB, c = h.QuaternC, d = h.QuaternD;
        if (!double.IsFinite(b) || !double.IsFinite(c) || !double.IsFinite(d))
        {
            throw new InvalidImageException(h.FormatName, "quatern_b/c/d", $"({Str(b)}, {Str(c)}, {Str(d)})", "the qform quaternion must be finite");
        }

        // nibabel's fillpositive: a tiny negative w^2 from float rounding counts as 0.
        double threshold = h.Version == 2 ? -3 * 2.220446049250313e-16 : -3 * 1.1920929e-07;
        double w2 = 1.0 - ((b * b) + (c * c) + (d * d));
        if (w2 < threshold)
        {
            throw new InvalidImageException(h.FormatName, "quatern_b/c/d", $"({Str(b)}, {Str(c)}, {Str(d)})", "b^2 + c^2 + d^2 must not exceed 1");
        }

        double a = w2 < 0 ? 0 : Math.Sqrt(w2);
        double n = (a * a) + (b * b) + (c * c) + (d * d);
        double s = n < 1e-300 ? 0 : 2.0 / n;
        double xs = b * s, ys = c * s, zs = d * s;
        double wx = a * xs, wy = a * ys, wz = a * zs;
        double xx = b * xs, xy = b * ys, xz = b * zs;
        double yy = c * ys, yz = c * zs, zz = d * zs;
        double r00 = 1 - (yy + zz), r01 = xy - wz, r02 = xz + wy;
        double r10 = xy + wz, r11 = 1 - (xx + zz), r12 = yz - wx;
        double r20 = xz - wy, r21 = yz + wx, r22 = 1 - (xx + yy);
        if (s == 0)
        {
            (r00, r01, r02, r10, r11, r12, r20, r21, r22) = (1, 0, 0, 0, 1, 0, 0, 0, 1);
        }

        double qfac = h.Pixdim[0] == -1 ? -1 : 1; // nibabel (and the standard) read any other qfac as 1
        double si = spacing.X, sj = spacing.Y, sk = spacing.Z * qfac;
        if (!double.IsFinite(h.QoffsetX) || !double.IsFinite(h.QoffsetY) || !double.IsFinite(h.QoffsetZ))
        {
            throw new InvalidImageException(h.FormatName, "qoffset_x/y/z", $"({Str(h.QoffsetX)}, {Str(h.QoffsetY)}, {Str(h.QoffsetZ)})", "the qform offset must be finite");
        }

        return new AffineRas(
            r00 * si, r01 * sj, r02 * sk, h.QoffsetX,
            r10 * si, r11 * sj, r12 * sk, h.QoffsetY,
            r20 * si, r21 * sj, r22 * sk, h.QoffsetZ);
    }

    /// <summary>
    /// |pixdim[1..3]| scaled to mm by xyzt_units, as ITK's NIfTI reader sets the spacing (whatever
    /// the sform's column lengths say); null when one is zero or not finite.
    /// </summary>
    private static Vec3d? HeaderSpacing(NiftiHeader h)
    {
        double toMm = (h.XyztUnits & 0x07) switch
        {
            1 => 1000.0,
            3 => 0.001,
            _ => 1.0,
        };
        Span<double> spacing = stackalloc double[3];
        for (int i = 1; i <= 3; i++)
        {
            double p = i > h.Dim[0] ? 1 : Math.Abs(h.Pixdim[i]) * toMm;
            if (!(p > 0) || !double.IsFinite(p))
            {
                return null;
            }

            spacing[i - 1] = p;
        }

        return new Vec3d(spacing[0], spacing[1], spacing[2]);
    }

    /// <summary>pixdim[1..3] as nibabel uses them: absolute values; axes beyond dim[0] default to 1.</summary>
    private static Vec3d SpatialPixdim(NiftiHeader h, bool qform)
    {
        Span<double> spacing = stackalloc double[3];
        for (int i = 1; i <= 3; i++)
        {
            double p = h.Pixdim[i];
            if (i > h.Dim[0])
            {
                // nibabel pads missing axes with 1 (base affine) or fixes a zero pixdim to 1 (qform).
                spacing[i - 1] = !qform || p == 0 || !double.IsFinite(p) ? 1 : Math.Abs(p);
                continue;
            }

            if (!double.IsFinite(p))
            {
                throw new InvalidImageException(h.FormatName, $"pixdim[{i}]", Str(p), "the voxel spacing must be finite");
            }

            if (p == 0)
            {
                throw new InvalidImageException(h.FormatName, $"pixdim[{i}]", "0", "the voxel spacing must not be zero");
            }

            spacing[i - 1] = Math.Abs(p);
        }

        return new Vec3d(spacing[0], spacing[1], spacing[2]);
    }

    internal static VoxelType TypeOf(int datatype, string format) => datatype switch
    {
        2 => VoxelType.UInt8,
        4 => VoxelType.Int16,
        8 => VoxelType.Int32,
        16 => VoxelType.Float32,
        64 => VoxelType.Float64,
        256 => VoxelType.Int8,
        512 => VoxelType.UInt16,
        768 => VoxelType.UInt32,
        1024 => VoxelType.Int64,
        1280 => VoxelType.UInt64,
        32 or 1792 or 2048 => throw new InvalidImageException(format, "datatype", Str(datatype), "complex voxels are not supported: KneeWeb reads real-valued (magnitude) images"),
        128 or 2304 => throw new InvalidImageException(format, "datatype", Str(datatype), "RGB colour voxels are not supported: KneeWeb reads grey-scale images"),
        1 => throw new InvalidImageException(format, "datatype", "1", "1-bit voxels are not supported"),
        1536 => throw new InvalidImageException(format, "datatype", "1536", "float128 voxels are not supported"),
        _ => throw new InvalidImageException(format, "datatype", Str(datatype), "unknown NIfTI datatype code"),
    };

    internal static int DatatypeOf(VoxelType type) => type switch
    {
        VoxelType.UInt8 => 2,
        VoxelType.Int16 => 4,
        VoxelType.Int32 => 8,
        VoxelType.Float32 => 16,
        VoxelType.Float64 => 64,
        VoxelType.Int8 => 256,
        VoxelType.UInt16 => 512,
        VoxelType.UInt32 => 768,
        VoxelType.Int64 => 1024,
        VoxelType.UInt64 => 1280,
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, "NIfTI has no code for this voxel type"),
    };

    /// <summary>The header of a pair or a single file; for an .img, the .hdr beside it.</summary>
    internal static string HeaderPathFor(string path)
    {
        string? stem = StemOf(path, ".img");
        if (stem is null)
        {
            return path;
        }

        foreach (string candidate in new[] { stem + ".hdr", stem + ".hdr.gz" })
        {
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        return path;
    }

    internal static string? ImagePathFor(string headerPath)
    {
        string? stem = StemOf(headerPath, ".hdr");
        if (stem is null)
        {
            return null;
        }

        foreach (string candidate in new[] { stem + ".img", stem + ".img.gz" })
        {
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        return null;
    }

    private static string? StemOf(string path, string extension)
    {
        if (path.EndsWith(extension, StringComparison.OrdinalIgnoreCase))
        {
            return path[..^extension.Length];
        }

        return path.EndsWith(extension + ".gz", StringComparison.OrdinalIgnoreCase) ? path[..^(extension.Length + 3)] : null;
    }

    private static string Str(double value) => value.ToString(CultureInfo.InvariantCulture);

    private static string Str(long value) => value.ToString(CultureInfo.InvariantCulture);
}
