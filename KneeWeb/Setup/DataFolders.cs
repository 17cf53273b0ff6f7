namespace KneeWeb.Setup;

/// <summary>
/// The data folder holds subjects' images, results and the account database: readable by the site's
/// own user only. Folders are made (or, on an existing install, set to) 0700 and the database file
/// 0600, before SQLite first opens it, so its journal files (which SQLite creates with the database
/// file's mode) are private too. Files inside inherit the protection of their 0700 parent.
/// </summary>
public static class DataFolders
{
    private const UnixFileMode PrivateFolderMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
    private const UnixFileMode PrivateFileMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    /// <summary>The data root, uploads and jobs folders, and the database file.</summary>
    public static void Secure(KneeWebOptions settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        SecureDatabase(settings);
        PrivateFolder(settings.UploadsPath);
        PrivateFolder(settings.JobsPath);
    }

    /// <summary>The data root and the database file (created empty when missing: SQLite takes an empty file as a new database).</summary>
    public static void SecureDatabase(KneeWebOptions settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        PrivateFolder(settings.FullDataRoot);
        if (OperatingSystem.IsWindows())
        {
            return;
        }

        string db = settings.DatabasePath;
        if (!File.Exists(db))
        {
            try
            {
                using var created = new FileStream(db, new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, UnixCreateMode = PrivateFileMode });
            }
            catch (IOException) when (File.Exists(db))
            {
                // Another process created it first.
            }
        }

        if ((File.GetUnixFileMode(db) & ~PrivateFileMode) != 0)
        {
            File.SetUnixFileMode(db, PrivateFileMode);
        }
    }

    public static void PrivateFolder(string path)
    {
        if (OperatingSystem.IsWindows())
        {
            Directory.CreateDirectory(path);
            return;
        }

        if (!Directory.Exists(path))
        {
            Directory.CreateDirectory(path, PrivateFolderMode);
        }
        else if ((File.GetUnixFileMode(path) & ~PrivateFolderMode) != 0)
        {
            File.SetUnixFileMode(path, PrivateFolderMode);
        }
    }
}
