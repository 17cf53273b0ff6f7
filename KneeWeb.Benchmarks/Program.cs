using BenchmarkDotNet.Running;

// `dotnet run -c Release --project KneeWeb.Benchmarks -- --filter '*'` runs the BenchmarkDotNet suites.
// Peer comparisons (nibabel, scikit-image, PyTorch) are verbs of their own: `-- peer <name>`.
if (args.Length > 0 && args[0] == "peer")
{
    return await KneeWeb.Benchmarks.PeerComparisons.RunAsync(args[1..]);
}

// `-- soak`: a real server under API clients, uploaders and memory bombs (KneeWeb.Benchmarks/Soak).
if (args.Length > 0 && args[0] == "soak")
{
    return await KneeWeb.Benchmarks.Soak.SoakRun.RunAsync(args[1..]);
}

// `-- signin`: sign-in refusal timing, real against unknown names (KneeWeb.Benchmarks/SignIn).
if (args.Length > 0 && args[0] == "signin")
{
    return await KneeWeb.Benchmarks.SignIn.SignInTiming.RunAsync(args[1..]);
}

// `-- screenshots --out DIR`: every page at 390, 1280 and 1920 px (scripts/screenshots.sh).
if (args.Length > 0 && args[0] == "screenshots")
{
    return await KneeWeb.Benchmarks.Screenshots.ScreenshotRun.RunAsync(args[1..]);
}

// `-- latency`: hub lag, cancel time, queue throughput and page latency under load (KneeWeb.Benchmarks/Latency).
if (args.Length > 0 && args[0] == "latency")
{
    return await KneeWeb.Benchmarks.Latency.LatencyRun.RunAsync(args[1..]);
}

BenchmarkSwitcher.FromAssembly(typeof(KneeWeb.Benchmarks.PeerComparisons).Assembly).Run(args);
return 0;
