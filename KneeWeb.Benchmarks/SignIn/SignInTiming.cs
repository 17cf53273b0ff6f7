using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text.RegularExpressions;
using KneeWeb.Benchmarks.Server;

namespace KneeWeb.Benchmarks.SignIn;

/// <summary>
/// `signin`: how long the password form takes to refuse a real account name with a wrong password and
/// an unknown name, on a real server (issue 12: 240 ms against 16 ms before the fix, which told anyone
/// which accounts exist). The two kinds alternate in a shuffled order so drift in the machine's load
/// falls on both; the medians and their ratio are reported, and the answers must be byte-identical.
///
///     dotnet run -c Release --project KneeWeb.Benchmarks -- signin [--attempts 60]
/// </summary>
public static partial class SignInTiming
{
    private const string UnknownName = "nobody-by-this-name";

    public static async Task<int> RunAsync(string[] args)
    {
        int attempts = Figures.Option(args, "--attempts", 60);
        string work = Path.Combine(Path.GetTempPath(), "kneeweb-signin-" + Guid.NewGuid().ToString("N")[..8]);
        try
        {
            Console.WriteLine($"signin: {attempts} wrong-password attempts each for a real and an unknown name; load average before: {BenchServer.LoadAverage()} ({Environment.ProcessorCount} cores)");
            // The throttle would answer 429 long before the sample is complete: it is measured by the tests.
            await using BenchServer server = await BenchServer.StartAsync(Path.Combine(work, "data"), new Dictionary<string, string>
            {
                ["KneeWeb__Security__SignInThrottle__PerAddress"] = "1000000",
                ["KneeWeb__Security__SignInThrottle__PerName"] = "1000000",
            });
            using HttpClient browser = server.CreateClient(withToken: false, cookies: true);
            var real = new List<double>();
            var unknown = new List<double>();
            var answers = new HashSet<string>(StringComparer.Ordinal);
            var random = new Random(12);
            const int WarmUp = 5;
            for (int round = 0; round < attempts + WarmUp; round++)
            {
                bool realFirst = random.Next(2) == 0;
                foreach (bool isReal in realFirst ? new[] { true, false } : [false, true])
                {
                    (double ms, string answer) = await AttemptAsync(browser, isReal ? BenchServer.AdminName : UnknownName, $"wrong guess {round}");
                    if (round >= WarmUp)
                    {
                        (isReal ? real : unknown).Add(ms);
                        answers.Add(answer);
                    }
                }
            }

            double realMedian = Figures.Median(real), unknownMedian = Figures.Median(unknown);
            double ratio = realMedian / unknownMedian;
            Console.WriteLine(Figures.Line("real name, wrong password", real, "attempts"));
            Console.WriteLine(Figures.Line("unknown name", unknown, "attempts"));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"median real / median unknown: {ratio:0.00} (issue 12 before the fix: 240 ms / 16 ms = 15)"));
            Console.WriteLine($"distinct answers (status and redirect): {answers.Count} {string.Join(" | ", answers)}");
            Console.WriteLine($"load average after: {BenchServer.LoadAverage()}");
            // Similar: within a third either way, and the same answer for both.
            bool ok = answers.Count == 1 && ratio is > 0.75 and < 1.33;
            Console.WriteLine(ok ? "signin: PASS (similar timing, one answer)" : "signin: FAIL");
            return ok ? 0 : 1;
        }
        finally
        {
            if (Directory.Exists(work))
            {
                Directory.Delete(work, recursive: true);
            }
        }
    }

    /// <summary>One form post (the form itself is fetched first, untimed, for its antiforgery token).</summary>
    private static async Task<(double Ms, string Answer)> AttemptAsync(HttpClient browser, string userName, string password)
    {
        string form = await browser.GetStringAsync("/account/signin");
        Match token = FormTokenRegex().Match(form);
        if (!token.Success)
        {
            throw new InvalidOperationException("The sign-in page holds no antiforgery field.");
        }

        using var content = new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["UserName"] = userName,
            ["Password"] = password,
            ["ReturnUrl"] = "/jobs",
            ["__RequestVerificationToken"] = WebUtility.HtmlDecode(token.Groups[1].Value),
        });
        var clock = Stopwatch.StartNew();
        using HttpResponseMessage response = await browser.PostAsync("/account/signin", content);
        double ms = clock.Elapsed.TotalMilliseconds;
        return (ms, $"{(int)response.StatusCode} {response.Headers.Location}");
    }

    [GeneratedRegex("name=\"__RequestVerificationToken\"[^>]*value=\"([^\"]+)\"")]
    private static partial Regex FormTokenRegex();
}
