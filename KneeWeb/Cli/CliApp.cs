using System.CommandLine;

namespace KneeWeb.Cli;

/// <summary>
/// The command-line mode of the KneeWeb binary (`KneeWeb inspect ...`). With no verb, or with
/// only host options such as --urls, the binary runs the site instead.
/// </summary>
public static class CliApp
{
    public static bool IsCommandLine(string[] args)
    {
        ArgumentNullException.ThrowIfNull(args);
        if (args.Length == 0)
        {
            return false;
        }

        if (args[0] is "--help" or "-h" or "-?" or "--version")
        {
            return true;
        }

        if (args[0].StartsWith('-'))
        {
            return false;
        }

        RootCommand root = BuildRoot();
        foreach (Command command in root.Subcommands)
        {
            if (string.Equals(command.Name, args[0], StringComparison.Ordinal))
            {
                return true;
            }
        }

        return false;
    }

    public static Task<int> RunAsync(string[] args)
    {
        RootCommand root = BuildRoot();
        return root.Parse(args).InvokeAsync();
    }

    private static RootCommand BuildRoot()
    {
        var root = new RootCommand("KneeWeb: knee MRI analysis. With no command, runs the web site.");
        // Each area adds its verbs here, one line each.
        root.Subcommands.Add(ImagingCommands.CreateInspect());
        root.Subcommands.Add(ImagingCommands.CreateConvert());
        root.Subcommands.Add(InferenceCommands.Create());
        root.Subcommands.Add(ProcessCommand.Create());
        root.Subcommands.Add(SegmentCommand.Create());
        root.Subcommands.Add(AnalysisCommands.CreatePhantom());
        root.Subcommands.Add(AnalysisCommands.CreateAnalyze());
        root.Subcommands.Add(UsersCommands.Create());
        root.Subcommands.Add(UsersCommands.CreateGroups());
        ShapeModelCommands.AttachTo(root);
        return root;
    }
}
