namespace KneeWeb.Components.Pages.Results;

/// <summary>The volume viewer's settings as its JS module holds them (view mode, hidden label values, overlay opacity 0..1).</summary>
public sealed record ViewerSettings(string Mode, int[] Hidden, double Opacity);
