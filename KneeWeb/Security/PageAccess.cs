using System.Security.Claims;
using KneeWeb.Data;
using Microsoft.AspNetCore.Components.Authorization;
using Microsoft.AspNetCore.Components.Server.Circuits;

namespace KneeWeb.Security;

/// <summary>
/// <see cref="JobAccess"/> for Blazor pages: the same checks for the circuit's signed-in user. Pages
/// call it where they load jobs, because a page also reloads on events from the worker, whose code
/// runs outside any user's request (and so outside the query filter's user scope).
/// </summary>
public sealed class PageAccess(AuthenticationStateProvider authentication, JobAccess access, AuditLog audit, IHttpContextAccessor http)
{
    // Group memberships are re-read at most this often during a long-lived circuit.
    private static readonly TimeSpan SubjectLifetime = TimeSpan.FromSeconds(30);
    private AccessSubject? subject;
    private DateTime subjectReadUtc;
    private string? remoteAddress = http.HttpContext?.Connection.RemoteIpAddress?.ToString();

    public async Task<ClaimsPrincipal> UserAsync() => (await authentication.GetAuthenticationStateAsync()).User;

    public async Task<AccessSubject> SubjectAsync()
    {
        if (subject is null || DateTime.UtcNow - subjectReadUtc > SubjectLifetime)
        {
            subject = await access.SubjectAsync(await UserAsync());
            subjectReadUtc = DateTime.UtcNow;
            remoteAddress ??= http.HttpContext?.Connection.RemoteIpAddress?.ToString();
        }

        return subject;
    }

    /// <summary>True when the job exists and the user may see it (a refusal is logged and audited; a view is audited).</summary>
    public async Task<bool> CanViewAsync(Guid jobId)
    {
        ClaimsPrincipal user = await UserAsync();
        if (await access.FindAsync(await SubjectAsync(), user, remoteAddress, jobId, "view page") is null)
        {
            return false;
        }

        await audit.RecordViewAsync(null, user, jobId, "page");
        return true;
    }

    /// <summary>True when the user may cancel or delete the job (the submitter, a lead of its group, an Admin).</summary>
    public async Task<bool> CanModifyAsync(Guid jobId)
    {
        ClaimsPrincipal user = await UserAsync();
        Job? job = await access.FindAsync(await SubjectAsync(), user, remoteAddress, jobId, "cancel page");
        if (job is null)
        {
            return false;
        }

        if (!JobAccess.CanModify(await SubjectAsync(), job))
        {
            await audit.RecordAsync(user, remoteAddress, AuditActions.AccessDenied, jobId, "cancel page (not the submitter, a lead of the group or an admin)");
            return false;
        }

        await audit.RecordAsync(user, remoteAddress, AuditActions.Cancel, jobId, "page");
        return true;
    }

    /// <summary>
    /// The job when the user may change it (delete, exclude from the cohort, include again): the submitter,
    /// a lead of its group, an Admin. A refusal is audited with <paramref name="attempted"/>; the change
    /// itself is audited by the caller once it is done (<see cref="RecordAsync"/>).
    /// </summary>
    public async Task<Job?> ModifiableAsync(Guid jobId, string attempted)
    {
        ClaimsPrincipal user = await UserAsync();
        Job? job = await access.FindAsync(await SubjectAsync(), user, remoteAddress, jobId, attempted);
        if (job is null)
        {
            return null;
        }

        if (!JobAccess.CanModify(await SubjectAsync(), job))
        {
            await audit.RecordAsync(user, remoteAddress, AuditActions.AccessDenied, jobId, $"{attempted} (not the submitter, a lead of the group or an admin)");
            return null;
        }

        return job;
    }

    /// <summary>An audit row for a change the user made on a page.</summary>
    public async Task RecordAsync(string action, Guid jobId, string? detail = null) =>
        await audit.RecordAsync(await UserAsync(), remoteAddress, action, jobId, "page", detail);

    /// <summary>The groups the user may upload into, the default first.</summary>
    public async Task<List<UploadGroupChoice>> UploadGroupsAsync() => await access.UploadGroupsAsync(await SubjectAsync());

    /// <summary>The rows whose job the user may see.</summary>
    public async Task<List<T>> VisibleAsync<T>(List<T> rows, Func<T, Guid> idOf) => await access.VisibleAsync(await SubjectAsync(), rows, idOf);

    /// <summary>The user's visibility, for the query filter of work done on the circuit's behalf.</summary>
    public async Task<JobVisibility> VisibilityAsync() => (await SubjectAsync()).Visibility;
}

/// <summary>
/// Applies the circuit user's job visibility (the query filter's scope) to every inbound circuit
/// activity: UI events, JS interop calls, navigation.
/// </summary>
public sealed class JobVisibilityCircuitHandler(PageAccess pages) : CircuitHandler
{
    public override Func<CircuitInboundActivityContext, Task> CreateInboundActivityHandler(Func<CircuitInboundActivityContext, Task> next) =>
        async context =>
        {
            JobVisibility visibility = await pages.VisibilityAsync();
            using (JobVisibility.Enter(visibility))
            {
                await next(context);
            }
        };
}
