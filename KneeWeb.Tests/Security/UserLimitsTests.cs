using System.Net;
using KneeWeb.Security;
using KneeWeb.Setup;
using KneeWeb.Tests.TestData;
using KneeWeb.Tests.Web;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Xunit;

namespace KneeWeb.Tests.Security;

/// <summary>
/// Per-user limits (KneeWeb:Limits): jobs waiting or running at once, uploads and bytes an hour. Over a
/// limit an upload is answered 429 with Retry-After and RATE_LIMITED, stores nothing, and other users
/// are not affected. The data folder and database are private to the site's user.
/// </summary>
[Trait("Category", "host")]
public sealed class UserLimitsTests : IDisposable
{
    private readonly TempFolder inputs = new("kneeweb-limits");

    public void Dispose() => inputs.Dispose();

    [Fact]
    public async Task A_user_with_too_many_jobs_waiting_is_refused_until_one_ends()
    {
        using var factory = new KneeWebFactory(new Dictionary<string, string?>
        {
            ["KneeWeb:Limits:MaxQueuedJobsPerUser"] = "2",
            // The jobs stay waiting or running for the length of the test.
            ["KneeWeb:Jobs:DiagnosticStepDelay"] = "00:30:00",
        });
        string input = TestVolumes.WriteRamp(inputs.Path);
        (_, string token) = await TestAccounts.CreateUserAsync(factory.Services, "quinn", Roles.Member);
        using HttpClient quinn = factory.CreateClientWithToken(token);
        Guid first = await ApiClient.SubmitAsync(quinn, input);
        Guid second = await ApiClient.SubmitAsync(quinn, input);

        int uploadsBefore = Directory.GetDirectories(UploadsOf(factory)).Length;
        await AssertLimitedAsync(await ApiClient.PostJobAsync(quinn, input));
        await AssertLimitedAsync(await quinn.PostAsync("/v1/samples/phantom/jobs", null));
        Assert.Equal(uploadsBefore, Directory.GetDirectories(UploadsOf(factory)).Length);

        // Someone else may still submit.
        (_, string other) = await TestAccounts.CreateUserAsync(factory.Services, "ruth", Roles.Member);
        using HttpClient ruth = factory.CreateClientWithToken(other);
        using (HttpResponseMessage accepted = await ApiClient.PostJobAsync(ruth, input))
        {
            Assert.Equal(HttpStatusCode.Accepted, accepted.StatusCode);
        }

        // Once one of quinn's jobs has ended, quinn may submit again.
        using (HttpResponseMessage cancelled = await quinn.DeleteAsync($"/v1/jobs/{second}"))
        {
            Assert.True(cancelled.IsSuccessStatusCode, $"Cancel answered {cancelled.StatusCode}.");
        }

        await ApiClient.WaitForEndAsync(quinn, second);
        using (HttpResponseMessage again = await ApiClient.PostJobAsync(quinn, input))
        {
            Assert.Equal(HttpStatusCode.Accepted, again.StatusCode);
        }

        _ = first;
    }

    [Fact]
    public async Task Uploads_and_bytes_an_hour_are_limited_per_user()
    {
        string input = TestVolumes.WriteRamp(inputs.Path);
        long size = new FileInfo(input).Length;
        using var factory = new KneeWebFactory(new Dictionary<string, string?>
        {
            ["KneeWeb:Limits:MaxQueuedJobsPerUser"] = "0",
            ["KneeWeb:Limits:UploadsPerHour"] = "2",
            ["KneeWeb:Limits:UploadBytesPerHour"] = (size * 3).ToString(System.Globalization.CultureInfo.InvariantCulture),
        });
        (_, string token) = await TestAccounts.CreateUserAsync(factory.Services, "uma", Roles.Member);
        using HttpClient uma = factory.CreateClientWithToken(token);
        await ApiClient.SubmitAsync(uma, input);
        await ApiClient.SubmitAsync(uma, input);
        await AssertLimitedAsync(await ApiClient.PostJobAsync(uma, input));

        // Bytes: two files' worth were stored; a third of the same size (plus its multipart framing) would pass three.
        (_, string bigToken) = await TestAccounts.CreateUserAsync(factory.Services, "vic", Roles.Member);
        using HttpClient vic = factory.CreateClientWithToken(bigToken);
        string big = Path.Combine(inputs.Path, "big.nii.gz");
        await using (FileStream output = File.Create(big))
        {
            await using FileStream source = File.OpenRead(input);
            await source.CopyToAsync(output);
            output.SetLength(size * 2);
        }

        using (HttpResponseMessage stored = await ApiClient.PostJobAsync(vic, input))
        {
            Assert.Equal(HttpStatusCode.Accepted, stored.StatusCode);
        }

        await AssertLimitedAsync(await ApiClient.PostJobAsync(vic, big));
    }

    [Fact]
    public void The_data_folder_and_database_are_private_to_the_sites_user()
    {
        if (OperatingSystem.IsWindows())
        {
            return;
        }

        using var factory = new KneeWebFactory();
        _ = factory.Server;
        KneeWebOptions settings = factory.Services.GetRequiredService<IOptions<KneeWebOptions>>().Value;
        const UnixFileMode others = UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute;
        foreach (string folder in new[] { settings.FullDataRoot, settings.UploadsPath, settings.JobsPath })
        {
            Assert.Equal((UnixFileMode)0, File.GetUnixFileMode(folder) & others);
        }

        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(settings.DatabasePath));
    }

    [Fact]
    public void An_existing_world_readable_install_is_made_private()
    {
        if (OperatingSystem.IsWindows())
        {
            return;
        }

        using var root = new TempFolder("kneeweb-modes");
        var settings = new KneeWebOptions { DataRoot = root.Path };
        Directory.CreateDirectory(settings.UploadsPath);
        File.WriteAllBytes(settings.DatabasePath, []);
        File.SetUnixFileMode(settings.DatabasePath, (UnixFileMode)0b110_100_100);
        File.SetUnixFileMode(settings.UploadsPath, (UnixFileMode)0b111_101_101);
        DataFolders.Secure(settings);
        Assert.Equal((UnixFileMode)0b110_000_000, File.GetUnixFileMode(settings.DatabasePath));
        Assert.Equal((UnixFileMode)0b111_000_000, File.GetUnixFileMode(settings.UploadsPath));
        Assert.Equal((UnixFileMode)0b111_000_000, File.GetUnixFileMode(settings.JobsPath));
    }

    [Fact]
    public async Task Concurrent_uploads_cannot_all_pass_the_waiting_jobs_limit()
    {
        // The soak found "You have 23 jobs waiting or running; the limit is 20": each upload was checked
        // before any of the others had written its job row. Twelve at once against a limit of 3.
        using var factory = new KneeWebFactory(new Dictionary<string, string?>
        {
            ["KneeWeb:Limits:MaxQueuedJobsPerUser"] = "3",
            ["KneeWeb:Limits:UploadsPerHour"] = "0",
            ["KneeWeb:Limits:UploadBytesPerHour"] = "0",
            ["KneeWeb:Jobs:DiagnosticStepDelay"] = "00:30:00",
        });
        string input = TestVolumes.WriteRamp(inputs.Path);
        (_, string token) = await TestAccounts.CreateUserAsync(factory.Services, "vera", Roles.Member);
        using HttpClient vera = factory.CreateClientWithToken(token);

        HttpResponseMessage[] answers = await Task.WhenAll(Enumerable.Range(0, 12).Select(_ => ApiClient.PostJobAsync(vera, input)));
        try
        {
            string[] seen = await Task.WhenAll(answers.Select(async a => $"{(int)a.StatusCode} {await a.Content.ReadAsStringAsync()}"));
            Assert.True(answers.Count(a => a.StatusCode == HttpStatusCode.Accepted) == 3, string.Join("\n", seen));
            foreach (HttpResponseMessage refused in answers.Where(a => a.StatusCode != HttpStatusCode.Accepted))
            {
                await AssertLimitedAsync(refused);
            }

            // Only the admitted uploads left a folder behind.
            Assert.Equal(3, Directory.GetDirectories(UploadsOf(factory)).Length);
        }
        finally
        {
            foreach (HttpResponseMessage answer in answers)
            {
                answer.Dispose();
            }
        }
    }

    private static string UploadsOf(KneeWebFactory factory) =>
        factory.Services.GetRequiredService<IOptions<KneeWebOptions>>().Value.UploadsPath;

    private static async Task AssertLimitedAsync(HttpResponseMessage response)
    {
        using (response)
        {
            Assert.Equal(HttpStatusCode.TooManyRequests, response.StatusCode);
            Assert.True(response.Headers.RetryAfter?.Delta > TimeSpan.Zero, "No Retry-After on a 429.");
            string body = await response.Content.ReadAsStringAsync();
            Assert.Contains("\"code\":\"RATE_LIMITED\"", body, StringComparison.Ordinal);
        }
    }
}
