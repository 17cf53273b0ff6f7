using KneeWeb.Imaging.Segmentation;

namespace KneeWeb.Components.Pages.Results;

/// <summary>The order of structure rows on result pages: the label schema's, femoral subregions under femoral cartilage.</summary>
public static class ResultRows
{
    private static readonly HashSet<string> FemoralSubregionNames = [.. KneeLabels.FemoralSubregions.Select(KneeLabels.Name)];
    private static readonly string FemoralCartilageName = KneeLabels.Name(KneeLabels.FemoralCartilage);
    private static readonly Dictionary<string, int> Order = BuildOrder();

    public static bool IsFemoralSubregion(string name) => FemoralSubregionNames.Contains(name);

    /// <summary>The structure a row sits under (femoral cartilage for its subregions), else null.</summary>
    public static string? ParentOf(string name) => IsFemoralSubregion(name) ? FemoralCartilageName : null;

    /// <summary>
    /// Rows in the label schema's order (bones, cartilage, menisci), each femoral subregion right under
    /// femoral cartilage; names outside the schema keep their file order at the end.
    /// </summary>
    public static List<T> Grouped<T>(IEnumerable<T> rows, Func<T, string> nameOf)
    {
        ArgumentNullException.ThrowIfNull(rows);
        ArgumentNullException.ThrowIfNull(nameOf);
        return [.. rows.Select((row, index) => (row, index))
            .OrderBy(r => Order.TryGetValue(nameOf(r.row), out int k) ? k : Order.Count + r.index)
            .Select(r => r.row)];
    }

    private static Dictionary<string, int> BuildOrder()
    {
        var order = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (byte label in KneeLabels.Structures)
        {
            order[KneeLabels.Name(label)] = order.Count;
            if (label == KneeLabels.FemoralCartilage)
            {
                foreach (byte sub in KneeLabels.FemoralSubregions)
                {
                    order[KneeLabels.Name(sub)] = order.Count;
                }
            }
        }

        return order;
    }
}
