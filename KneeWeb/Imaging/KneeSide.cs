namespace KneeWeb.Imaging;

/// <summary>Which knee a scan (or a phantom) shows.</summary>
public enum KneeSide
{
    Right,
    Left,
}
