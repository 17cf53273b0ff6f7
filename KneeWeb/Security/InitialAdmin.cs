using KneeWeb.Setup;

namespace KneeWeb.Security;

/// <summary>
/// A fresh install has no account, and every page needs one: on the first start the site creates an
/// Admin with a random password, writes both to &lt;DataRoot&gt;/initial-admin.txt (readable by the
/// owner only) and prints them once. Change it after signing in (or create named accounts with
/// `KneeWeb users add` and delete the file).
/// </summary>
public static class InitialAdmin
{
    public const string FileName = "initial-admin.txt";

    /// <summary>Creates roles, and the first Admin when there is no account. Returns the message printed, or null.</summary>
    public static async Task<string?> EnsureAsync(AccountAdmin accounts, KneeWebOptions settings, SecurityOptions security)
    {
        ArgumentNullException.ThrowIfNull(accounts);
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(security);
        await accounts.EnsureRolesAsync();
        if (await accounts.AnyUserAsync())
        {
            return null;
        }

        string name = string.IsNullOrWhiteSpace(security.InitialAdminName) ? "admin" : security.InitialAdminName.Trim();
        (_, string password) = await accounts.AddUserAsync(name, Roles.Admin);
        string path = Path.Combine(settings.FullDataRoot, FileName);
        string text = $"KneeWeb initial administrator (created {DateTime.UtcNow:yyyy-MM-dd HH:mm:ss} UTC)\nuser: {name}\npassword: {password}\n";
        var options = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }

        await using (var stream = new FileStream(path, options))
        await using (var writer = new StreamWriter(stream))
        {
            await writer.WriteAsync(text);
        }

        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }

        string message = $"No account existed: created the Admin '{name}' with password '{password}' (also in {path}, mode 600). Sign in at /account/signin and keep or delete that file.";
        await Console.Out.WriteLineAsync("KneeWeb: " + message);
        return message;
    }
}
