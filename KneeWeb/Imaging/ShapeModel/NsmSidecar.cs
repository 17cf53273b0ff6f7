using System.Text.Json.Serialization;
using System.Text.Json;

namespace KneeWeb.Imaging.ShapeModel;

/// <summary>The BScore axis of a shape model: BScore = (latent . Axis - HealthyMean) / HealthySd.</summary>
public sealed record BScoreReference
{
    /// <summary>Unit OA direction b in latent space.</summary>
    public required float[] Axis { get; init; }

    public required double HealthyMean { get; init; }

    public required double HealthySd { get; init; }

    /// <summary>How the axis was found (shown in stats.json as bscore_reference.axis_model).</summary>
    public required string AxisModel { get; init; }

    /// <summary>Number of healthy shapes behind the mean and SD.</summary>
    public int HealthyCount { get; init; }

    /// <summary>R^2 of the OA regression on the training latents.</summary>
    public double RegressionR2 { get; init; }

    public double Score(ReadOnlySpan<float> latent)
    {
        double projection = 0;
        for (int i = 0; i < Axis.Length; i++)
        {
            projection += (double)latent[i] * Axis[i];
        }

        return (projection - HealthyMean) / HealthySd;
    }
}

/// <summary>The frame and scales the model expects (see <see cref="FemurFrameRule"/> and <see cref="SdfNetwork"/>).</summary>
public sealed record NsmNormalisation
{
    public required string Frame { get; init; }

    public required double ClipHeightPerWidth { get; init; }

    public required double WidthBandMm { get; init; }

    public required double ReferenceRmsMm { get; init; }

    public bool MirrorLeft { get; init; } = true;

    /// <summary>Model-frame box that holds the femur (reconstructions are meshed inside it).</summary>
    public required double[] BoxMinMm { get; init; }

    public required double[] BoxMaxMm { get; init; }

    public FemurFrameRule ToRule() => new() { ClipHeightPerWidth = ClipHeightPerWidth, WidthBandMm = WidthBandMm, ReferenceRmsMm = ReferenceRmsMm };
}

/// <summary>
/// Sidecar of a neural shape model (models/nsm/&lt;name&gt;.json): what the ONNX file computes, its latent
/// statistics and BScore axis, the normalisation it expects, how it was built, and the ONNX file's sha256.
/// </summary>
public sealed record NsmSidecar
{
    public required string Name { get; init; }

    public required string Version { get; init; }

    public string Kind { get; init; } = "nsm-deepsdf";

    public required string Onnx { get; init; }

    public required string Structure { get; init; }

    public required int LatentSize { get; init; }

    public required int Hidden { get; init; }

    public required int Depth { get; init; }

    public required float[] MeanLatent { get; init; }

    public required BScoreReference Bscore { get; init; }

    public required NsmNormalisation Normalisation { get; init; }

    /// <summary>Inputs and outputs of the ONNX graph, in words.</summary>
    public required string Interface { get; init; }

    public required Dictionary<string, JsonElement> Training { get; init; }

    public required Dictionary<string, string> Provenance { get; init; }

    public required string Sha256 { get; init; }

    public static JsonSerializerOptions JsonOptions { get; } = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    public string ToJson() => JsonSerializer.Serialize(this, JsonOptions);

    /// <summary>Reads a sidecar; a missing or malformed field is an error naming it.</summary>
    /// <exception cref="NsmFailedException">The file is not a usable sidecar.</exception>
    public static NsmSidecar Read(string path)
    {
        NsmSidecar? sidecar;
        try
        {
            sidecar = JsonSerializer.Deserialize<NsmSidecar>(File.ReadAllText(path), JsonOptions);
        }
        catch (JsonException e)
        {
            throw new NsmFailedException($"The shape model sidecar {Path.GetFileName(path)} is not valid: {e.Message}", e);
        }

        if (sidecar is null || sidecar.MeanLatent.Length != sidecar.LatentSize || sidecar.Bscore.Axis.Length != sidecar.LatentSize
            || !(sidecar.Bscore.HealthySd > 0))
        {
            throw new NsmFailedException($"The shape model sidecar {Path.GetFileName(path)} is inconsistent: latent size, mean latent, BScore axis and healthy SD must agree.");
        }

        return sidecar;
    }
}

/// <summary>The shape model could not be fitted or loaded (maps to NSM_FAILED); the message says why.</summary>
public sealed class NsmFailedException : Exception
{
    public NsmFailedException()
    {
    }

    public NsmFailedException(string message)
        : base(message)
    {
    }

    public NsmFailedException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
