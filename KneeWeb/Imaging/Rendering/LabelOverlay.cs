namespace KneeWeb.Imaging.Rendering;

/// <summary>Colours of the knee label schema (DESIGN.md), shared by previews and the viewers.</summary>
public static class LabelColors
{
    private static readonly (byte R, byte G, byte B)[] Table = BuildTable();

    public static (byte R, byte G, byte B) Of(int label) => (uint)label < (uint)Table.Length ? Table[label] : ((byte)255, (byte)0, (byte)255);

    /// <summary>CSS hex colour of a label (for legends).</summary>
    public static string Hex(int label)
    {
        (byte r, byte g, byte b) = Of(label);
        return $"#{r:x2}{g:x2}{b:x2}";
    }

    private static (byte, byte, byte)[] BuildTable()
    {
        var t = new (byte, byte, byte)[256];
        t[1] = (230, 220, 170);  // femur
        t[2] = (200, 170, 110);  // tibia
        t[3] = (170, 200, 120);  // patella
        t[4] = (230, 60, 60);    // femoral cartilage
        t[5] = (60, 120, 230);   // medial tibial cartilage
        t[6] = (60, 200, 220);   // lateral tibial cartilage
        t[7] = (240, 150, 40);   // patellar cartilage
        t[8] = (170, 80, 200);   // medial meniscus
        t[9] = (220, 100, 180);  // lateral meniscus
        t[11] = (255, 120, 120); // femoral cartilage subregions 11-15
        t[12] = (220, 40, 40);
        t[13] = (180, 20, 60);
        t[14] = (255, 90, 40);
        t[15] = (200, 80, 20);
        return t;
    }
}

/// <summary>Blends a label slice over a grey image slice into RGB for a preview.</summary>
public static class LabelOverlay
{
    /// <param name="image">Intensities, row-major (x fastest).</param>
    /// <param name="labels">Labels for the same pixels (0 = none).</param>
    /// <param name="width">Pixels per row.</param>
    /// <param name="height">Rows.</param>
    /// <param name="opacity">Weight of a label's colour over the grey value.</param>
    /// <param name="flipVertical">Draw the last row at the top (image row 0 is usually the bottom of an anatomical view).</param>
    public static byte[] Render(ReadOnlySpan<float> image, ReadOnlySpan<byte> labels, int width, int height, float opacity = 0.5f, bool flipVertical = true)
    {
        if (image.Length != width * height || labels.Length != width * height)
        {
            throw new ArgumentException("Image and labels must both hold width x height pixels.", nameof(image));
        }

        // Window from the 1st to the 99th percentile, estimated on a coarse histogram.
        (float low, float high) = Window(image);
        float scale = high > low ? 255f / (high - low) : 0f;
        var rgb = new byte[width * height * 3];
        for (int y = 0; y < height; y++)
        {
            int sourceRow = flipVertical ? height - 1 - y : y;
            for (int x = 0; x < width; x++)
            {
                int p = (sourceRow * width) + x;
                float v = float.IsFinite(image[p]) ? Math.Clamp((image[p] - low) * scale, 0f, 255f) : 0f;
                float r = v, g = v, b = v;
                byte label = labels[p];
                if (label != 0)
                {
                    (byte lr, byte lg, byte lb) = LabelColors.Of(label);
                    r = (r * (1 - opacity)) + (lr * opacity);
                    g = (g * (1 - opacity)) + (lg * opacity);
                    b = (b * (1 - opacity)) + (lb * opacity);
                }

                int o = ((y * width) + x) * 3;
                rgb[o] = (byte)r;
                rgb[o + 1] = (byte)g;
                rgb[o + 2] = (byte)b;
            }
        }

        return rgb;
    }

    private static (float Low, float High) Window(ReadOnlySpan<float> image)
    {
        float min = float.MaxValue, max = float.MinValue;
        foreach (float v in image)
        {
            if (float.IsFinite(v))
            {
                min = Math.Min(min, v);
                max = Math.Max(max, v);
            }
        }

        if (!(max > min))
        {
            return (0, 1);
        }

        const int Bins = 512;
        Span<int> histogram = stackalloc int[Bins];
        float binScale = (Bins - 1) / (max - min);
        int count = 0;
        foreach (float v in image)
        {
            if (float.IsFinite(v))
            {
                histogram[(int)((v - min) * binScale)]++;
                count++;
            }
        }

        int lowTarget = count / 100, highTarget = count - (count / 100);
        int cumulative = 0, lowBin = 0, highBin = Bins - 1;
        bool lowFound = false;
        for (int i = 0; i < Bins; i++)
        {
            cumulative += histogram[i];
            if (!lowFound && cumulative > lowTarget)
            {
                lowBin = i;
                lowFound = true;
            }

            if (cumulative >= highTarget)
            {
                highBin = i;
                break;
            }
        }

        return (min + (lowBin / binScale), min + ((highBin + 1) / binScale));
    }
}
