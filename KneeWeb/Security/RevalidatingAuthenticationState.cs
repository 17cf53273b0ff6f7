using System.Security.Claims;
using Microsoft.AspNetCore.Components.Authorization;
using Microsoft.AspNetCore.Components.Server;
using Microsoft.AspNetCore.Identity;
using Microsoft.Extensions.Options;

namespace KneeWeb.Security;

/// <summary>
/// A page's live circuit outlasts the request that opened it; every minute it re-checks that the
/// account still exists, is not locked out and has the same security stamp (a new password or
/// `users set-password` changes it), and signs the circuit out otherwise.
/// </summary>
public sealed class RevalidatingAuthenticationState(ILoggerFactory loggerFactory, IServiceScopeFactory scopes, IOptions<IdentityOptions> identity)
    : RevalidatingServerAuthenticationStateProvider(loggerFactory)
{
    protected override TimeSpan RevalidationInterval => TimeSpan.FromMinutes(1);

    protected override async Task<bool> ValidateAuthenticationStateAsync(AuthenticationState authenticationState, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(authenticationState);
        await using AsyncServiceScope scope = scopes.CreateAsyncScope();
        UserManager<IdentityUser> users = scope.ServiceProvider.GetRequiredService<UserManager<IdentityUser>>();
        IdentityUser? user = await users.GetUserAsync(authenticationState.User);
        if (user is null || await users.IsLockedOutAsync(user))
        {
            return false;
        }

        string? stamp = authenticationState.User.FindFirstValue(identity.Value.ClaimsIdentity.SecurityStampClaimType);
        return !users.SupportsUserSecurityStamp || string.Equals(stamp, await users.GetSecurityStampAsync(user), StringComparison.Ordinal);
    }
}
