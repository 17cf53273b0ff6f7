using System.IO.Compression;
using System.Text;
using KneeWeb.Tests.Inference.NnUnet;
using Microsoft.Playwright;
using Xunit;

namespace KneeWeb.Tests.Web.Browser;

/// <summary>
/// An admin on the Models page in real Chromium against a real server process: uploads a zipped
/// nnU-Net trained folder (the committed fixture), sees its provenance, switches it off and on;
/// a hostile zip is refused with its catalog code and leaves the models folder as it was.
/// </summary>
[Collection(BrowserCollection.Name)]
[Trait("Category", "browser")]
public sealed class ModelImportBrowserTests(BrowserFixture fixture) : ServerPageTest(fixture, "browser-models")
{
    // A hang guard, not a speed bound: an import validates the model with ONNX Runtime, slow on a loaded machine.
    private static readonly LocatorAssertionsToHaveTextOptions TextWait = new() { Timeout = 120_000 };
    private static readonly LocatorAssertionsToContainTextOptions ContainsWait = new() { Timeout = 120_000 };
    private static readonly LocatorAssertionsToHaveClassOptions ClassWait = new() { Timeout = 120_000 };

    private string ModelsFolder => Path.Combine(Data.Path, "models");

    [Fact]
    public async Task An_admin_imports_a_zipped_folder_sees_provenance_and_switches_it_off_and_on()
    {
        await OpenModelsPageAsync();
        await Page.FillAsync("[data-testid=import-name]", "browser-knee");
        await Page.Locator("[data-testid=import-name]").DispatchEventAsync("change"); // @bind reads the name on change
        await Page.SetInputFilesAsync("[data-testid=import-file]", ZipFixture());

        ILocator message = Page.Locator("[data-testid=import-message]");
        await Assertions.Expect(message).ToHaveTextAsync("Imported browser-knee.", TextWait);
        await Assertions.Expect(message).Not.ToHaveClassAsync("kw-error", ClassWait);
        ILocator row = Page.Locator("[data-testid=model-switches] tr[data-model='browser-knee']");
        await Assertions.Expect(row).ToContainTextAsync("Dataset701_KneeSynonyms", ContainsWait);
        await Assertions.Expect(row).ToContainTextAsync("nnUNetTrainer__nnUNetPlans", ContainsWait);
        await Assertions.Expect(row).ToContainTextAsync("3d_fullres", ContainsWait);
        await Assertions.Expect(row).ToContainTextAsync("PlainConvUNet", ContainsWait);
        await Assertions.Expect(row).ToContainTextAsync("checkpoint_final", ContainsWait);
        await Assertions.Expect(row.Locator("td").Nth(1)).ToHaveTextAsync("on", TextWait);
        Assert.True(File.Exists(Path.Combine(ModelsFolder, "browser-knee.onnx")));

        await row.GetByRole(AriaRole.Button, new() { Name = "Switch off" }).ClickAsync();
        await Assertions.Expect(row.Locator("td").Nth(1)).ToHaveTextAsync("switched off", TextWait);
        await row.GetByRole(AriaRole.Button, new() { Name = "Switch on" }).ClickAsync();
        await Assertions.Expect(row.Locator("td").Nth(1)).ToHaveTextAsync("on", TextWait);
        Assert.Empty(ConsoleErrors);
    }

    [Fact]
    public async Task A_hostile_zip_gets_the_catalog_error_and_nothing_is_installed()
    {
        // The trained folder plus an entry that climbs out of the extraction folder (zip slip).
        string zip = ZipFixture();
        using (ZipArchive archive = ZipFile.Open(zip, ZipArchiveMode.Update))
        {
            using Stream stream = archive.CreateEntry("../../evil.json").Open();
            stream.Write(Encoding.UTF8.GetBytes("{\"evil\": true}"));
        }

        string[] before = Listing();
        await OpenModelsPageAsync();
        await Page.FillAsync("[data-testid=import-name]", "hostile-knee");
        await Page.Locator("[data-testid=import-name]").DispatchEventAsync("change");
        await Page.SetInputFilesAsync("[data-testid=import-file]", zip);

        ILocator message = Page.Locator("[data-testid=import-message]");
        await Assertions.Expect(message).ToHaveClassAsync("kw-error", ClassWait);
        string text = await message.InnerTextAsync();
        Assert.True(text.StartsWith("INVALID_FORMAT:", StringComparison.Ordinal) || text.StartsWith("CONFIG_ERROR:", StringComparison.Ordinal), text);
        Assert.Equal("alert", await message.GetAttributeAsync("role"));
        Assert.Equal(0, await Page.Locator("[data-testid=model-switches] tr[data-model='hostile-knee']").CountAsync());
        Assert.Equal(before, Listing());
        Assert.Empty(Directory.EnumerateFiles(Data.Path, "evil*", SearchOption.AllDirectories));
        Assert.False(File.Exists(Path.Combine(Path.GetDirectoryName(Data.Path)!, "evil.json")));
    }

    /// <summary>The Models page once its circuit is live: the file input's script is attached only then.</summary>
    private async Task OpenModelsPageAsync()
    {
        await Page.GotoAsync("/models");
        await Page.Locator("[data-testid=model-admin]").WaitForAsync();
        await Page.WaitForFunctionAsync("() => document.querySelector('[data-testid=import-file]')?._blazorInputFileNextFileId !== undefined", null, new() { Timeout = 120_000 });
    }

    private string[] Listing() => Directory.Exists(ModelsFolder)
        ? [.. Directory.EnumerateFileSystemEntries(ModelsFolder).Select(Path.GetFileName).Order(StringComparer.Ordinal)!]
        : [];

    /// <summary>The committed Dataset701 trained folder as a lab would zip it (no test references).</summary>
    private string ZipFixture()
    {
        string trained = NnUnetFixtures.Folder(NnUnetFixtures.Plain);
        string zip = Inputs.File($"trained-{Guid.NewGuid():N}.zip");
        using ZipArchive archive = ZipFile.Open(zip, ZipArchiveMode.Create);
        foreach (string file in Directory.EnumerateFiles(trained, "*", SearchOption.AllDirectories))
        {
            string relative = Path.GetRelativePath(trained, file).Replace('\\', '/');
            if (relative.StartsWith("reference/", StringComparison.Ordinal) || relative.EndsWith(".expect.json", StringComparison.Ordinal))
            {
                continue;
            }

            archive.CreateEntryFromFile(file, $"{NnUnetFixtures.Plain}/{relative}");
        }

        return zip;
    }
}
