using KneeWeb.Pipeline;
using KneeWeb.Tests.TestData;
using Xunit;

namespace KneeWeb.Tests.Pipeline;

[Trait("Category", "unit")]
public sealed class JobFolderWriterTests : IDisposable
{
    private readonly TempFolder root = new("kneeweb-folders");

    public void Dispose() => root.Dispose();

    [Fact]
    public async Task The_folder_appears_complete_with_an_archive_and_checksums()
    {
        string final = root.File("job");
        var files = new Dictionary<string, Func<string, CancellationToken, Task>>
        {
            ["stats.json"] = (p, c) => File.WriteAllTextAsync(p, "{}", c),
            ["meshes/femur.stl"] = (p, c) => File.WriteAllTextAsync(p, "solid femur", c),
        };
        IReadOnlyList<ArtifactInfo> artifacts = await JobFolderWriter.WriteAsync(final, files, null, CancellationToken.None);
        Assert.Equal(["meshes/femur.stl", "results.zip", "stats.json"], artifacts.Select(a => a.Name));
        Assert.Equal("44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a", artifacts.Single(a => a.Name == "stats.json").Sha256);
        Assert.Equal("mesh", artifacts[0].Kind);
        using var zip = System.IO.Compression.ZipFile.OpenRead(Path.Combine(final, "results.zip"));
        Assert.Equal(["meshes/femur.stl", "stats.json"], zip.Entries.Select(e => e.FullName).Order());
        Assert.Empty(Directory.GetDirectories(root.Path, "*.tmp-*"));
    }

    [Fact]
    public async Task A_failure_while_writing_leaves_no_folder_at_all()
    {
        string final = root.File("job");
        var files = new Dictionary<string, Func<string, CancellationToken, Task>>
        {
            ["stats.json"] = (p, c) => File.WriteAllTextAsync(p, "{}", c),
            ["broken.vtk"] = (_, _) => throw new IOException("disk full"),
        };
        await Assert.ThrowsAsync<IOException>(() => JobFolderWriter.WriteAsync(final, files, null, CancellationToken.None));
        Assert.Empty(Directory.GetFileSystemEntries(root.Path));
    }

    [Fact]
    public void Stale_temporary_folders_are_removed_and_names_cannot_escape()
    {
        Directory.CreateDirectory(root.File("abc.tmp-1234"));
        Directory.CreateDirectory(root.File("keep"));
        Assert.Equal(1, JobFolderWriter.RemoveStaleTempFolders(root.Path));
        Assert.Equal([root.File("keep")], Directory.GetDirectories(root.Path));
        Assert.Throws<ArgumentException>(() => JobFolderWriter.SafeChildPath(root.File("keep"), "../other/x"));
        Assert.Throws<ArgumentException>(() => JobFolderWriter.SafeChildPath(root.File("keep"), "/etc/passwd"));
        Assert.Equal(Path.Combine(root.File("keep"), "a", "b.txt"), JobFolderWriter.SafeChildPath(root.File("keep"), "a/b.txt"));
    }
}
