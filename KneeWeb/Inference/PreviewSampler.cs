using System.Diagnostics;
using KneeWeb.Imaging;

namespace KneeWeb.Inference;

/// <summary>Three mid-planes of the model's grid (image and labels so far), at most once per interval unless forced.</summary>
internal sealed class PreviewSampler(Action<SegmentationPreview> sink, TimeSpan interval)
{
    private readonly Stopwatch clock = Stopwatch.StartNew();

    public void Offer(double fraction, bool force, Func<long, float> imageAt, Func<long, byte> labelAt, Dims3 grid, (int I, int J, int K) centre)
    {
        if (!force && clock.Elapsed < interval)
        {
            return;
        }

        clock.Restart();
        sink(new SegmentationPreview(
            fraction,
            Plane("k", grid.I, grid.J, (x, y) => grid.Index(x, y, centre.K)),
            Plane("j", grid.I, grid.K, (x, y) => grid.Index(x, centre.J, y)),
            Plane("i", grid.J, grid.K, (x, y) => grid.Index(centre.I, x, y))));

        PreviewPlane Plane(string name, int width, int height, Func<int, int, long> index)
        {
            var pixels = new float[width * height];
            var planeLabels = new byte[width * height];
            for (int y = 0; y < height; y++)
            {
                for (int x = 0; x < width; x++)
                {
                    long n = index(x, y);
                    pixels[(y * width) + x] = imageAt(n);
                    planeLabels[(y * width) + x] = labelAt(n);
                }
            }

            return new PreviewPlane(name, width, height, pixels, planeLabels);
        }
    }
}
