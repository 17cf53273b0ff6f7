namespace KneeWeb.Pipeline;

/// <summary>A user-facing step: its 1-based position, the name people see, and its share of the work.</summary>
public sealed record StepDefinition(int Index, string Name, double Weight);

/// <summary>The ten steps of DESIGN.md, with weights that approximate their share of a typical CPU run.</summary>
public static class KneeSteps
{
    public static readonly StepDefinition LoadModel = new(1, "Loading segmentation model", 2);
    public static readonly StepDefinition Preprocess = new(2, "Preprocessing image", 6);
    public static readonly StepDefinition Segment = new(3, "Running segmentation", 50);
    public static readonly StepDefinition Postprocess = new(4, "Postprocessing results", 5);
    public static readonly StepDefinition Meshes = new(5, "Generating 3D meshes", 10);
    public static readonly StepDefinition Thickness = new(6, "Calculating cartilage thickness", 8);
    public static readonly StepDefinition Nsm = new(7, "Running Neural Shape Model", 12);
    public static readonly StepDefinition BScore = new(8, "Computing BScore", 1);
    public static readonly StepDefinition Save = new(9, "Saving results", 5);
    public static readonly StepDefinition Complete = new(10, "Complete", 1);

    public static IReadOnlyList<StepDefinition> All { get; } =
        [LoadModel, Preprocess, Segment, Postprocess, Meshes, Thickness, Nsm, BScore, Save, Complete];

    public static double TotalWeight { get; } = SumWeights();

    public static StepDefinition ByIndex(int index) => All[index - 1];

    /// <summary>Overall percent = finished step weights + current step weight x its own fraction.</summary>
    public static double OverallPercent(int currentStepIndex, double stepFraction)
    {
        double done = 0;
        for (int i = 0; i < currentStepIndex - 1; i++)
        {
            done += All[i].Weight;
        }

        double current = All[currentStepIndex - 1].Weight * Math.Clamp(stepFraction, 0, 1);
        return Math.Round(100.0 * (done + current) / TotalWeight, 2);
    }

    private static double SumWeights()
    {
        double total = 0;
        foreach (StepDefinition step in All)
        {
            total += step.Weight;
        }

        return total;
    }
}

public enum StepState
{
    Pending,
    Running,
    Finished,
    Skipped,
    Failed,
}

/// <summary>A progress report: where the run is and how far along, as pushed to the UI and hub clients.</summary>
public sealed record PipelineProgress(
    int StepIndex,
    int StepCount,
    string StepName,
    StepState StepState,
    double StepFraction,
    double OverallPercent,
    double? EtaSeconds,
    string? Message);

/// <summary>Mid-slice preview of the volume being segmented, as PNG bytes (image and labels so far).</summary>
public sealed record PipelinePreview(byte[] Png, string Plane, int Slice, double Fraction);

/// <summary>Receives what a pipeline run reports. Implemented by the job layer and by the CLI's progress bar.</summary>
public interface IPipelineObserver
{
    void OnProgress(PipelineProgress progress);

    void OnStepFinished(StepDefinition step, TimeSpan duration);

    void OnStepSkipped(StepDefinition step, string reason);

    void OnPreview(PipelinePreview preview);
}

/// <summary>A step that failed, carrying which one so the job layer can say where it broke.</summary>
public sealed class PipelineStepException : Exception
{
    public PipelineStepException()
    {
    }

    public PipelineStepException(string message)
        : base(message)
    {
    }

    public PipelineStepException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    public PipelineStepException(StepDefinition step, Exception innerException)
        : base($"{step.Name} failed: {innerException?.Message}", innerException)
    {
        Step = step;
    }

    public StepDefinition? Step { get; }
}
