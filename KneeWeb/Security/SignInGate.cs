using System.Globalization;
using System.Threading.RateLimiting;
using Microsoft.AspNetCore.Identity;
using Microsoft.Extensions.Options;

namespace KneeWeb.Security;

/// <summary>What the password form learns from one attempt.</summary>
public enum SignInOutcome
{
    /// <summary>Wrong name or wrong password: the same answer for both.</summary>
    Failed,

    /// <summary>The password was right but an Admin locked the account (only someone who knows the password learns this).</summary>
    Locked,

    SignedIn,
}

/// <summary>
/// The password form's check, built so it tells nobody which accounts exist: an unknown name, an
/// account without a password and a wrong password all run the password hasher once and get the same
/// answer. Failed attempts never lock an account (anyone could lock anyone out, API tokens included);
/// <see cref="SignInThrottle"/> slows guessing down instead.
/// </summary>
public sealed class SignInGate(SignInManager<IdentityUser> signIn, IPasswordHasher<IdentityUser> hasher)
{
    // A hash in the current format of a random password nobody knows: verifying against it costs what
    // verifying a real account's hash costs.
    private static readonly Lazy<string> DummyHash = new(() =>
        new PasswordHasher<IdentityUser>().HashPassword(new IdentityUser("dummy"), AccountAdmin.GeneratePassword()));

    public async Task<(SignInOutcome Outcome, IdentityUser? User)> SignInAsync(string userName, string password)
    {
        UserManager<IdentityUser> users = signIn.UserManager;
        IdentityUser? user = userName.Length == 0 ? null : await users.FindByNameAsync(userName);
        if (user?.PasswordHash is null)
        {
            hasher.VerifyHashedPassword(new IdentityUser("dummy"), DummyHash.Value, password);
            return (SignInOutcome.Failed, null);
        }

        if (!await users.CheckPasswordAsync(user, password))
        {
            return (SignInOutcome.Failed, null);
        }

        if (await users.IsLockedOutAsync(user) || !await signIn.CanSignInAsync(user))
        {
            return (SignInOutcome.Locked, null);
        }

        await signIn.SignInAsync(user, isPersistent: false);
        return (SignInOutcome.SignedIn, user);
    }
}

/// <summary>
/// The password hasher Identity uses, counting verifications: the sign-in tests prove with it that an
/// unknown name costs a hash check like a real one (timing itself is measured in the benchmarks).
/// </summary>
public sealed class CountingPasswordHasher(IOptions<PasswordHasherOptions> options) : IPasswordHasher<IdentityUser>
{
    private readonly PasswordHasher<IdentityUser> inner = new(options);
    private long verifications;

    public long Verifications => Interlocked.Read(ref verifications);

    public string HashPassword(IdentityUser user, string password) => inner.HashPassword(user, password);

    public PasswordVerificationResult VerifyHashedPassword(IdentityUser user, string hashedPassword, string providedPassword)
    {
        Interlocked.Increment(ref verifications);
        return inner.VerifyHashedPassword(user, hashedPassword, providedPassword);
    }
}

/// <summary>
/// Rate limits on the password form (System.Threading.RateLimiting, the limiter behind ASP.NET Core's
/// rate-limiting middleware): a fixed window of attempts per client address and per account name.
/// The address limit is applied by the middleware's "sign-in" policy; the name limit here, once the
/// form (and so the name) has been read.
/// </summary>
public sealed class SignInThrottle : IDisposable
{
    public const string Policy = "sign-in";

    private readonly PartitionedRateLimiter<string> byName;

    public SignInThrottle(IOptions<SecurityOptions> options)
    {
        ArgumentNullException.ThrowIfNull(options);
        SignInThrottleOptions throttle = options.Value.SignInThrottle;
        byName = PartitionedRateLimiter.Create<string, string>(name => RateLimitPartition.GetFixedWindowLimiter(name, _ => Window(throttle.PerName, throttle.Window)));
    }

    /// <summary>Null when an attempt for this name may go ahead; otherwise how long to wait.</summary>
    public TimeSpan? TryName(string userName)
    {
        using RateLimitLease lease = byName.AttemptAcquire(userName.ToUpperInvariant());
        if (lease.IsAcquired)
        {
            return null;
        }

        return lease.TryGetMetadata(MetadataName.RetryAfter, out TimeSpan retry) ? retry : TimeSpan.FromMinutes(1);
    }

    public static FixedWindowRateLimiterOptions Window(int permits, TimeSpan window) => new()
    {
        PermitLimit = Math.Max(1, permits),
        Window = window > TimeSpan.Zero ? window : TimeSpan.FromMinutes(1),
        QueueLimit = 0,
        AutoReplenishment = true,
    };

    /// <summary>The 429 answer: Retry-After in whole seconds, and what happened in words and as a catalog code.</summary>
    public static async Task WriteThrottledAsync(HttpContext http, TimeSpan retryAfter)
    {
        ArgumentNullException.ThrowIfNull(http);
        int seconds = Math.Max(1, (int)Math.Ceiling(retryAfter.TotalSeconds));
        http.Response.StatusCode = StatusCodes.Status429TooManyRequests;
        http.Response.Headers.RetryAfter = seconds.ToString(CultureInfo.InvariantCulture);
        await Api.ApiErrors.Problem(Jobs.ErrorCode.RATE_LIMITED, StatusCodes.Status429TooManyRequests,
            $"Too many sign-in attempts. Wait {seconds} seconds, then sign in again.",
            new Dictionary<string, object?> { ["retry_after_seconds"] = seconds }).ExecuteAsync(http);
    }

    public void Dispose() => byName.Dispose();
}
