using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using KneeWeb.Data;
using KneeWeb.Jobs;
using Microsoft.EntityFrameworkCore;

namespace KneeWeb.Security;

/// <summary>A token as listed (never with its secret).</summary>
public sealed record ApiTokenInfo(long Id, string Name, string Prefix, DateTime CreatedUtc, DateTime? RevokedUtc, DateTime? LastUsedUtc = null);

/// <summary>
/// Personal API tokens: `Authorization: Bearer kw_...`. The secret is 32 random bytes, shown once;
/// the database keeps its SHA-256 only (a stolen database file gives no usable token). Every request
/// looks the hash up again, so a revocation takes effect at once. The "last used" time is written at
/// most once per <see cref="LastUsedResolution"/> per token, never on every request.
/// </summary>
public sealed class ApiTokenService(JobStore store, AccountSessionEvents sessions)
{
    public const string SecretPrefix = "kw_";

    /// <summary>How stale a token's "last used" time may be: a busy script costs one write a minute.</summary>
    public static readonly TimeSpan LastUsedResolution = TimeSpan.FromMinutes(1);

    // Token id -> when its LastUsedUtc was last written by this process.
    private readonly ConcurrentDictionary<long, DateTime> lastWritten = new();

    /// <summary>Creates a token for a user and returns its row and the secret (the only time it is known).</summary>
    public async Task<(ApiTokenInfo Token, string Secret)> CreateAsync(string userId, string name, CancellationToken ct = default) =>
        await ImportAsync(userId, name, SecretPrefix + Base64Url(RandomNumberGenerator.GetBytes(32)), ct);

    /// <summary>
    /// Stores a token whose secret the caller chose (provisioning scripts, test fixtures). The secret
    /// must be long and random; it is stored hashed like any other.
    /// </summary>
    public async Task<(ApiTokenInfo Token, string Secret)> ImportAsync(string userId, string name, string secret, CancellationToken ct = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(userId);
        ArgumentException.ThrowIfNullOrWhiteSpace(secret);
        if (secret.Length < 24)
        {
            throw new ArgumentException("An API token secret must be at least 24 characters.", nameof(secret));
        }

        var token = new ApiToken
        {
            UserId = userId,
            Name = string.IsNullOrWhiteSpace(name) ? "token" : name.Trim(),
            Prefix = secret[..Math.Min(10, secret.Length)],
            Hash = Hash(secret),
            CreatedUtc = DateTime.UtcNow,
        };
        await store.WriteAsync(db =>
        {
            db.ApiTokens.Add(token);
            return Task.CompletedTask;
        }, ct);
        return (Info(token), secret);
    }

    public Task<List<ApiTokenInfo>> ListAsync(string userId, CancellationToken ct = default) =>
        store.ReadAsync(async db =>
        {
            List<ApiToken> rows = await db.ApiTokens.AsNoTracking().Where(t => t.UserId == userId).OrderBy(t => t.Id).ToListAsync(ct);
            return rows.ConvertAll(Info);
        }, ct);

    /// <summary>Revokes one of a user's tokens. False when the user has no such live token.</summary>
    /// <remarks>Hub connections opened with the token in this process are closed at once.</remarks>
    public async Task<bool> RevokeAsync(string userId, long tokenId, CancellationToken ct = default)
    {
        bool revoked = await store.WriteAsync(async db =>
        {
            ApiToken? token = await db.ApiTokens.FirstOrDefaultAsync(t => t.Id == tokenId && t.UserId == userId, ct);
            if (token is null || token.RevokedUtc is not null)
            {
                return false;
            }

            token.RevokedUtc = DateTime.UtcNow;
            return true;
        }, ct);
        if (revoked)
        {
            sessions.RevokeToken(userId, tokenId);
        }

        return revoked;
    }

    /// <summary>The user id of a live token with this secret, or null.</summary>
    public async Task<string?> ValidateAsync(string secret, CancellationToken ct = default) =>
        (await FindLiveAsync(secret, ct))?.UserId;

    /// <summary>The live token with this secret (its id and owner), or null.</summary>
    public async Task<(long Id, string UserId)?> FindLiveAsync(string secret, CancellationToken ct = default)
    {
        if (string.IsNullOrEmpty(secret) || !secret.StartsWith(SecretPrefix, StringComparison.Ordinal) || secret.Length > 256)
        {
            return null;
        }

        string hash = Hash(secret);
        var live = await store.ReadAsync(db => db.ApiTokens.AsNoTracking()
            .Where(t => t.Hash == hash && t.RevokedUtc == null)
            .Select(t => new { t.Id, t.UserId, t.LastUsedUtc })
            .FirstOrDefaultAsync(ct), ct);
        if (live is null)
        {
            return null;
        }

        await TouchAsync(live.Id, live.LastUsedUtc);
        return (live.Id, live.UserId);
    }

    // Throttled twice: by what this process wrote last, and by what the row already says (a restart, or
    // another process sharing the database, does not cause a write per request either).
    private async Task TouchAsync(long tokenId, DateTime? storedUtc)
    {
        DateTime now = DateTime.UtcNow;
        if (storedUtc is DateTime stored && now - stored < LastUsedResolution)
        {
            return;
        }

        if (lastWritten.TryGetValue(tokenId, out DateTime written) && now - written < LastUsedResolution)
        {
            return;
        }

        lastWritten[tokenId] = now;
        // No cancellation: the write is tiny and should not fail because the request was aborted.
        await store.WriteAsync(async db =>
        {
            ApiToken? row = await db.ApiTokens.FirstOrDefaultAsync(t => t.Id == tokenId);
            if (row is not null)
            {
                row.LastUsedUtc = now;
            }
        }, CancellationToken.None);
    }

    public static string Hash(string secret) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(secret)));

    private static ApiTokenInfo Info(ApiToken t) => new(t.Id, t.Name, t.Prefix, t.CreatedUtc, t.RevokedUtc, t.LastUsedUtc);

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
