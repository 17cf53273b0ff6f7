using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.RegularExpressions;
using KneeWeb.Tests.Resources;
using KneeWeb.Tests.TestData;
using Microsoft.Data.Sqlite;
using Xunit;

namespace KneeWeb.Tests.Web;

/// <summary>
/// A real server whose data folder (or jobs folder) is a small tmpfs the test mounts and fills: a disk
/// that really is full. Every answer is a 507 with the catalog's DISK_FULL words, never a 500 or a path.
/// </summary>
[Trait("Category", "process")]
public sealed partial class DiskFullTests : IDisposable
{
    private const long TmpfsBytes = 64L << 20;
    private readonly TempFolder data = new("kneeweb-diskfull");
    private readonly TempFolder inputs = new("kneeweb-inputs");
    private readonly List<TmpfsMount> mounts = [];

    public void Dispose()
    {
        foreach (TmpfsMount mount in mounts)
        {
            mount.Dispose();
        }

        data.Dispose();
        inputs.Dispose();
    }

    private TmpfsMount Mount(string folder, long size)
    {
        var mount = new TmpfsMount(folder, size);
        mounts.Insert(0, mount);
        return mount;
    }

    [Fact]
    public async Task With_the_disk_full_downloads_sign_in_token_creation_and_uploads_answer_507_DISK_FULL_and_recover_after()
    {
        TmpfsMount disk = Mount(data.Path, TmpfsBytes);
        await using ServerProcess server = await ServerProcess.StartAsync(data.Path, new Dictionary<string, string> { ["KneeWeb__MinFreeDiskBytes"] = "0" });
        using HttpClient client = server.CreateClient();
        Guid id = await ApiClient.SubmitAsync(client, TestVolumes.WriteRamp(inputs.Path));
        Assert.Equal("Completed", (await ApiClient.WaitForEndAsync(client, id)).GetProperty("status").GetString());

        // The write-ahead log is emptied first, so the next database write needs new blocks, as it does once a busy log has grown.
        await TruncateWalAsync();
        disk.Fill();

        await AssertDiskFullAsync(await client.GetAsync($"/v1/jobs/{id}/artifacts/stats.json"), "download", server);
        await AssertDiskFullAsync(await client.PostAsJsonAsync("/v1/account/tokens", new { name = "while full" }), "token creation", server);
        await AssertDiskFullAsync(await SignInAsync(server), "sign-in", server);
        await AssertDiskFullAsync(await PostChunkedAsync(client, WriteZeros("scan.nii", 2 << 20)), "chunked upload", server);
        Assert.Equal([id.ToString("D")], Directory.GetFileSystemEntries(Path.Combine(data.Path, "uploads")).Select(Path.GetFileName));
        Assert.False(server.HasExited);

        disk.Free();
        using (HttpResponseMessage token = await client.PostAsJsonAsync("/v1/account/tokens", new { name = "after" }))
        {
            Assert.Equal(HttpStatusCode.Created, token.StatusCode);
        }

        using HttpResponseMessage download = await client.GetAsync($"/v1/jobs/{id}/artifacts/stats.json");
        Assert.Equal(HttpStatusCode.OK, download.StatusCode);
        Assert.Equal(HttpStatusCode.Redirect, (await SignInAsync(server)).StatusCode);
    }

    [Fact]
    public async Task A_chunked_upload_counts_against_the_free_space_reserve_as_it_writes()
    {
        TmpfsMount disk = Mount(data.Path, TmpfsBytes);
        await using ServerProcess server = await ServerProcess.StartAsync(data.Path, new Dictionary<string, string> { ["KneeWeb__MinFreeDiskBytes"] = "40000000" });
        using HttpClient client = server.CreateClient();
        long freeBefore = disk.FreeBytes;
        Assert.True(freeBefore > 40_000_000 + (4 << 20), $"{freeBefore} bytes free on the fresh tmpfs");

        // No Content-Length: the up-front check cannot know the size; the writer must stop at the reserve.
        using HttpResponseMessage response = await PostChunkedAsync(client, WriteZeros("big.nii", 30 << 20));
        await AssertDiskFullAsync(response, "chunked upload past the reserve", server);
        Assert.Empty(Directory.GetFileSystemEntries(Path.Combine(data.Path, "uploads")));
        Assert.True(disk.FreeBytes > 40_000_000);
    }

    [Fact]
    public async Task A_job_that_runs_out_of_space_while_saving_fails_DISK_FULL_with_its_partial_folder_removed()
    {
        Directory.CreateDirectory(Path.Combine(data.Path, "jobs"));
        TmpfsMount jobsDisk = Mount(Path.Combine(data.Path, "jobs"), 1L << 20);
        jobsDisk.Fill();
        await using ServerProcess server = await ServerProcess.StartAsync(data.Path);
        using HttpClient client = server.CreateClient();
        Guid id = await ApiClient.SubmitAsync(client, TestVolumes.WriteRamp(inputs.Path));
        JsonElement job = await ApiClient.WaitForEndAsync(client, id);
        Assert.Equal("Failed", job.GetProperty("status").GetString());
        JsonElement error = job.GetProperty("error");
        Assert.Equal("DISK_FULL", error.GetProperty("code").GetString());
        Assert.DoesNotContain(data.Path, error.GetRawText(), StringComparison.Ordinal);
        string jobs = Path.Combine(data.Path, "jobs");
        Assert.Empty(Directory.GetDirectories(jobs));
        Assert.False(server.HasExited);
    }

    [Fact]
    public async Task A_small_zip_of_a_thousand_one_mib_zero_files_is_refused_writing_little()
    {
        TmpfsMount disk = Mount(data.Path, TmpfsBytes);
        string zip = HostileFiles.WriteZeroZip(inputs.File("series.zip"), 1024, 1 << 20);
        await using ServerProcess server = await ServerProcess.StartAsync(data.Path, new Dictionary<string, string> { ["KneeWeb__MinFreeDiskBytes"] = "0" });
        using HttpClient client = server.CreateClient();
        long freeBefore = disk.FreeBytes;
        using HttpResponseMessage response = await ApiClient.PostJobAsync(client, zip);
        string body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.BadRequest, $"{(int)response.StatusCode}: {body}");
        Assert.Contains("DICOM_ERROR", body, StringComparison.Ordinal);
        Assert.Contains("compression ratio", body, StringComparison.Ordinal);
        Assert.Empty(Directory.GetFileSystemEntries(Path.Combine(data.Path, "uploads")));
        Assert.True(Math.Abs(disk.FreeBytes - freeBefore) < 4 << 20, $"free space went from {freeBefore} to {disk.FreeBytes}");
        Assert.False(server.HasExited);
    }

    private async Task AssertDiskFullAsync(HttpResponseMessage response, string what, ServerProcess server)
    {
        using (response)
        {
            string body = await response.Content.ReadAsStringAsync();
            Assert.True(response.StatusCode == HttpStatusCode.InsufficientStorage, $"{what}: {(int)response.StatusCode} {body}\n{server.Log}");
            Assert.Contains("DISK_FULL", body, StringComparison.Ordinal);
            Assert.DoesNotContain(data.Path, body, StringComparison.Ordinal);
            Assert.DoesNotContain("/tmp/", body, StringComparison.Ordinal);
        }
    }

    private string WriteZeros(string name, int bytes)
    {
        string path = inputs.File(name);
        File.WriteAllBytes(path, new byte[bytes]);
        return path;
    }

    private static async Task<HttpResponseMessage> PostChunkedAsync(HttpClient client, string path)
    {
        using var content = new MultipartFormDataContent();
        var file = new StreamContent(File.OpenRead(path));
        file.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        content.Add(file, "file", Path.GetFileName(path));
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/jobs") { Content = content };
        request.Headers.TransferEncodingChunked = true;
        return await client.SendAsync(request);
    }

    /// <summary>The cookie sign-in form, with its antiforgery token, as a browser posts it.</summary>
    private static async Task<HttpResponseMessage> SignInAsync(ServerProcess server)
    {
        using HttpClient browser = server.CreateAnonymousClient();
        string page = await browser.GetStringAsync("/account/signin");
        Match token = AntiforgeryField().Match(page);
        Assert.True(token.Success, "The sign-in page has no antiforgery field.");
        var form = new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["__RequestVerificationToken"] = WebUtility.HtmlDecode(token.Groups[1].Value),
            ["UserName"] = TestAccounts.AdminName,
            ["Password"] = TestAccounts.AdminPassword,
            ["ReturnUrl"] = "/",
        });
        return await browser.PostAsync("/account/signin", form);
    }

    private async Task TruncateWalAsync()
    {
        string wal = Path.Combine(data.Path, "kneeweb.db-wal");
        for (int attempt = 0; attempt < 200; attempt++)
        {
            await using (var connection = new SqliteConnection($"Data Source={Path.Combine(data.Path, "kneeweb.db")};Pooling=False"))
            {
                await connection.OpenAsync();
                await using SqliteCommand command = connection.CreateCommand();
                command.CommandText = "PRAGMA wal_checkpoint(TRUNCATE);";
                await using SqliteDataReader reader = await command.ExecuteReaderAsync();
                if (await reader.ReadAsync() && reader.GetInt32(0) == 0 && (!File.Exists(wal) || new FileInfo(wal).Length == 0))
                {
                    return;
                }
            }

            await Task.Delay(50);
        }

        Assert.Fail("The write-ahead log could not be truncated.");
    }

    [GeneratedRegex("name=\"__RequestVerificationToken\"[^>]*value=\"([^\"]+)\"")]
    private static partial Regex AntiforgeryField();
}
