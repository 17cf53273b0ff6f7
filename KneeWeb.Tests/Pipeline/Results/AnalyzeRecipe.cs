using KneeWeb.Imaging;
using KneeWeb.Inference;
using KneeWeb.Pipeline;

namespace KneeWeb.Tests.Pipeline.Results;

/// <summary>Runs the pipeline's one recipe from a label map (as `KneeWeb analyze` does) for tests of the analysis.</summary>
public static class AnalyzeRecipe
{
    /// <summary>Returns the run's context (document, analysis result) and the names of the steps that reported progress.</summary>
    public static async Task<(PipelineContext Context, IReadOnlyList<string> Steps)> RunAsync(Volume labels, string outputFolder, PipelineOptions? options = null)
    {
        var context = new PipelineContext
        {
            JobId = Guid.NewGuid(),
            InputPath = Path.Combine(outputFolder, "labels.nii.gz"),
            InputFileName = "labels.nii.gz",
            Options = options ?? new PipelineOptions(),
            OutputFolder = outputFolder,
        };
        var observer = new StepNames();
        string models = ModelRegistry.FindDefaultFolder() ?? Path.GetFullPath("models");
        await new KneePipeline(new SegmentationEngine(models)).RunFromLabelsAsync(context, labels, new PipelineRun(observer), CancellationToken.None);
        return (context, observer.Names);
    }

    private sealed class StepNames : IPipelineObserver
    {
        public List<string> Names { get; } = [];

        public void OnProgress(PipelineProgress progress)
        {
            if (progress.StepState == StepState.Running && !Names.Contains(progress.StepName))
            {
                Names.Add(progress.StepName);
            }
        }

        public void OnStepFinished(StepDefinition step, TimeSpan duration)
        {
        }

        public void OnStepSkipped(StepDefinition step, string reason)
        {
        }

        public void OnPreview(PipelinePreview preview)
        {
        }
    }
}
