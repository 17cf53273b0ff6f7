namespace KneeWeb.Components.Pages.Jobs;

/// <summary>What <see cref="JobActions"/> did, so the page can follow (leave a deleted job, redraw a marked one).</summary>
public enum JobActionDone
{
    Deleted,
    Excluded,
    Included,
}
