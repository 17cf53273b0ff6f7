using Xunit;
using KneeWeb.Imaging;
using KneeWeb.Imaging.Io;
using KneeWeb.Tests.TestData;

namespace KneeWeb.Tests.Imaging.Io;

/// <summary>Golden geometry: affines worked out by hand from the NIfTI standard (and nibabel's rules).</summary>
[Trait("Category", "unit")]
public sealed class NiftiGeometryTests : IDisposable
{
    private readonly TempFolder temp = new();

    public void Dispose() => temp.Dispose();

    private AffineRas Read(NiftiSpec spec)
    {
        string path = temp.File(Guid.NewGuid().ToString("N") + ".nii");
        spec.WriteFile(path, new byte[4 * 3 * 2 * 2]);
        return VolumeIo.Read(path).Geometry.IndexToRas;
    }

    [Fact]
    public void Sform_wins_over_qform()
    {
        AffineRas a = Read(new NiftiSpec
        {
            QformCode = 1,
            Quatern = [0, 0, 1, 5, 6, 7],
            SformCode = 2,
            Srow = [-0.9, 0.1, 0, 90, 0.1, 0.9, 0, -120, 0, 0, 3, -60],
        });
        VoxelFixtures.AssertAffine(new AffineRas(-0.9f, 0.1f, 0, 90, 0.1f, 0.9f, 0, -120, 0, 0, 3, -60), a, 0);
    }

    [Fact]
    public void Qform_only_rotation_about_z_by_180_degrees()
    {
        // Quaternion (0, 0, 0, 1): 180 degrees about z flips x and y.
        AffineRas a = Read(new NiftiSpec { QformCode = 1, Pixdim = [1, 0.5, 0.6, 2, 0, 0, 0, 0], Quatern = [0, 0, 1, 5, 6, 7] });
        VoxelFixtures.AssertAffine(new AffineRas(-0.5, 0, 0, 5, 0, -0.6f, 0, 6, 0, 0, 2, 7), a, 1e-7);
    }

    [Fact]
    public void Qform_only_with_qfac_minus_one_flips_k()
    {
        AffineRas a = Read(new NiftiSpec { QformCode = 1, Pixdim = [-1, 0.5, 0.5, 3, 0, 0, 0, 0], Quatern = [0, 0, 0, -1, 2, 3] });
        VoxelFixtures.AssertAffine(new AffineRas(0.5, 0, 0, -1, 0, 0.5, 0, 2, 0, 0, -3, 3), a, 1e-7);
    }

    [Fact]
    public void Qform_oblique_90_degrees_about_x()
    {
        double h = Math.Sqrt(0.5);
        AffineRas a = Read(new NiftiSpec { QformCode = 1, Pixdim = [1, 1, 2, 3, 0, 0, 0, 0], Quatern = [h, 0, 0, 0, 0, 0] });
        // R = rotation about x by 90 degrees: y -> z, z -> -y.
        VoxelFixtures.AssertAffine(new AffineRas(1, 0, 0, 0, 0, 0, -3, 0, 0, 2, 0, 0), a, 1e-6);
    }

    [Fact]
    public void Negative_pixdim_counts_as_its_absolute_value_in_the_qform()
    {
        AffineRas a = Read(new NiftiSpec { QformCode = 1, Pixdim = [1, -2, 1, 1, 0, 0, 0, 0] });
        VoxelFixtures.AssertAffine(new AffineRas(2, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0), a, 0);
    }

    [Fact]
    public void Sform_with_negative_spacing_is_kept_as_written()
    {
        AffineRas a = Read(new NiftiSpec { SformCode = 1, Srow = [-1.5, 0, 0, 100, 0, -1.5, 0, 100, 0, 0, -4, 50] });
        VoxelFixtures.AssertAffine(new AffineRas(-1.5, 0, 0, 100, 0, -1.5, 0, 100, 0, 0, -4, 50), a, 0);
        Assert.Equal(new Vec3d(1.5, 1.5, 4), a.SpacingMm);
    }

    [Fact]
    public void No_qform_and_no_sform_gives_the_centred_pixdim_affine()
    {
        // nibabel: diag(-dx, dy, dz), origin at -(dim-1)/2 * zooms with x flipped.
        AffineRas a = Read(new NiftiSpec { Dim = [3, 4, 3, 2, 1, 1, 1, 1], Pixdim = [1, 2, 3, 4, 0, 0, 0, 0] });
        VoxelFixtures.AssertAffine(new AffineRas(-2, 0, 0, 3, 0, 3, 0, -3, 0, 0, 4, -2), a, 0);
    }

    [Fact]
    public void Units_in_metres_and_micrometres_are_scaled_to_mm()
    {
        AffineRas m = Read(new NiftiSpec { Units = 1, SformCode = 1, Srow = [0.001, 0, 0, 0.1, 0, 0.001, 0, 0, 0, 0, 0.002, 0] });
        VoxelFixtures.AssertAffine(new AffineRas(1, 0, 0, 100, 0, 1, 0, 0, 0, 0, 2, 0), m, 1e-4);
        AffineRas um = Read(new NiftiSpec { Units = 3, SformCode = 1, Srow = [500, 0, 0, 0, 0, 500, 0, 0, 0, 0, 1000, 0] });
        VoxelFixtures.AssertAffine(new AffineRas(0.5, 0, 0, 0, 0, 0.5, 0, 0, 0, 0, 1, 0), um, 1e-9);
    }
}
