using System.Collections.Concurrent;
using System.Security.Claims;
using KneeWeb.Jobs;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Identity;
using Microsoft.AspNetCore.SignalR;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace KneeWeb.Security;

/// <summary>Which of an account's live sessions end.</summary>
public enum SessionEnd
{
    /// <summary>Browser sign-ins (cookies, their pages and hub connections): sign-out, new password, new role.</summary>
    BrowserSessions,

    /// <summary>Everything, API-token connections included: the account was locked.</summary>
    Everything,
}

/// <summary>
/// Announces, inside one process, that sessions of an account (or one API token) must end now. The
/// account operations raise it; the site's session registry listens and closes hub connections and
/// circuits at once. Changes made by another process (the command line) reach the site through the
/// database instead, within <see cref="SecurityOptions.SessionRecheckSeconds"/>.
/// </summary>
public sealed class AccountSessionEvents
{
    public event Action<string, SessionEnd>? SessionsEnded;

    public event Action<string, long>? TokenRevoked;

    public void EndSessions(string userId, SessionEnd scope) => SessionsEnded?.Invoke(userId, scope);

    public void RevokeToken(string userId, long tokenId) => TokenRevoked?.Invoke(userId, tokenId);
}

/// <summary>
/// The security stamp each account has now, cached for a few seconds: a sign-in cookie carries the
/// stamp of when it was issued and is refused as soon as the account's stamp differs (sign-out, new
/// password, new role, lock). The cache entry of an account changed in this process is dropped at
/// once; one changed elsewhere is re-read within <see cref="SecurityOptions.SessionRecheckSeconds"/>.
/// Costs one small query per signed-in account per interval, not per request.
/// </summary>
public sealed class AccountStamps
{
    private readonly ConcurrentDictionary<string, (AccountState State, DateTime ReadUtc)> cache = new(StringComparer.Ordinal);
    private readonly IServiceScopeFactory scopes;
    private readonly TimeSpan lifetime;

    public AccountStamps(IServiceScopeFactory scopes, IOptions<SecurityOptions> options, AccountSessionEvents events)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(events);
        this.scopes = scopes;
        lifetime = TimeSpan.FromSeconds(Math.Max(0, options.Value.SessionRecheckSeconds));
        events.SessionsEnded += (userId, scope) => cache.TryRemove(userId, out var ended);
    }

    /// <summary>Drops what is known of the account, so the next check reads the database.</summary>
    public void Forget(string userId) => cache.TryRemove(userId, out var forgotten);

    /// <summary>An account as a session check needs it: gone, locked, or its current stamp.</summary>
    public sealed record AccountState(bool Exists, bool Locked, string? Stamp);

    public async Task<AccountState> CurrentAsync(string userId)
    {
        if (cache.TryGetValue(userId, out var entry) && DateTime.UtcNow - entry.ReadUtc < lifetime)
        {
            return entry.State;
        }

        await using AsyncServiceScope scope = scopes.CreateAsyncScope();
        UserManager<IdentityUser> users = scope.ServiceProvider.GetRequiredService<UserManager<IdentityUser>>();
        IdentityUser? user = await users.FindByIdAsync(userId);
        AccountState state = user is null
            ? new AccountState(false, false, null)
            : new AccountState(true, await users.IsLockedOutAsync(user), user.SecurityStamp);
        cache[userId] = (state, DateTime.UtcNow);
        return state;
    }

    /// <summary>True while the principal's account exists, is not locked and still has the stamp the principal carries.</summary>
    public async Task<bool> IsCurrentAsync(ClaimsPrincipal principal, string stampClaimType)
    {
        ArgumentNullException.ThrowIfNull(principal);
        string? userId = principal.FindFirstValue(ClaimTypes.NameIdentifier);
        if (userId is null)
        {
            return false;
        }

        AccountState state = await CurrentAsync(userId);
        return state.Exists && !state.Locked && string.Equals(state.Stamp, principal.FindFirstValue(stampClaimType), StringComparison.Ordinal);
    }

    /// <summary>
    /// The cookie check (replaces Identity's SecurityStampValidator, which re-reads every 30 minutes):
    /// a cookie whose account changed is refused and deleted on this request.
    /// </summary>
    public static async Task ValidateCookieAsync(CookieValidatePrincipalContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (context.Principal is null)
        {
            return;
        }

        IServiceProvider services = context.HttpContext.RequestServices;
        string stampClaim = services.GetRequiredService<IOptions<IdentityOptions>>().Value.ClaimsIdentity.SecurityStampClaimType;
        if (!await services.GetRequiredService<AccountStamps>().IsCurrentAsync(context.Principal, stampClaim))
        {
            context.RejectPrincipal();
            await context.HttpContext.SignOutAsync(IdentityConstants.ApplicationScheme);
        }
    }
}

/// <summary>
/// Every open SignalR connection of the site, the job hub's and the Blazor circuits' alike (a global hub
/// filter sees both), by account and by API token, so that ending an account's sessions closes them at
/// once (Context.Abort) instead of letting them stream on. A periodic sweep catches changes made by
/// another process (the command line locking an account, revoking a token).
/// </summary>
public sealed class SessionConnections : IHubFilter, IHostedService, IDisposable
{
    private readonly ConcurrentDictionary<string, Entry> connections = new(StringComparer.Ordinal);
    private readonly AccountStamps stamps;
    private readonly IServiceScopeFactory scopes;
    private readonly IOptions<IdentityOptions> identity;
    private readonly ILogger<SessionConnections> logger;
    private readonly TimeSpan sweepInterval;
    private readonly AccountSessionEvents events;
    private CancellationTokenSource? stopping;
    private Task? sweeping;

    public SessionConnections(AccountStamps stamps, AccountSessionEvents events, IServiceScopeFactory scopes, IOptions<IdentityOptions> identity, IOptions<SecurityOptions> options, ILogger<SessionConnections> logger)
    {
        ArgumentNullException.ThrowIfNull(events);
        ArgumentNullException.ThrowIfNull(options);
        this.stamps = stamps;
        this.scopes = scopes;
        this.identity = identity;
        this.logger = logger;
        this.events = events;
        sweepInterval = TimeSpan.FromSeconds(Math.Max(1, options.Value.SessionRecheckSeconds));
        events.SessionsEnded += OnSessionsEnded;
        events.TokenRevoked += OnTokenRevoked;
    }

    public int Count(string userId) => connections.Values.Count(e => e.UserId == userId);

    public async Task OnConnectedAsync(HubLifetimeContext context, Func<HubLifetimeContext, Task> next)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(next);
        HubCallerContext caller = context.Context;
        ClaimsPrincipal? user = caller.User;
        if (user?.FindFirstValue(ClaimTypes.NameIdentifier) is { } userId)
        {
            long? token = long.TryParse(user.FindFirstValue(TokenAuthenticationHandler.TokenIdClaim), out long id) ? id : null;
            connections[caller.ConnectionId] = new Entry(caller, userId, token, user.Identity?.AuthenticationType, user.FindFirstValue(identity.Value.ClaimsIdentity.SecurityStampClaimType));
        }

        await next(context);
    }

    public async Task OnDisconnectedAsync(HubLifetimeContext context, Exception? exception, Func<HubLifetimeContext, Exception?, Task> next)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(next);
        connections.TryRemove(context.Context.ConnectionId, out _);
        await next(context, exception);
    }

    /// <summary>Closes the account's connections: browser ones, or all of them.</summary>
    public int Close(string userId, SessionEnd scope) =>
        CloseWhere(e => e.UserId == userId && (scope == SessionEnd.Everything || e.TokenId is null), $"the sessions of account {userId} were ended");

    private void OnSessionsEnded(string userId, SessionEnd scope) => Close(userId, scope);

    private void OnTokenRevoked(string userId, long tokenId) =>
        CloseWhere(e => e.UserId == userId && e.TokenId == tokenId, $"API token {tokenId} was revoked");

    private int CloseWhere(Func<Entry, bool> match, string why)
    {
        int closed = 0;
        foreach ((string id, Entry entry) in connections)
        {
            if (match(entry) && connections.TryRemove(id, out _))
            {
                entry.Caller.Abort();
                closed++;
            }
        }

        if (closed > 0)
        {
            logger.LogInformation("Closed {Count} hub or circuit connection(s): {Why}.", closed, why);
        }

        return closed;
    }

    public Task StartAsync(CancellationToken cancellationToken)
    {
        stopping = new CancellationTokenSource();
        sweeping = SweepLoopAsync(stopping.Token);
        return Task.CompletedTask;
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        // The container may dispose this service before the host stops it (test hosts do): whoever comes
        // first takes the source, so the other never touches a disposed one.
        CancellationTokenSource? source = Interlocked.Exchange(ref stopping, null);
        if (source is null || sweeping is null)
        {
            return;
        }

        using (source)
        {
            await source.CancelAsync();
            await sweeping.WaitAsync(cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
    }

    // Changes made by another process: a lock or new stamp, or a token revoked, close connections here too.
    private async Task SweepLoopAsync(CancellationToken ct)
    {
        using var timer = new PeriodicTimer(sweepInterval);
        try
        {
            while (await timer.WaitForNextTickAsync(ct))
            {
                try
                {
                    await SweepAsync(ct);
                }
                catch (Exception e) when (e is InvalidOperationException or DbUpdateException or Microsoft.Data.Sqlite.SqliteException)
                {
                    logger.LogWarning(e, "Could not re-check the open hub and circuit connections");
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    public async Task SweepAsync(CancellationToken ct)
    {
        if (connections.IsEmpty)
        {
            return;
        }

        HashSet<long> tokenIds = [.. connections.Values.Where(e => e.TokenId is not null).Select(e => e.TokenId!.Value)];
        HashSet<long> live = [];
        if (tokenIds.Count > 0)
        {
            await using AsyncServiceScope scope = scopes.CreateAsyncScope();
            live = [.. await scope.ServiceProvider.GetRequiredService<JobStore>().ReadAsync(db => db.ApiTokens.AsNoTracking()
                .Where(t => tokenIds.Contains(t.Id) && t.RevokedUtc == null).Select(t => t.Id).ToListAsync(ct), ct)];
        }

        foreach (string userId in connections.Values.Select(e => e.UserId).Distinct(StringComparer.Ordinal).ToList())
        {
            AccountStamps.AccountState state = await stamps.CurrentAsync(userId);
            if (!state.Exists || state.Locked)
            {
                events.EndSessions(userId, SessionEnd.Everything);
                continue;
            }

            CloseWhere(e => e.UserId == userId && e.TokenId is null && e.Stamp is not null && !string.Equals(e.Stamp, state.Stamp, StringComparison.Ordinal),
                $"the account {userId} has a new security stamp");
        }

        CloseWhere(e => e.TokenId is long t && !live.Contains(t), "an API token was revoked");
    }

    public void Dispose()
    {
        events.SessionsEnded -= OnSessionsEnded;
        events.TokenRevoked -= OnTokenRevoked;
        if (Interlocked.Exchange(ref stopping, null) is { } source)
        {
            source.Cancel();
            source.Dispose();
        }
    }

    private sealed record Entry(HubCallerContext Caller, string UserId, long? TokenId, string? Scheme, string? Stamp);
}
