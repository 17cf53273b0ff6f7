using System.IO.Compression;
using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using KneeWeb.Imaging;
using KneeWeb.Imaging.Io;
using KneeWeb.Security;
using KneeWeb.Tests.Inference;
using KneeWeb.Tests.TestData;
using Xunit;

namespace KneeWeb.Tests.Web;

/// <summary>
/// The Admin model API in a live host: POST /v1/models/nnunet (a zipped trained folder made in the
/// test from the committed fixtures), /v1/models/{name}/enable|disable, who may call them, hostile zips,
/// and the audit rows each action leaves.
/// </summary>
[Trait("Category", "host")]
public sealed class ModelAdminApiTests : IDisposable
{
    private const string TrainedRelative = "NnUnet/Dataset701_KneeSynonyms/nnUNetTrainer__nnUNetPlans__3d_fullres";

    private readonly TempFolder models = new("kneeweb-model-admin-models");
    private readonly TempFolder work = new("kneeweb-model-admin-work");
    private readonly KneeWebFactory factory;

    public ModelAdminApiTests()
    {
        factory = new KneeWebFactory(new Dictionary<string, string?> { ["KneeWeb:ModelsPath"] = models.Path });
    }

    public void Dispose()
    {
        factory.Dispose();
        models.Dispose();
        work.Dispose();
    }

    [Fact]
    public async Task An_Admin_imports_a_zipped_trained_folder_and_it_is_listed_with_provenance_and_runs_a_job()
    {
        HttpClient admin = factory.CreateClient();
        string zip = ZipTrainedFolder("Dataset701_KneeSynonyms");

        using HttpResponseMessage response = await PostZipAsync(admin, zip, "admin-synonyms");
        string body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.Created, $"import answered {(int)response.StatusCode}: {body}");
        using (JsonDocument outcome = JsonDocument.Parse(body))
        {
            Assert.True(outcome.RootElement.GetProperty("succeeded").GetBoolean(), body);
            Assert.Contains("admin-synonyms", outcome.RootElement.GetProperty("models").EnumerateArray().Select(m => m.GetString()));
        }

        Assert.True(File.Exists(Path.Combine(models.Path, "admin-synonyms.onnx")));
        Assert.True(File.Exists(Path.Combine(models.Path, "admin-synonyms.json")));

        JsonElement model = await FindModelAsync(admin, "admin-synonyms");
        Assert.True(model.GetProperty("enabled").GetBoolean(), model.ToString());
        string onnxSha = Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(Path.Combine(models.Path, "admin-synonyms.onnx"))));
        Assert.Equal(onnxSha, model.GetProperty("sha256").GetString());
        JsonElement source = model.GetProperty("source");
        Assert.Equal("Dataset701_KneeSynonyms", source.GetProperty("dataset").GetString());
        Assert.Equal("3d_fullres", source.GetProperty("configuration").GetString());
        Assert.Equal("nnUNetTrainer", source.GetProperty("trainer").GetString());
        Assert.Equal("nnUNetPlans", source.GetProperty("plans").GetString());
        Assert.Equal(TestAccounts.AdminName, source.GetProperty("imported_by").GetString());
        int[] folds = [.. source.GetProperty("folds").EnumerateArray().Select(f => f.GetInt32())];
        Assert.Equal([0, 1], folds.Order());

        // Each source file's checksum is the committed fixture's.
        JsonElement files = source.GetProperty("files_sha256");
        string plansSha = Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(Path.Combine(TrainedFolder(), "plans.json"))));
        string checkpointSha = Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(Path.Combine(TrainedFolder(), "fold_1", "checkpoint_final.pth"))));
        Assert.Equal(plansSha, FileSha(files, "plans.json"));
        Assert.Equal(checkpointSha, FileSha(files, "fold_1/checkpoint_final.pth"));

        Guid id = await ApiClient.SubmitAsync(admin, SmallKnee(), new { model = "admin-synonyms", device = "cpu", mirroring = "off", thickness = false });
        JsonElement job = await ApiClient.WaitForEndAsync(admin, id);
        Assert.True(job.GetProperty("status").GetString() == "Completed", job.ToString());
        using JsonDocument stats = JsonDocument.Parse(await admin.GetStringAsync($"/v1/jobs/{id}/artifacts/stats.json"));
        Assert.Equal("admin-synonyms", stats.RootElement.GetProperty("segmentation").GetProperty("model").GetString());

        JsonElement[] imports = await AuditAsync(admin, "model.import");
        Assert.Contains(imports, row => row.GetProperty("target").GetString() == "admin-synonyms" && row.GetProperty("user").GetString() == TestAccounts.AdminName);
    }

    [Theory]
    [InlineData(Roles.Member)]
    [InlineData(Roles.PI)]
    public async Task A_non_Admin_is_refused_and_nothing_is_written(string role)
    {
        (_, string token) = await TestAccounts.CreateUserAsync(factory.Services, "user-" + role.ToLowerInvariant(), role, "lab-a");
        HttpClient user = factory.CreateClientWithToken(token);
        string[] before = ListModelsFolder();

        using HttpResponseMessage import = await PostZipAsync(user, ZipTrainedFolder("Dataset701_KneeSynonyms"), "member-model");
        Assert.Equal(HttpStatusCode.Forbidden, import.StatusCode);
        Assert.Equal(before, ListModelsFolder());

        // Switching needs an existing model: import one as the Admin, then try to switch it off.
        HttpClient admin = factory.CreateClient();
        using (HttpResponseMessage created = await PostZipAsync(admin, ZipTrainedFolder("Dataset701_KneeSynonyms"), "guarded"))
        {
            Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        }

        string[] afterImport = ListModelsFolder();
        using HttpResponseMessage disable = await user.PostAsync("/v1/models/guarded/disable", null);
        Assert.Equal(HttpStatusCode.Forbidden, disable.StatusCode);
        Assert.Equal(afterImport, ListModelsFolder());
        Assert.True((await FindModelAsync(admin, "guarded")).GetProperty("enabled").GetBoolean());
        Assert.DoesNotContain(await AuditAsync(admin, "model.import"), row => row.GetProperty("target").GetString() == "member-model");
    }

    [Theory]
    [InlineData("os_system.pth")]
    [InlineData("builtins_eval.pth")]
    [InlineData("truncated.pth")]
    [InlineData("lying_storage.pth")]
    [InlineData("tensor_out_of_bounds.pth")]
    [InlineData("zip_bomb.pth")]
    [InlineData("lying_zip_entry.pth")]
    [InlineData("deep_stack.pth")]
    public async Task A_trained_folder_with_a_hostile_checkpoint_is_refused_with_a_catalog_code_and_the_models_folder_is_unchanged(string hostile)
    {
        HttpClient admin = factory.CreateClient();
        string trained = TrainedFolder();
        string zip = work.File("hostile.zip");
        using (ZipArchive archive = ZipFile.Open(zip, ZipArchiveMode.Create))
        {
            const string prefix = "Dataset701_KneeSynonyms/nnUNetTrainer__nnUNetPlans__3d_fullres/";
            archive.CreateEntryFromFile(Path.Combine(trained, "dataset.json"), prefix + "dataset.json");
            archive.CreateEntryFromFile(Path.Combine(trained, "plans.json"), prefix + "plans.json");
            archive.CreateEntryFromFile(TestFiles.PathOf("NnUnet/hostile/" + hostile), prefix + "fold_0/checkpoint_final.pth");
        }

        await AssertRefusedAsync(admin, zip, "hostile-" + Path.GetFileNameWithoutExtension(hostile));
        Assert.False(File.Exists("/tmp/kneeweb-nnunet-hostile-marker"), "a hostile checkpoint ran code");
    }

    [Theory]
    [InlineData("../../evil.json")]
    [InlineData("../evil/plans.json")]
    [InlineData("/tmp/kneeweb-model-admin-evil.json")]
    public async Task A_zip_slip_entry_is_refused_with_a_catalog_code_and_nothing_is_written_outside(string entryName)
    {
        HttpClient admin = factory.CreateClient();
        string trained = TrainedFolder();
        string zip = work.File("slip.zip");
        using (ZipArchive archive = ZipFile.Open(zip, ZipArchiveMode.Create))
        {
            foreach (string file in Directory.EnumerateFiles(trained, "*", SearchOption.AllDirectories).Where(f => !f.Contains("reference", StringComparison.Ordinal)))
            {
                archive.CreateEntryFromFile(file, "nnUNetTrainer__nnUNetPlans__3d_fullres/" + Path.GetRelativePath(trained, file).Replace('\\', '/'));
            }

            ZipArchiveEntry evil = archive.CreateEntry(entryName);
            using Stream stream = evil.Open();
            stream.Write(Encoding.UTF8.GetBytes("{\"evil\": true}"));
        }

        await AssertRefusedAsync(admin, zip, "slipped");
        Assert.False(File.Exists("/tmp/kneeweb-model-admin-evil.json"));
        string outside = Path.GetDirectoryName(factory.DataRoot)!;
        Assert.Empty(Directory.EnumerateFiles(factory.DataRoot, "evil*", SearchOption.AllDirectories));
        Assert.False(File.Exists(Path.Combine(outside, "evil.json")));
    }

    [Fact]
    public async Task A_zip_that_is_not_a_zip_or_holds_no_trained_folder_is_refused_with_a_catalog_code()
    {
        HttpClient admin = factory.CreateClient();
        string notZip = work.File("not.zip");
        await File.WriteAllTextAsync(notZip, "this is not a zip file at all");
        await AssertRefusedAsync(admin, notZip, "not-a-zip");

        string empty = work.File("empty.zip");
        using (ZipArchive archive = ZipFile.Open(empty, ZipArchiveMode.Create))
        {
            using Stream stream = archive.CreateEntry("readme.txt").Open();
            stream.Write("nothing here"u8);
        }

        await AssertRefusedAsync(admin, empty, "empty");
    }

    [Fact]
    public async Task A_disabled_model_is_refused_for_new_jobs_and_works_again_when_enabled_and_both_are_audited()
    {
        HttpClient admin = factory.CreateClient();
        using (HttpResponseMessage created = await PostZipAsync(admin, ZipTrainedFolder("Dataset701_KneeSynonyms"), "switchable"))
        {
            Assert.True(created.StatusCode == HttpStatusCode.Created, await created.Content.ReadAsStringAsync());
        }

        string image = SmallKnee();
        var options = new { model = "switchable", device = "cpu", mirroring = "off", thickness = false };

        using (HttpResponseMessage off = await admin.PostAsync("/v1/models/switchable/disable", null))
        {
            Assert.True(off.StatusCode == HttpStatusCode.OK, await off.Content.ReadAsStringAsync());
        }

        JsonElement disabled = await FindModelAsync(admin, "switchable");
        Assert.False(disabled.GetProperty("enabled").GetBoolean());
        Assert.Contains(TestAccounts.AdminName, disabled.GetProperty("disabled_reason").GetString(), StringComparison.Ordinal);

        using (HttpResponseMessage refused = await ApiClient.PostJobAsync(admin, image, options))
        {
            string problem = await refused.Content.ReadAsStringAsync();
            Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
            using JsonDocument doc = JsonDocument.Parse(problem);
            Assert.Equal("CONFIG_ERROR", doc.RootElement.GetProperty("code").GetString());
            Assert.Contains("switchable", problem, StringComparison.Ordinal);
            Assert.Contains("disabled", problem, StringComparison.Ordinal);
        }

        using (HttpResponseMessage on = await admin.PostAsync("/v1/models/switchable/enable", null))
        {
            Assert.True(on.StatusCode == HttpStatusCode.OK, await on.Content.ReadAsStringAsync());
        }

        Assert.True((await FindModelAsync(admin, "switchable")).GetProperty("enabled").GetBoolean());
        Guid id = await ApiClient.SubmitAsync(admin, image, options);
        JsonElement job = await ApiClient.WaitForEndAsync(admin, id);
        Assert.True(job.GetProperty("status").GetString() == "Completed", job.ToString());

        Assert.Contains(await AuditAsync(admin, "model.disable"), row => row.GetProperty("target").GetString() == "switchable" && row.GetProperty("user").GetString() == TestAccounts.AdminName);
        Assert.Contains(await AuditAsync(admin, "model.enable"), row => row.GetProperty("target").GetString() == "switchable" && row.GetProperty("user").GetString() == TestAccounts.AdminName);

        using HttpResponseMessage unknown = await admin.PostAsync("/v1/models/no-such-model/disable", null);
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
    }

    private async Task AssertRefusedAsync(HttpClient admin, string zip, string name)
    {
        string[] before = ListModelsFolder();
        using HttpResponseMessage response = await PostZipAsync(admin, zip, name);
        string body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.BadRequest, $"import answered {(int)response.StatusCode}: {body}");
        using JsonDocument problem = JsonDocument.Parse(body);
        string? code = problem.RootElement.GetProperty("code").GetString();
        Assert.True(code is "INVALID_FORMAT" or "CONFIG_ERROR", body);
        Assert.False(string.IsNullOrWhiteSpace(problem.RootElement.GetProperty("detail").GetString()), body);
        Assert.Equal(before, ListModelsFolder());
        Assert.DoesNotContain(await AuditAsync(admin, "model.import"), row => row.GetProperty("target").GetString() == name);
        Assert.Empty(Directory.EnumerateDirectories(Path.Combine(factory.DataRoot, "uploads"), "model-import-*"));
    }

    /// <summary>The committed trained folder (TestFiles finds files, not folders).</summary>
    private static string TrainedFolder() => Path.GetDirectoryName(TestFiles.PathOf(TrainedRelative + "/plans.json"))!;

    private static async Task<HttpResponseMessage> PostZipAsync(HttpClient client, string zip, string? name)
    {
        using var content = new MultipartFormDataContent();
        if (name is not null)
        {
            content.Add(new StringContent(name, Encoding.UTF8), "name");
        }

        var file = new StreamContent(File.OpenRead(zip));
        file.Headers.ContentType = new MediaTypeHeaderValue("application/zip");
        content.Add(file, "file", Path.GetFileName(zip));
        return await client.PostAsync("/v1/models/nnunet", content);
    }

    /// <summary>The committed trained folder zipped as nnUNet_results holds it (dataset folder, then the trained folder), without its reference tensors.</summary>
    private string ZipTrainedFolder(string datasetFolder)
    {
        string trained = TrainedFolder();
        string zip = work.File($"trained-{Guid.NewGuid():N}.zip");
        using ZipArchive archive = ZipFile.Open(zip, ZipArchiveMode.Create);
        foreach (string file in Directory.EnumerateFiles(trained, "*", SearchOption.AllDirectories))
        {
            string relative = Path.GetRelativePath(trained, file).Replace('\\', '/');
            if (relative.StartsWith("reference/", StringComparison.Ordinal) || relative.EndsWith(".expect.json", StringComparison.Ordinal))
            {
                continue;
            }

            archive.CreateEntryFromFile(file, $"{datasetFolder}/{Path.GetFileName(trained)}/{relative}");
        }

        return zip;
    }

    private string SmallKnee()
    {
        string path = work.File($"knee-{Guid.NewGuid():N}.nii.gz");
        (Volume image, _) = SyntheticKnee.Create(new Vec3d(0.5, 0.5, 3.0), sizeMm: 24);
        VolumeIo.Write(image, path);
        return path;
    }

    private static async Task<JsonElement> FindModelAsync(HttpClient client, string name)
    {
        using JsonDocument info = JsonDocument.Parse(await client.GetStringAsync("/v1/server/info"));
        foreach (JsonElement model in info.RootElement.GetProperty("models").EnumerateArray())
        {
            if (model.GetProperty("name").GetString() == name)
            {
                return model.Clone();
            }
        }

        Assert.Fail($"/v1/server/info lists no model {name}: {info.RootElement}");
        return default;
    }

    private static async Task<JsonElement[]> AuditAsync(HttpClient admin, string action)
    {
        using JsonDocument rows = JsonDocument.Parse(await admin.GetStringAsync("/v1/audit?action=" + Uri.EscapeDataString(action)));
        return [.. rows.RootElement.EnumerateArray().Select(r => r.Clone())];
    }

    private static string? FileSha(JsonElement files, string relative)
    {
        foreach (JsonProperty file in files.EnumerateObject())
        {
            if (file.Name.Replace('\\', '/').EndsWith(relative, StringComparison.Ordinal))
            {
                return file.Value.GetString();
            }
        }

        return null;
    }

    private string[] ListModelsFolder() => ListTree(models.Path);

    private static string[] ListTree(string root) =>
        Directory.Exists(root)
            ? [.. Directory.EnumerateFileSystemEntries(root, "*", SearchOption.AllDirectories).Select(p => Path.GetRelativePath(root, p)).Order(StringComparer.Ordinal)]
            : [];
}
