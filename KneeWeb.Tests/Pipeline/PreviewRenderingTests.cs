using KneeWeb.Imaging;
using KneeWeb.Imaging.Phantom;
using KneeWeb.Imaging.Segmentation;
using KneeWeb.Inference;
using KneeWeb.Pipeline;
using Xunit;

namespace KneeWeb.Tests.Pipeline;

/// <summary>
/// The live preview is laid out as the volume viewer (NiiVue, radiological) shows the same plane, decided from the
/// affine: analytic markers on small grids, the phantom's anatomy, and the same knee stored with its axes permuted
/// and reversed previewing identically.
/// </summary>
[Trait("Category", "unit")]
public sealed class PreviewRenderingTests
{
    /// <summary>The three mid-planes the predictor offers, cut by its own sampler from a label grid.</summary>
    private static SegmentationPreview Planes(Dims3 dims, byte[] labels)
    {
        SegmentationPreview? offered = null;
        var sampler = new PreviewSampler(p => offered = p, TimeSpan.Zero);
        sampler.Offer(1, true, n => labels[n], n => labels[n], dims, (dims.I / 2, dims.J / 2, dims.K / 2));
        return offered!;
    }

    private static (int X, int Y) Where(OrientedPreview p, byte label)
    {
        int at = Array.IndexOf(p.Labels, label);
        Assert.True(at >= 0, $"label {label} is not in the {p.Plane} preview");
        return (at % p.Width, at / p.Width);
    }

    private static (double X, double Y) Centroid(OrientedPreview p, byte label)
    {
        double x = 0, y = 0;
        int n = 0;
        for (int i = 0; i < p.Labels.Length; i++)
        {
            if (p.Labels[i] == label)
            {
                x += i % p.Width;
                y += i / p.Width;
                n++;
            }
        }

        Assert.True(n > 0, $"label {label} is not in the {p.Plane} preview");
        return (x / n, y / n);
    }

    [Fact]
    public void On_an_ras_grid_the_patients_right_is_on_screen_left_and_superior_and_anterior_are_up()
    {
        // i -> right, j -> anterior, k -> superior, 1 mm; markers on the mid lines of a 5^3 grid.
        var dims = new Dims3(5, 5, 5);
        var labels = new byte[dims.VoxelCount];
        labels[dims.Index(4, 2, 2)] = 1; // patient's right
        labels[dims.Index(2, 4, 2)] = 2; // anterior
        labels[dims.Index(2, 2, 4)] = 3; // superior
        SegmentationPreview planes = Planes(dims, labels);
        AffineRas ras = AffineRas.FromSpacing(new Vec3d(1, 1, 1), new Vec3d(0, 0, 0));

        OrientedPreview coronal = PreviewRendering.Orient(planes, ras, AnatomicalPlane.Coronal);
        Assert.Equal("coronal", coronal.Plane);
        Assert.Equal((0, 2), Where(coronal, 1)); // right on the left
        Assert.Equal((2, 0), Where(coronal, 3)); // superior on top

        OrientedPreview axial = PreviewRendering.Orient(planes, ras, AnatomicalPlane.Axial);
        Assert.Equal((0, 2), Where(axial, 1));
        Assert.Equal((2, 0), Where(axial, 2)); // anterior on top

        OrientedPreview sagittal = PreviewRendering.Orient(planes, ras, AnatomicalPlane.Sagittal);
        Assert.Equal((4, 2), Where(sagittal, 2)); // anterior on the right, as NiiVue draws a sagittal slice
        Assert.Equal((2, 0), Where(sagittal, 3));
    }

    [Fact]
    public void An_lps_grid_with_non_square_planes_previews_like_the_ras_one()
    {
        // i -> left, j -> posterior, k -> inferior (DICOM's LPS order), 7 x 5 x 3: every flip and no square plane to hide a transpose.
        var dims = new Dims3(7, 5, 3);
        var labels = new byte[dims.VoxelCount];
        labels[dims.Index(0, 2, 1)] = 1; // i = 0 is the patient's rightmost column
        labels[dims.Index(3, 0, 1)] = 2; // j = 0 is the most anterior row
        labels[dims.Index(3, 2, 0)] = 3; // k = 0 is the most superior slice
        AffineRas lps = AffineRas.FromDirections(new Vec3d(-1, 0, 0), new Vec3d(0, -1, 0), new Vec3d(0, 0, -1), new Vec3d(1, 1, 1), new Vec3d(0, 0, 0));
        SegmentationPreview planes = Planes(dims, labels);

        OrientedPreview coronal = PreviewRendering.Orient(planes, lps, AnatomicalPlane.Coronal);
        Assert.Equal((7, 3), (coronal.Width, coronal.Height));
        Assert.Equal((0, 1), Where(coronal, 1));
        Assert.Equal((3, 0), Where(coronal, 3));

        OrientedPreview sagittal = PreviewRendering.Orient(planes, lps, AnatomicalPlane.Sagittal);
        Assert.Equal((5, 3), (sagittal.Width, sagittal.Height));
        Assert.Equal((4, 1), Where(sagittal, 2)); // anterior on the right
        Assert.Equal((2, 0), Where(sagittal, 3));
    }

    [Fact]
    public void The_phantom_previews_with_the_femur_above_the_tibia_and_the_patella_in_front_in_the_sagittal_plane()
    {
        PhantomResult phantom = KneePhantom.Generate(new PhantomOptions { Coarsening = 4, IncludeImage = false });
        byte[] labels = phantom.Labels.Span<byte>().ToArray();
        OrientedPreview sagittal = PreviewRendering.Orient(Planes(phantom.Labels.Dims, labels), phantom.Labels.Geometry.IndexToRas);

        Assert.Equal("sagittal", sagittal.Plane);
        (double X, double Y) femur = Centroid(sagittal, KneeLabels.Femur);
        (double X, double Y) tibia = Centroid(sagittal, KneeLabels.Tibia);
        (double X, double Y) patella = Centroid(sagittal, KneeLabels.Patella);
        Assert.True(femur.Y < tibia.Y, $"femur at row {femur.Y:0.0}, tibia at row {tibia.Y:0.0}: the femur must be above");
        Assert.True(patella.X > femur.X, $"patella at column {patella.X:0.0}, femur at {femur.X:0.0}: anterior is on the right");
    }

    [Fact]
    public void The_same_knee_stored_with_permuted_and_reversed_axes_previews_pixel_for_pixel_alike()
    {
        PhantomResult phantom = KneePhantom.Generate(new PhantomOptions { Coarsening = 4, IncludeImage = false });
        Dims3 d = phantom.Labels.Dims;
        byte[] labels = phantom.Labels.Span<byte>().ToArray();
        AffineRas a = phantom.Labels.Geometry.IndexToRas;

        // New index (u, v, w) = (k, I-1-i, j): the k axis first, i reversed, j last.
        var moved = new Dims3(d.K, d.I, d.J);
        var movedLabels = new byte[moved.VoxelCount];
        for (int k = 0; k < d.K; k++)
        {
            for (int j = 0; j < d.J; j++)
            {
                for (int i = 0; i < d.I; i++)
                {
                    movedLabels[moved.Index(k, d.I - 1 - i, j)] = labels[d.Index(i, j, k)];
                }
            }
        }

        // Same RAS for every voxel: column u = k's column, v = minus i's column (origin moved to i = I-1), w = j's column.
        Vec3d origin = a.Apply(new Vec3d(d.I - 1, 0, 0));
        Vec3d cu = a.Column(2), cv = -a.Column(0), cw = a.Column(1);
        var movedAffine = new AffineRas(cu.X, cv.X, cw.X, origin.X, cu.Y, cv.Y, cw.Y, origin.Y, cu.Z, cv.Z, cw.Z, origin.Z);
        Assert.True((movedAffine.Apply(new Vec3d(3, d.I - 1 - 5, 7)) - a.Apply(new Vec3d(5, 7, 3))).Length < 1e-9);

        OrientedPreview original = PreviewRendering.Orient(Planes(d, labels), a);
        OrientedPreview reordered = PreviewRendering.Orient(Planes(moved, movedLabels), movedAffine);
        Assert.Equal((original.Width, original.Height), (reordered.Width, reordered.Height));
        // The sagittal plane is across k, which keeps its index; the reversed i axis lies in the plane.
        Assert.Equal(original.Labels, reordered.Labels);
    }

    [Fact]
    public void A_rendered_preview_is_a_png_named_by_its_plane()
    {
        var dims = new Dims3(4, 4, 4);
        var labels = new byte[dims.VoxelCount];
        labels[dims.Index(1, 1, 1)] = 1;
        PipelinePreview png = PreviewRendering.Render(Planes(dims, labels), AffineRas.FromSpacing(new Vec3d(1, 1, 1), new Vec3d(0, 0, 0)));
        Assert.Equal("sagittal", png.Plane);
        Assert.Equal([0x89, (byte)'P', (byte)'N', (byte)'G'], png.Png[..4]);
    }
}
