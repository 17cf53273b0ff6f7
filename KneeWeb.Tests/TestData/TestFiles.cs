namespace KneeWeb.Tests.TestData;

/// <summary>Hand-written fixture files kept in the source tree under KneeWeb.Tests/TestData (read in place, never copied or rewritten).</summary>
public static class TestFiles
{
    public static string PathOf(string relative)
    {
        DirectoryInfo? dir = new(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "KneeWeb.sln")))
        {
            dir = dir.Parent;
        }

        if (dir is null)
        {
            throw new FileNotFoundException($"KneeWeb.sln not found above {AppContext.BaseDirectory}; the fixtures live in KneeWeb.Tests/TestData.");
        }

        string path = Path.Combine(dir.FullName, "KneeWeb.Tests", "TestData", relative);
        return File.Exists(path) ? path : throw new FileNotFoundException($"Fixture {relative} is missing from KneeWeb.Tests/TestData.", path);
    }

    public static string ReadText(string relative) => File.ReadAllText(PathOf(relative));
}
