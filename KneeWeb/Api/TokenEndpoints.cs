using System.Security.Claims;
using KneeWeb.Data;
using KneeWeb.Security;

namespace KneeWeb.Api;

/// <summary>A personal API token as the API lists it (never with its secret).</summary>
public sealed record TokenView(long Id, string Name, string Prefix, DateTime CreatedUtc, DateTime? RevokedUtc, DateTime? LastUsedUtc, bool Active)
{
    public static TokenView From(ApiTokenInfo t)
    {
        ArgumentNullException.ThrowIfNull(t);
        return new(t.Id, t.Name, t.Prefix, t.CreatedUtc, t.RevokedUtc, t.LastUsedUtc, t.RevokedUtc is null);
    }
}

/// <summary>A new token: the only answer that carries its secret.</summary>
public sealed record CreatedTokenView(long Id, string Name, string Prefix, DateTime CreatedUtc, string Token);

/// <summary>Body of POST /v1/account/tokens.</summary>
public sealed record CreateTokenRequest(string? Name);

/// <summary>
/// `/v1/account/tokens`: the signed-in user's own personal API tokens, for scripts and for the account
/// page's equivalent. Sign-in by cookie (state changes then need the antiforgery header, see
/// SecuritySetup) or by an API token. Another user's token id is answered like a missing one.
/// </summary>
public static class TokenEndpoints
{
    public static IEndpointRouteBuilder MapKneeWebTokenApi(this IEndpointRouteBuilder app)
    {
        ArgumentNullException.ThrowIfNull(app);
        RouteGroupBuilder tokens = app.MapGroup("/v1/account/tokens").WithTags("KneeWeb account");
        tokens.MapGet("", ListAsync).WithName("ListTokens")
            .WithDescription("Your personal API tokens (never their secrets), with when each was last used (to the minute).");
        tokens.MapPost("", CreateAsync).WithName("CreateToken")
            .WithDescription("Creates a token; the answer holds its secret, shown this once. Body: {\"name\": \"...\"}.");
        tokens.MapDelete("/{id:long}", RevokeAsync).WithName("RevokeToken")
            .WithDescription("Revokes one of your tokens; it stops working at once. 404 for a token that is not yours or already revoked.");
        return app;
    }

    private static string UserIdOf(HttpContext http) =>
        http.User.FindFirstValue(ClaimTypes.NameIdentifier) ?? throw new InvalidOperationException("The token API needs a signed-in user.");

    private static async Task<IResult> ListAsync(HttpContext http, ApiTokenService tokens, CancellationToken ct)
    {
        List<ApiTokenInfo> list = await tokens.ListAsync(UserIdOf(http), ct);
        return Results.Ok(list.ConvertAll(TokenView.From));
    }

    private static async Task<IResult> CreateAsync(HttpContext http, CreateTokenRequest? body, ApiTokenService tokens, AuditLog audit, CancellationToken ct)
    {
        string name = (body?.Name ?? "").Trim();
        if (name.Length > 128)
        {
            return Results.Problem(statusCode: StatusCodes.Status400BadRequest, title: "A token name is at most 128 characters.");
        }

        (ApiTokenInfo token, string secret) = await tokens.CreateAsync(UserIdOf(http), name.Length == 0 ? "token" : name, ct);
        await audit.RecordAsync(http, AuditActions.TokenCreated, target: $"token {token.Id} ({token.Name})", detail: "api");
        return Results.Created($"/v1/account/tokens/{token.Id}", new CreatedTokenView(token.Id, token.Name, token.Prefix, token.CreatedUtc, secret));
    }

    private static async Task<IResult> RevokeAsync(HttpContext http, long id, ApiTokenService tokens, AuditLog audit, CancellationToken ct)
    {
        if (!await tokens.RevokeAsync(UserIdOf(http), id, ct))
        {
            return Results.Problem(statusCode: StatusCodes.Status404NotFound, title: "No such live token of yours.");
        }

        await audit.RecordAsync(http, AuditActions.TokenRevoked, target: $"token {id}", detail: "api");
        return Results.NoContent();
    }
}
