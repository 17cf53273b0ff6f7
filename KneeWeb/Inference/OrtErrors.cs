using Microsoft.ML.OnnxRuntime;

namespace KneeWeb.Inference;

/// <summary>
/// The one place where the package's <see cref="OnnxRuntimeException"/> becomes KneeWeb's
/// <see cref="OrtException"/> (code plus the runtime's own message), which the predictor and the
/// error mapper know. The package keeps its error-code enum internal and writes the code's name
/// into the message as "[ErrorCode:Name] text", so the code is read back from there.
/// </summary>
internal static class OrtErrors
{
    private const string Prefix = "[ErrorCode:";

    // The package's names, which differ from the C API's for 11 and 12 (its enum lags the header).
    private static readonly Dictionary<string, OrtErrorCode> Codes = new(StringComparer.Ordinal)
    {
        ["Ok"] = OrtErrorCode.Ok,
        ["Fail"] = OrtErrorCode.Fail,
        ["InvalidArgument"] = OrtErrorCode.InvalidArgument,
        ["NoSuchFile"] = OrtErrorCode.NoSuchFile,
        ["NoModel"] = OrtErrorCode.NoModel,
        ["EngineError"] = OrtErrorCode.EngineError,
        ["RuntimeException"] = OrtErrorCode.RuntimeException,
        ["InvalidProtobuf"] = OrtErrorCode.InvalidProtobuf,
        ["ModelLoaded"] = OrtErrorCode.ModelLoaded,
        ["NotImplemented"] = OrtErrorCode.NotImplemented,
        ["InvalidGraph"] = OrtErrorCode.InvalidGraph,
        ["ShapeInferenceNotRegistered"] = OrtErrorCode.EpFail,
        ["RequirementNotRegistered"] = OrtErrorCode.ModelLoadCanceled,
        ["ModelRequiresCompilation"] = OrtErrorCode.ModelRequiresCompilation,
        ["NotFound"] = OrtErrorCode.NotFound,
    };

    public static OrtException Translate(OnnxRuntimeException error)
    {
        (OrtErrorCode code, string message) = Parse(error.Message);
        return new OrtException(code, message, error);
    }

    /// <summary>The code and the runtime's own text from a package exception message.</summary>
    internal static (OrtErrorCode Code, string Message) Parse(string message)
    {
        if (message.StartsWith(Prefix, StringComparison.Ordinal))
        {
            int end = message.IndexOf(']', StringComparison.Ordinal);
            if (end > Prefix.Length)
            {
                string name = message[Prefix.Length..end];
                string text = message[(end + 1)..].TrimStart();
                return (Codes.TryGetValue(name, out OrtErrorCode code) ? code : OrtErrorCode.Fail, text);
            }
        }

        return (OrtErrorCode.Fail, message);
    }
}
