using KneeWeb.Imaging;
using KneeWeb.Imaging.Rendering;
using KneeWeb.Inference;

namespace KneeWeb.Pipeline;

/// <summary>A preview plane in screen order (row 0 on top, x fastest), named axial, coronal, sagittal, or "k" when the axes could not be named.</summary>
public sealed record OrientedPreview(float[] Image, byte[] Labels, int Width, int Height, string Plane);

/// <summary>The anatomical planes a preview can show.</summary>
public enum AnatomicalPlane
{
    Axial,
    Coronal,
    Sagittal,
}

/// <summary>
/// Turns the predictor's three mid-planes (index planes of its grid) into the PNG the job page shows: the
/// anatomical plane asked for, laid out as NiiVue draws it in the volume viewer (radiological: the patient's
/// right on screen left in axial and coronal; sagittal with anterior to the right; superior, or anterior in
/// axial, up). Which index plane is which, and which way its rows and columns run, comes from the image's
/// affine, never from the index axes' order: the same knee scanned sagittally or axially previews alike.
/// </summary>
public static class PreviewRendering
{
    /// <summary>A knee is read first in the sagittal plane: femur, tibia and patella in one slice.</summary>
    public const AnatomicalPlane KneePlane = AnatomicalPlane.Sagittal;

    public static string Name(this AnatomicalPlane plane) => plane switch
    {
        AnatomicalPlane.Axial => "axial",
        AnatomicalPlane.Coronal => "coronal",
        _ => "sagittal",
    };

    /// <summary>
    /// The preview of <paramref name="plane"/> as PNG, with <paramref name="indexToRas"/> the affine of the grid the
    /// predictor's planes were cut from (whose axes are the image's, in order and direction). An affine whose axes
    /// are too oblique to name shows the grid's k plane as it lies, named as such.
    /// </summary>
    public static PipelinePreview Render(SegmentationPreview preview, AffineRas indexToRas, AnatomicalPlane plane = KneePlane)
    {
        OrientedPreview oriented = Orient(preview, indexToRas, plane);
        byte[] rgb = LabelOverlay.Render(oriented.Image, oriented.Labels, oriented.Width, oriented.Height, flipVertical: false);
        return new PipelinePreview(PngEncoder.EncodeRgb(rgb, oriented.Width, oriented.Height), oriented.Plane, 0, preview.Fraction);
    }

    /// <summary>The pixels of <see cref="Render"/> before colouring: row 0 on top, x fastest.</summary>
    public static OrientedPreview Orient(SegmentationPreview preview, AffineRas indexToRas, AnatomicalPlane plane = KneePlane)
    {
        ArgumentNullException.ThrowIfNull(preview);
        if (Layout(indexToRas, plane) is not { } layout)
        {
            PreviewPlane k = preview.AcrossK;
            return new OrientedPreview(k.Image, k.Labels, k.Width, k.Height, "k");
        }

        PreviewPlane source = layout.NormalAxis switch
        {
            0 => preview.AcrossI,
            1 => preview.AcrossJ,
            _ => preview.AcrossK,
        };
        (float[] image, byte[] labels, int width, int height) = Reorient(source, layout);
        return new OrientedPreview(image, labels, width, height, plane.Name());
    }

    /// <summary>
    /// How a plane's pixels map to the screen: the index axis across the plane, and for screen x and y the index
    /// axis that runs along it and whether it runs backwards.
    /// </summary>
    public sealed record PlaneLayout(int NormalAxis, int ScreenXAxis, bool ScreenXReversed, int ScreenYAxis, bool ScreenYReversed);

    /// <summary>The layout of <paramref name="plane"/> on a grid with this affine, or null when its axes do not each name one RAS direction.</summary>
    public static PlaneLayout? Layout(AffineRas indexToRas, AnatomicalPlane plane)
    {
        // Each index axis's dominant RAS direction (0 = x/right, 1 = y/anterior, 2 = z/superior) and its sign.
        var ras = new (int Axis, int Sign)[3];
        for (int c = 0; c < 3; c++)
        {
            Vec3d d = indexToRas.Column(c);
            double[] v = [d.X, d.Y, d.Z];
            int best = 0;
            for (int a = 1; a < 3; a++)
            {
                if (Math.Abs(v[a]) > Math.Abs(v[best]))
                {
                    best = a;
                }
            }

            if (v[best] == 0 || !double.IsFinite(v[best]))
            {
                return null;
            }

            ras[c] = (best, Math.Sign(v[best]));
        }

        if (ras[0].Axis == ras[1].Axis || ras[1].Axis == ras[2].Axis || ras[0].Axis == ras[2].Axis)
        {
            return null;
        }

        // Screen right and screen down as RAS directions (NiiVue, radiological for axial and coronal).
        (int normal, (int Axis, int Sign) right, (int Axis, int Sign) down) = plane switch
        {
            AnatomicalPlane.Axial => (2, (0, -1), (1, -1)),
            AnatomicalPlane.Coronal => (1, (0, -1), (2, -1)),
            _ => (0, (1, +1), (2, -1)),
        };
        int IndexAxisOf(int rasAxis) => Array.FindIndex(ras, r => r.Axis == rasAxis);
        int normalAxis = IndexAxisOf(normal);
        int xAxis = IndexAxisOf(right.Axis);
        int yAxis = IndexAxisOf(down.Axis);
        return new PlaneLayout(normalAxis, xAxis, ras[xAxis].Sign != right.Sign, yAxis, ras[yAxis].Sign != down.Sign);
    }

    /// <summary>The plane's pixels resampled (transposed and flipped, nothing interpolated) into screen order, row 0 on top.</summary>
    private static (float[] Image, byte[] Labels, int Width, int Height) Reorient(PreviewPlane source, PlaneLayout layout)
    {
        // The sampler's pixel axes: across i the plane runs (j, k), across j (i, k), across k (i, j).
        int firstAxis = layout.NormalAxis == 0 ? 1 : 0;
        bool transposed = layout.ScreenXAxis != firstAxis;
        int width = transposed ? source.Height : source.Width;
        int height = transposed ? source.Width : source.Height;
        var image = new float[width * height];
        var labels = new byte[width * height];
        for (int y = 0; y < height; y++)
        {
            int sy = layout.ScreenYReversed ? height - 1 - y : y;
            for (int x = 0; x < width; x++)
            {
                int sx = layout.ScreenXReversed ? width - 1 - x : x;
                int p = transposed ? (sx * source.Width) + sy : (sy * source.Width) + sx;
                image[(y * width) + x] = source.Image[p];
                labels[(y * width) + x] = source.Labels[p];
            }
        }

        return (image, labels, width, height);
    }
}
