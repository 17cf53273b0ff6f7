using System.Globalization;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using KneeWeb.Benchmarks.Server;
using KneeWeb.Imaging;
using KneeWeb.Imaging.Io;
using Microsoft.Playwright;

namespace KneeWeb.Benchmarks.Screenshots;

/// <summary>
/// `screenshots --out DIR`: the site as a person sees it. Starts KneeWeb on a temporary data folder,
/// signs in as an Admin, runs one phantom sample job at half size (phantom-knee-small) to completion and
/// one job whose QC fails (a featureless volume: no structure is found), then saves full-page PNGs of
/// every page at 390, 1280 and 1920 px wide, with index.txt listing each page, its address, and the
/// browser errors seen while it loaded. Chromium is Debian's /usr/bin/chromium, as in the browser tests.
///
///     scripts/screenshots.sh OUT_DIR      (or: dotnet run -c Release --project KneeWeb.Benchmarks -- screenshots --out DIR)
/// </summary>
public static class ScreenshotRun
{
    private const string ChromiumPath = "/usr/bin/chromium";
    public static async Task<int> RunAsync(string[] args)
    {
        string output = Path.GetFullPath(Figures.Text(args, "--out") ?? "screenshots");
        Directory.CreateDirectory(output);
        string work = Path.Combine(Path.GetTempPath(), "kneeweb-shots-" + Guid.NewGuid().ToString("N")[..8]);
        try
        {
            await using BenchServer server = await BenchServer.StartAsync(Path.Combine(work, "data"), new Dictionary<string, string>
            {
                ["KneeWeb__Samples__PhantomCoarsening"] = "2",
                ["KneeWeb__DefaultModel"] = "phantom-knee-small",
            });
            Console.WriteLine($"screenshots: site at {server.BaseAddress}, data in {server.DataRoot}");
            using HttpClient api = server.CreateClient();
            Guid completed = await SubmitSampleAsync(api, "PHANTOM-01", "baseline, sample");
            JsonElement done = await JobApi.WaitForEndAsync(api, completed, TimeSpan.FromMilliseconds(500));
            Console.WriteLine($"phantom job {completed}: {done.GetProperty("status").GetString()}");
            Guid qcFail = await SubmitFeaturelessAsync(api, work);
            JsonElement failed = await JobApi.WaitForEndAsync(api, qcFail, TimeSpan.FromMilliseconds(500));
            Console.WriteLine($"featureless job {qcFail}: {failed.GetProperty("status").GetString()}");

            var index = new StringBuilder();
            index.AppendLine(CultureInfo.InvariantCulture, $"KneeWeb screenshots, {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC, {server.BaseAddress}");
            index.AppendLine(CultureInfo.InvariantCulture, $"phantom sample job (half size, phantom-knee-small): {completed} {done.GetProperty("status").GetString()}");
            index.AppendLine(CultureInfo.InvariantCulture, $"featureless volume job (QC fail expected): {qcFail} {failed.GetProperty("status").GetString()}");
            index.AppendLine("file | page | address | problems seen while loading (browser errors, answers of 400 or more, sideways scrolling)");

            using IPlaywright playwright = await Playwright.CreateAsync();
            await using IBrowser browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
            {
                ExecutablePath = ChromiumPath,
                Headless = true,
                Args = ["--no-sandbox", "--disable-gpu", "--use-angle=swiftshader", "--enable-unsafe-swiftshader", "--ignore-gpu-blocklist", "--disable-dev-shm-usage", "--no-first-run"],
            });
            var shots = new Shooter(browser, server.BaseAddress, output, index);
            await shots.SignedOutAsync("signin", "/account/signin");
            await using (var signedIn = await shots.SignInAsync())
            {
                await signedIn.ShootAsync("upload", "/");
                await signedIn.ShootAsync("jobs", "/jobs");
                await signedIn.ShootAsync("job-qc-fail", $"/jobs/{qcFail}");
                await signedIn.ShootAsync("result", $"/jobs/{completed}", settle: TimeSpan.FromSeconds(4));
                await signedIn.ShootAsync("cohort", "/cohort");
                await signedIn.ShootAsync("compare", "/cohort", prepare: page => CompareAsync(page));
                await signedIn.ShootAsync("models", "/models");
                await signedIn.ShootAsync("server", "/server");
                // The account and admin pages are plain server-rendered forms (no circuit to wait for).
                await signedIn.ShootAsync("account", "/account", interactive: false);
                await signedIn.ShootAsync("accounts", "/admin/users", interactive: false);
                await signedIn.ShootAsync("audit", "/admin/audit", interactive: false);

                // A job page while it runs (live progress), caught once it has started.
                Guid running = await SubmitSampleAsync(api, "PHANTOM-02", "follow-up");
                await WaitForStatusAsync(api, running, "Running");
                await signedIn.ShootAsync("job-running", $"/jobs/{running}");
            }

            await File.WriteAllTextAsync(Path.Combine(output, "index.txt"), index.ToString());
            Console.WriteLine($"screenshots: {Directory.GetFiles(output, "*.png").Length} PNGs and index.txt in {output}");
            return 0;
        }
        finally
        {
            if (Directory.Exists(work))
            {
                Directory.Delete(work, recursive: true);
            }
        }
    }

    /// <summary>Chooses the first two jobs in the cohort page's compare selects.</summary>
    private static async Task CompareAsync(IPage page)
    {
        for (int n = 0; n < 2; n++)
        {
            await page.Locator(n == 0 ? "[data-testid=compare-a]" : "[data-testid=compare-b]").ClickAsync();
            ILocator items = page.Locator(".mud-popover-open .mud-list-item");
            await items.First.WaitForAsync();
            await items.Nth(Math.Min(n, await items.CountAsync() - 1)).ClickAsync();
            await page.WaitForTimeoutAsync(300);
        }

        await page.Locator("[data-testid=compare]").WaitForAsync(new() { Timeout = 30_000 });
    }

    private static async Task<Guid> SubmitSampleAsync(HttpClient api, string subject, string tags)
    {
        using HttpResponseMessage response = await api.PostAsJsonAsync("/v1/samples/phantom/jobs", new Dictionary<string, object>
        {
            ["model"] = "phantom-knee-small",
            ["subject_id"] = subject,
            ["tags"] = tags,
            ["thickness"] = true,
            ["nsm"] = "bone",
        });
        return await JobApi.CreatedIdAsync(response, "Sample job");
    }

    /// <summary>A uniform volume: the segmentation finds no structure, so the job's QC verdict is fail.</summary>
    private static async Task<Guid> SubmitFeaturelessAsync(HttpClient api, string work)
    {
        var dims = new Dims3(96, 96, 40);
        var voxels = new short[dims.VoxelCount];
        Array.Fill(voxels, (short)40);
        string path = Path.Combine(work, "featureless.nii.gz");
        VolumeIo.Write(new Volume(new VolumeGeometry(dims, AffineRas.FromSpacing(new Vec3d(0.72, 0.72, 1.4), default)), VoxelType.Int16, voxels), path);
        return await JobApi.UploadAsync(api, path, "{\"model\":\"phantom-knee-small\",\"subject_id\":\"QC-FAIL-01\",\"tags\":\"qc-check\"}");
    }

    private static async Task WaitForStatusAsync(HttpClient api, Guid id, string wanted)
    {
        while (await JobApi.StatusAsync(api, id) != wanted)
        {
            await Task.Delay(200);
        }
    }
}
