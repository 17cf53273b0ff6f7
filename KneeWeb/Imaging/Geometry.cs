namespace KneeWeb.Imaging;

// Conventions, stated once for all of KneeWeb:
// - Voxel indices are (i, j, k), zero-based, with i varying fastest in memory (the on-disk order of
//   NIfTI, NRRD and MRC). Dims3.I is the length along i.
// - World coordinates are RAS+ millimetres (x grows to the subject's Right... to the Left->Right,
//   Posterior->Anterior, Inferior->Superior), the frame of NIfTI and nibabel's img.affine.
//   NRRD and DICOM speak LPS; readers convert at the boundary by negating x and y.
// - AffineRas maps an index (i, j, k) to a RAS point in mm, exactly like nibabel's img.affine.

/// <summary>Size of a 3D voxel grid along i, j and k.</summary>
public readonly record struct Dims3(int I, int J, int K)
{
    public long VoxelCount => (long)I * J * K;

    public long SliceSize => (long)I * J;

    public long Index(int i, int j, int k) => i + ((long)I * (j + ((long)J * k)));

    public override string ToString() => $"{I}x{J}x{K}";
}

/// <summary>A 3-vector in double precision (a point in mm or an index-space position).</summary>
public readonly record struct Vec3d(double X, double Y, double Z)
{
    public static Vec3d operator +(Vec3d a, Vec3d b) => new(a.X + b.X, a.Y + b.Y, a.Z + b.Z);

    public static Vec3d operator -(Vec3d a, Vec3d b) => new(a.X - b.X, a.Y - b.Y, a.Z - b.Z);

    public static Vec3d operator *(Vec3d a, double s) => new(a.X * s, a.Y * s, a.Z * s);

    public static Vec3d operator -(Vec3d a) => new(-a.X, -a.Y, -a.Z);

    public double Dot(Vec3d b) => (X * b.X) + (Y * b.Y) + (Z * b.Z);

    public Vec3d Cross(Vec3d b) => new((Y * b.Z) - (Z * b.Y), (Z * b.X) - (X * b.Z), (X * b.Y) - (Y * b.X));

    public double Length => Math.Sqrt(Dot(this));

    public Vec3d Normalized()
    {
        double length = Length;
        return length > 0 ? this * (1.0 / length) : this;
    }
}

/// <summary>
/// Affine map from a voxel index (i, j, k) to a RAS point in mm: the top three rows of a 4x4
/// homogeneous matrix whose last row is (0, 0, 0, 1). Same meaning as nibabel's <c>img.affine</c>.
/// </summary>
public readonly struct AffineRas : IEquatable<AffineRas>
{
    private readonly double m00, m01, m02, m03, m10, m11, m12, m13, m20, m21, m22, m23;

    public AffineRas(
        double m00, double m01, double m02, double m03,
        double m10, double m11, double m12, double m13,
        double m20, double m21, double m22, double m23)
    {
        this.m00 = m00; this.m01 = m01; this.m02 = m02; this.m03 = m03;
        this.m10 = m10; this.m11 = m11; this.m12 = m12; this.m13 = m13;
        this.m20 = m20; this.m21 = m21; this.m22 = m22; this.m23 = m23;
    }

    public static AffineRas Identity => new(1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0);

    /// <summary>Axis-aligned grid with the given spacing, voxel (0,0,0) at <paramref name="originRas"/>.</summary>
    public static AffineRas FromSpacing(Vec3d spacingMm, Vec3d originRas) =>
        new(spacingMm.X, 0, 0, originRas.X, 0, spacingMm.Y, 0, originRas.Y, 0, 0, spacingMm.Z, originRas.Z);

    /// <summary>Builds the affine from unit direction columns, spacing and origin (ITK-style geometry).</summary>
    public static AffineRas FromDirections(Vec3d dirI, Vec3d dirJ, Vec3d dirK, Vec3d spacingMm, Vec3d originRas) =>
        new(dirI.X * spacingMm.X, dirJ.X * spacingMm.Y, dirK.X * spacingMm.Z, originRas.X,
            dirI.Y * spacingMm.X, dirJ.Y * spacingMm.Y, dirK.Y * spacingMm.Z, originRas.Y,
            dirI.Z * spacingMm.X, dirJ.Z * spacingMm.Y, dirK.Z * spacingMm.Z, originRas.Z);

    /// <summary>Element (row, column) of the 4x4 matrix.</summary>
    public double this[int row, int column] => (row, column) switch
    {
        (0, 0) => m00, (0, 1) => m01, (0, 2) => m02, (0, 3) => m03,
        (1, 0) => m10, (1, 1) => m11, (1, 2) => m12, (1, 3) => m13,
        (2, 0) => m20, (2, 1) => m21, (2, 2) => m22, (2, 3) => m23,
        (3, 3) => 1.0,
        (3, >= 0 and <= 2) => 0.0,
        _ => throw new ArgumentOutOfRangeException(nameof(row)),
    };

    /// <summary>Column c (0..2) of the linear part: the RAS step in mm for one voxel along that index axis.</summary>
    public Vec3d Column(int c) => c switch
    {
        0 => new(m00, m10, m20),
        1 => new(m01, m11, m21),
        2 => new(m02, m12, m22),
        _ => throw new ArgumentOutOfRangeException(nameof(c)),
    };

    public Vec3d OriginRas => new(m03, m13, m23);

    /// <summary>Voxel spacing in mm: the lengths of the three columns, as nibabel's voxel sizes.</summary>
    public Vec3d SpacingMm => new(Column(0).Length, Column(1).Length, Column(2).Length);

    public double Determinant =>
        (m00 * ((m11 * m22) - (m12 * m21))) - (m01 * ((m10 * m22) - (m12 * m20))) + (m02 * ((m10 * m21) - (m11 * m20)));

    public Vec3d Apply(Vec3d indexIjk) => new(
        (m00 * indexIjk.X) + (m01 * indexIjk.Y) + (m02 * indexIjk.Z) + m03,
        (m10 * indexIjk.X) + (m11 * indexIjk.Y) + (m12 * indexIjk.Z) + m13,
        (m20 * indexIjk.X) + (m21 * indexIjk.Y) + (m22 * indexIjk.Z) + m23);

    /// <summary>Applies only the linear part (for directions and normals expressed per index step).</summary>
    public Vec3d ApplyLinear(Vec3d v) => new(
        (m00 * v.X) + (m01 * v.Y) + (m02 * v.Z),
        (m10 * v.X) + (m11 * v.Y) + (m12 * v.Z),
        (m20 * v.X) + (m21 * v.Y) + (m22 * v.Z));

    public AffineRas Inverse()
    {
        double det = Determinant;
        if (det == 0 || !double.IsFinite(det))
        {
            throw new InvalidOperationException("The affine is singular and cannot be inverted.");
        }

        double inv = 1.0 / det;
        double a00 = ((m11 * m22) - (m12 * m21)) * inv, a01 = ((m02 * m21) - (m01 * m22)) * inv, a02 = ((m01 * m12) - (m02 * m11)) * inv;
        double a10 = ((m12 * m20) - (m10 * m22)) * inv, a11 = ((m00 * m22) - (m02 * m20)) * inv, a12 = ((m02 * m10) - (m00 * m12)) * inv;
        double a20 = ((m10 * m21) - (m11 * m20)) * inv, a21 = ((m01 * m20) - (m00 * m21)) * inv, a22 = ((m00 * m11) - (m01 * m10)) * inv;
        double t0 = -((a00 * m03) + (a01 * m13) + (a02 * m23));
        double t1 = -((a10 * m03) + (a11 * m13) + (a12 * m23));
        double t2 = -((a20 * m03) + (a21 * m13) + (a22 * m23));
        return new(a00, a01, a02, t0, a10, a11, a12, t1, a20, a21, a22, t2);
    }

    /// <summary>this x other: applies <paramref name="other"/> first, then this.</summary>
    public AffineRas Multiply(AffineRas other)
    {
        double[,] a = ToArray();
        double[,] b = other.ToArray();
        double[,] r = new double[4, 4];
        for (int i = 0; i < 4; i++)
        {
            for (int j = 0; j < 4; j++)
            {
                double s = 0;
                for (int k = 0; k < 4; k++)
                {
                    s += a[i, k] * b[k, j];
                }

                r[i, j] = s;
            }
        }

        return FromArray(r);
    }

    public double[,] ToArray()
    {
        var r = new double[4, 4];
        for (int i = 0; i < 4; i++)
        {
            for (int j = 0; j < 4; j++)
            {
                r[i, j] = this[i, j];
            }
        }

        return r;
    }

    /// <summary>Row-major 4x4 as nested arrays (the JSON shape of <c>affine_ras</c>).</summary>
    public double[][] ToRows()
    {
        var rows = new double[4][];
        for (int i = 0; i < 4; i++)
        {
            rows[i] = [this[i, 0], this[i, 1], this[i, 2], this[i, 3]];
        }

        return rows;
    }

    public static AffineRas FromArray(double[,] m)
    {
        ArgumentNullException.ThrowIfNull(m);
        return new(m[0, 0], m[0, 1], m[0, 2], m[0, 3], m[1, 0], m[1, 1], m[1, 2], m[1, 3], m[2, 0], m[2, 1], m[2, 2], m[2, 3]);
    }

    public bool ApproximatelyEquals(AffineRas other, double toleranceMm)
    {
        for (int i = 0; i < 3; i++)
        {
            for (int j = 0; j < 4; j++)
            {
                if (Math.Abs(this[i, j] - other[i, j]) > toleranceMm)
                {
                    return false;
                }
            }
        }

        return true;
    }

    public bool Equals(AffineRas other) => ApproximatelyEquals(other, 0);

    public override bool Equals(object? obj) => obj is AffineRas other && Equals(other);

    public override int GetHashCode() => HashCode.Combine(m00, m11, m22, m03, m13, m23);

    public static bool operator ==(AffineRas left, AffineRas right) => left.Equals(right);

    public static bool operator !=(AffineRas left, AffineRas right) => !left.Equals(right);
}

/// <summary>Where a voxel grid sits in the world: its size and its index-to-RAS affine.</summary>
public sealed record VolumeGeometry(Dims3 Dims, AffineRas IndexToRas)
{
    public Vec3d SpacingMm => IndexToRas.SpacingMm;

    public Vec3d OriginRas => IndexToRas.OriginRas;
}
