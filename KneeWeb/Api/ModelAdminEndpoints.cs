using KneeWeb.Jobs;
using KneeWeb.Security;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Net.Http.Headers;

namespace KneeWeb.Api;

/// <summary>
/// `/v1/models` Admin actions: POST /nnunet imports a zipped nnU-Net trained folder
/// (multipart part 'file', optional part 'name'); POST /{name}/enable and /{name}/disable switch a
/// model on and off. Admins only; each action audited.
/// </summary>
public static class ModelAdminEndpoints
{
    public static IEndpointRouteBuilder MapKneeWebModelAdminApi(this IEndpointRouteBuilder app)
    {
        ArgumentNullException.ThrowIfNull(app);
        RouteGroupBuilder models = app.MapGroup("/v1/models").WithTags("KneeWeb models").RequireAuthorization(Roles.Admin);
        models.MapPost("/nnunet", ImportAsync).WithName("ImportNnUnetModel")
            .WithDescription("Imports a zipped nnU-Net v2 trained folder (multipart/form-data: 'file' = the zip, optional 'name'). Admins only.");
        models.MapPost("/{name}/enable", (string name, HttpContext http, ModelAdminService service) => SetAsync(name, true, http, service)).WithName("EnableModel");
        models.MapPost("/{name}/disable", (string name, HttpContext http, ModelAdminService service) => SetAsync(name, false, http, service)).WithName("DisableModel");
        return app;
    }

    private static async Task<IResult> ImportAsync(HttpContext http, ModelAdminService service, Microsoft.Extensions.Options.IOptions<Setup.KneeWebOptions> options)
    {
        HttpRequest request = http.Request;
        if (!MediaTypeHeaderValue.TryParse(request.ContentType, out MediaTypeHeaderValue? mediaType)
            || !mediaType.MediaType.Equals("multipart/form-data", StringComparison.OrdinalIgnoreCase)
            || HeaderUtilities.RemoveQuotes(mediaType.Boundary).Value is not { Length: > 0 } boundary)
        {
            return ApiErrors.Problem(ErrorCode.CONFIG_ERROR, StatusCodes.Status400BadRequest, "Send the zipped trained folder as multipart/form-data with a part named 'file'.");
        }

        if (http.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } sizeFeature)
        {
            sizeFeature.MaxRequestBodySize = options.Value.MaxUploadBytes + (1024 * 1024);
        }

        var reader = new MultipartReader(boundary, request.Body);
        string? name = null;
        MultipartSection? section;
        while ((section = await reader.ReadNextSectionAsync(http.RequestAborted)) is not null)
        {
            if (!ContentDispositionHeaderValue.TryParse(section.ContentDisposition, out ContentDispositionHeaderValue? disposition))
            {
                continue;
            }

            string part = HeaderUtilities.RemoveQuotes(disposition.Name).Value ?? string.Empty;
            if (part == "name")
            {
                using var text = new StreamReader(section.Body);
                char[] buffer = new char[128];
                name = new string(buffer, 0, await text.ReadBlockAsync(buffer, http.RequestAborted));
            }
            else if (part == "file")
            {
                ModelAdminOutcome outcome = await service.ImportNnUnetZipAsync(section.Body, name, http.User.Identity?.Name, http.Connection.RemoteIpAddress?.ToString(), http.User, http.RequestAborted);
                return outcome.Succeeded
                    ? Results.Created($"/v1/models/{outcome.Models[^1]}", outcome)
                    : ApiErrors.Problem(Enum.Parse<ErrorCode>(outcome.Code!), outcome.Code == nameof(ErrorCode.DISK_FULL) ? StatusCodes.Status507InsufficientStorage : StatusCodes.Status400BadRequest, outcome.Message);
            }
        }

        return ApiErrors.Problem(ErrorCode.CONFIG_ERROR, StatusCodes.Status400BadRequest, "No part named 'file' (the zipped trained folder; put 'name' before it).");
    }

    private static async Task<IResult> SetAsync(string name, bool enabled, HttpContext http, ModelAdminService service)
    {
        ModelAdminOutcome outcome = await service.SetEnabledAsync(name, enabled, http.User.Identity?.Name, http.Connection.RemoteIpAddress?.ToString(), http.User);
        return outcome.Succeeded ? Results.Ok(outcome) : ApiErrors.NotFound($"model {name}");
    }
}
