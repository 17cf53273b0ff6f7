using Microsoft.AspNetCore.Components.Authorization;
using Microsoft.AspNetCore.Components.Server;
using Microsoft.AspNetCore.Identity;
using Microsoft.Extensions.Options;

namespace KneeWeb.Security;

/// <summary>
/// A page's live circuit outlasts the request that opened it; every
/// KneeWeb:Security:SessionRecheckSeconds it re-checks that the account still exists, is not locked and
/// has the same security stamp (sign-out, a new password, role or lock changes it), and signs the
/// circuit out otherwise. A change made by this process closes the circuit's connection at once besides
/// (<see cref="SessionConnections"/>).
/// </summary>
public sealed class RevalidatingAuthenticationState(ILoggerFactory loggerFactory, AccountStamps stamps, IOptions<IdentityOptions> identity, IOptions<SecurityOptions> security)
    : RevalidatingServerAuthenticationStateProvider(loggerFactory)
{
    protected override TimeSpan RevalidationInterval => TimeSpan.FromSeconds(Math.Max(1, security.Value.SessionRecheckSeconds));

    protected override async Task<bool> ValidateAuthenticationStateAsync(AuthenticationState authenticationState, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(authenticationState);
        return await stamps.IsCurrentAsync(authenticationState.User, identity.Value.ClaimsIdentity.SecurityStampClaimType);
    }
}
