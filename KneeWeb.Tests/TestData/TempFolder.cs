namespace KneeWeb.Tests.TestData;

/// <summary>A fresh folder under the system temp folder, removed when disposed.</summary>
public sealed class TempFolder : IDisposable
{
    public TempFolder(string prefix = "kneeweb")
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"{prefix}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}
