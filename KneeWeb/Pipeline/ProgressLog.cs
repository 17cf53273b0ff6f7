using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace KneeWeb.Pipeline;

/// <summary>One line of a progress file: what an <see cref="IPipelineObserver"/> saw, as JSON.</summary>
public sealed record ProgressLine(
    [property: JsonPropertyName("kind")] ProgressLineKind Kind,
    [property: JsonPropertyName("step_index")] int StepIndex,
    [property: JsonPropertyName("step_state")] StepState StepState = StepState.Running,
    [property: JsonPropertyName("step_fraction")] double StepFraction = 0,
    [property: JsonPropertyName("percent")] double Percent = 0,
    [property: JsonPropertyName("eta_s")] double? EtaSeconds = null,
    [property: JsonPropertyName("message")] string? Message = null,
    [property: JsonPropertyName("duration_s")] double DurationSeconds = 0,
    [property: JsonPropertyName("preview")] string? PreviewFile = null,
    [property: JsonPropertyName("plane")] string? Plane = null,
    [property: JsonPropertyName("slice")] int Slice = 0);

[JsonConverter(typeof(JsonStringEnumConverter<ProgressLineKind>))]
public enum ProgressLineKind
{
    Progress,
    StepFinished,
    StepSkipped,
    Preview,
}

/// <summary>
/// The progress of a run that happens in another process (a Slurm job): the run appends JSON
/// lines to a file in its folder, previews go beside it as PNG files the lines refer to, and
/// the site follows the file by offset and replays it into its own observer.
/// </summary>
public static class ProgressLog
{
    public static readonly JsonSerializerOptions Json = new() { Converters = { new JsonStringEnumConverter() } };

    /// <summary>Replays one line into an observer; previews are read from <paramref name="folder"/>.</summary>
    public static void Replay(ProgressLine line, string folder, IPipelineObserver observer)
    {
        ArgumentNullException.ThrowIfNull(line);
        ArgumentNullException.ThrowIfNull(observer);
        if (line.StepIndex < 1 || line.StepIndex > KneeSteps.All.Count)
        {
            return;
        }

        StepDefinition step = KneeSteps.ByIndex(line.StepIndex);
        switch (line.Kind)
        {
            case ProgressLineKind.Progress:
                observer.OnProgress(new PipelineProgress(step.Index, KneeSteps.All.Count, step.Name, line.StepState, line.StepFraction, line.Percent, line.EtaSeconds, line.Message));
                break;
            case ProgressLineKind.StepFinished:
                observer.OnStepFinished(step, TimeSpan.FromSeconds(line.DurationSeconds));
                break;
            case ProgressLineKind.StepSkipped:
                observer.OnStepSkipped(step, line.Message ?? "");
                break;
            case ProgressLineKind.Preview when line.PreviewFile is { } name:
                string path;
                try
                {
                    path = JobFolderWriter.SafeChildPath(folder, name);
                }
                catch (ArgumentException)
                {
                    return;
                }

                if (File.Exists(path))
                {
                    observer.OnPreview(new PipelinePreview(File.ReadAllBytes(path), line.Plane ?? "", line.Slice, line.StepFraction));
                }

                break;
        }
    }
}

/// <summary>Writes a run's progress as JSON lines (the job side of <see cref="ProgressLog"/>).</summary>
public sealed class ProgressFileWriter : IPipelineObserver, IDisposable
{
    private readonly string folder;
    private readonly StreamWriter writer;
    private readonly object gate = new();
    private int currentStep = 1;
    private int previews;

    public ProgressFileWriter(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        string full = Path.GetFullPath(path);
        folder = Path.GetDirectoryName(full)!;
        Directory.CreateDirectory(folder);
        var stream = new FileStream(full, FileMode.Append, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete);
        writer = new StreamWriter(stream, new UTF8Encoding(false)) { AutoFlush = true };
    }

    public void OnProgress(PipelineProgress progress)
    {
        ArgumentNullException.ThrowIfNull(progress);
        currentStep = progress.StepIndex;
        Write(new ProgressLine(ProgressLineKind.Progress, progress.StepIndex, progress.StepState, progress.StepFraction, progress.OverallPercent, progress.EtaSeconds, progress.Message));
    }

    public void OnStepFinished(StepDefinition step, TimeSpan duration)
    {
        ArgumentNullException.ThrowIfNull(step);
        Write(new ProgressLine(ProgressLineKind.StepFinished, step.Index, StepState.Finished, DurationSeconds: duration.TotalSeconds));
    }

    public void OnStepSkipped(StepDefinition step, string reason)
    {
        ArgumentNullException.ThrowIfNull(step);
        Write(new ProgressLine(ProgressLineKind.StepSkipped, step.Index, StepState.Skipped, Message: reason));
    }

    public void OnPreview(PipelinePreview preview)
    {
        ArgumentNullException.ThrowIfNull(preview);
        // The PNG is complete on disk (written, then renamed) before the line that names it.
        string name = $"preview-{Interlocked.Increment(ref previews):D4}.png";
        string temp = Path.Combine(folder, name + ".part");
        File.WriteAllBytes(temp, preview.Png);
        File.Move(temp, Path.Combine(folder, name), overwrite: true);
        Write(new ProgressLine(ProgressLineKind.Preview, currentStep, StepState.Running, preview.Fraction, PreviewFile: name, Plane: preview.Plane, Slice: preview.Slice));
    }

    public void Dispose() => writer.Dispose();

    private void Write(ProgressLine line)
    {
        // One whole line per write, so a follower never sees half a record as complete.
        string text = JsonSerializer.Serialize(line, ProgressLog.Json) + "\n";
        lock (gate)
        {
            writer.Write(text);
        }
    }
}

/// <summary>Follows a growing progress file by offset and yields the complete lines added since the last call.</summary>
public sealed class ProgressFileFollower(string path)
{
    private long offset;
    private readonly List<byte> partial = [];

    public IReadOnlyList<ProgressLine> ReadNew()
    {
        var lines = new List<ProgressLine>();
        if (!File.Exists(path))
        {
            return lines;
        }

        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        if (stream.Length < offset)
        {
            return lines;
        }

        stream.Seek(offset, SeekOrigin.Begin);
        byte[] buffer = new byte[64 * 1024];
        int read;
        while ((read = stream.Read(buffer, 0, buffer.Length)) > 0)
        {
            offset += read;
            for (int i = 0; i < read; i++)
            {
                if (buffer[i] != (byte)'\n')
                {
                    partial.Add(buffer[i]);
                    continue;
                }

                ProgressLine? line = Parse(partial);
                partial.Clear();
                if (line is not null)
                {
                    lines.Add(line);
                }
            }
        }

        return lines;
    }

    private static ProgressLine? Parse(List<byte> bytes)
    {
        try
        {
            return JsonSerializer.Deserialize<ProgressLine>(bytes.ToArray(), ProgressLog.Json);
        }
        catch (JsonException)
        {
            // A line this version does not understand is skipped; the job's end state still comes from Slurm.
            return null;
        }
    }
}
