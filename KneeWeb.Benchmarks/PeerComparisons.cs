namespace KneeWeb.Benchmarks;

/// <summary>
/// Side-by-side runs against the field's standard tools, in one process run so the ratio is fair.
/// Each area registers its comparison here, one line each.
/// </summary>
public static class PeerComparisons
{
    private static readonly Dictionary<string, Func<string[], Task<int>>> Peers = new(StringComparer.Ordinal)
    {
        ["nifti"] = Io.NiftiPeer.RunAsync,
        ["onnx-overhead"] = Inference.OnnxPeer.RunOverheadAsync,
        ["nnunet-torch"] = Inference.NnUnetTorchPeer.RunAsync,
        ["nnunet-fullsize"] = Inference.NnUnetFullSizePeer.RunAsync,
        ["marching-cubes"] = Analysis.MarchingCubesPeer.RunAsync,
        ["knee-analysis"] = Analysis.KneeAnalysisTiming.RunAsync,
        ["nsm-fit"] = ShapeModel.NsmFitTiming.RunAsync,
    };

    public static async Task<int> RunAsync(string[] args)
    {
        ArgumentNullException.ThrowIfNull(args);
        if (args.Length == 0 || !Peers.TryGetValue(args[0], out Func<string[], Task<int>>? run))
        {
            await Console.Error.WriteLineAsync($"usage: peer <{string.Join('|', Peers.Keys)}> [options]");
            return 2;
        }

        return await run(args[1..]);
    }
}
