namespace KneeWeb.Components.Shared;

/// <summary>One line of a job's step timeline.</summary>
public sealed record StepRow(int Index, string Name, string State, double? DurationSeconds, string? Note);

/// <summary>Builds the ten-step timeline from a job's stored events and its newest live update.</summary>
public static class StepTimeline
{
    public static IReadOnlyList<StepRow> Build(IEnumerable<Data.JobEvent> events, Jobs.JobUpdate? live, Data.JobStatus status, int currentStepIndex)
    {
        ArgumentNullException.ThrowIfNull(events);
        var rows = new StepRow[Pipeline.KneeSteps.All.Count];
        for (int i = 0; i < rows.Length; i++)
        {
            rows[i] = new StepRow(i + 1, Pipeline.KneeSteps.All[i].Name, "pending", null, null);
        }

        // Events are in order; a retry starts the timeline again.
        foreach (Data.JobEvent e in events)
        {
            if (e.Kind == "retry")
            {
                for (int i = 0; i < rows.Length; i++)
                {
                    rows[i] = rows[i] with { State = "pending", DurationSeconds = null, Note = null };
                }

                continue;
            }

            if (e.StepIndex is not int index || index < 1 || index > rows.Length)
            {
                continue;
            }

            StepRow row = rows[index - 1];
            rows[index - 1] = e.Kind switch
            {
                "step-started" => row with { State = "running" },
                "step-finished" => row with { State = "finished", DurationSeconds = e.DurationSeconds },
                "step-skipped" => row with { State = "skipped", Note = e.Message },
                "error" => row with { State = "failed", Note = e.Message },
                _ => row,
            };
        }

        int current = live is { Status: Data.JobStatus.Running } ? live.StepIndex : currentStepIndex;
        if (status == Data.JobStatus.Running && current >= 1 && current <= rows.Length && rows[current - 1].State == "pending")
        {
            // Step events reach the database a moment after the live update; show the live state.
            rows[current - 1] = rows[current - 1] with { State = "running" };
        }
        else if (status is Data.JobStatus.Failed or Data.JobStatus.Cancelled)
        {
            for (int i = 0; i < rows.Length; i++)
            {
                if (rows[i].State == "running")
                {
                    rows[i] = rows[i] with { State = status == Data.JobStatus.Cancelled ? "cancelled" : "failed" };
                }
            }
        }

        return rows;
    }
}
