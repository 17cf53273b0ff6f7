namespace KneeWeb.Data;

/// <summary>
/// Which jobs a database context may read: the second layer of job access, behind the checks of
/// Security.JobAccess. The context captures the ambient visibility when it is created and applies it
/// as a global query filter on <see cref="Job"/>.
/// <para>
/// Requests run under the signed-in user's visibility (set by the security middleware; an anonymous
/// request sees nothing). Work that is not done for one user (the worker, recovery, retention, the
/// command line) runs under <see cref="System"/>, entered explicitly with <see cref="EnterSystem"/>;
/// code outside any request also sees everything, because there is no user to restrict it to.
/// </para>
/// </summary>
public sealed record JobVisibility(bool All, string? UserId, IReadOnlyList<int> GroupIds)
{
    private static readonly AsyncLocal<JobVisibility?> Ambient = new();

    /// <summary>Every job: background work on behalf of the site itself.</summary>
    public static readonly JobVisibility System = new(true, null, []);

    /// <summary>No job at all: an anonymous request.</summary>
    public static readonly JobVisibility Nobody = new(false, null, []);

    /// <summary>The visibility in force here, or null outside any request (treated as <see cref="System"/>).</summary>
    public static JobVisibility? Current => Ambient.Value;

    /// <summary>Sets the visibility for this async flow until the returned value is disposed.</summary>
    public static IDisposable Enter(JobVisibility visibility)
    {
        ArgumentNullException.ThrowIfNull(visibility);
        JobVisibility? previous = Ambient.Value;
        Ambient.Value = visibility;
        return new Restore(previous);
    }

    /// <summary>Explicit bypass for background work (worker, recovery, retention, hub bridge, CLI).</summary>
    public static IDisposable EnterSystem() => Enter(System);

    private sealed class Restore(JobVisibility? previous) : IDisposable
    {
        public void Dispose() => Ambient.Value = previous;
    }
}
