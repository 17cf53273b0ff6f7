using System.Net;
using System.Text.RegularExpressions;
using KneeWeb.Data;
using KneeWeb.Security;
using KneeWeb.Tests.Web;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace KneeWeb.Tests.Security;

/// <summary>Helpers shared by the security tests: cookie sign-in over HTTP, audit reads.</summary>
public static partial class SecuritySite
{
    /// <summary>The antiforgery field of a page's form (or its meta tag).</summary>
    public static string AntiforgeryOf(string html)
    {
        Match field = FormTokenRegex().Match(html);
        if (field.Success)
        {
            return WebUtility.HtmlDecode(field.Groups[1].Value);
        }

        Match meta = MetaTokenRegex().Match(html);
        Assert.True(meta.Success, "The page carries no antiforgery token.");
        return WebUtility.HtmlDecode(meta.Groups[1].Value);
    }

    /// <summary>Signs in through the real form with an HttpClient that keeps cookies; returns it.</summary>
    public static async Task<HttpClient> SignInWithCookieAsync(KneeWebFactory factory, string userName, string password) =>
        (await SignInCapturingCookieAsync(factory, userName, password)).Client;

    /// <summary>
    /// As <see cref="SignInWithCookieAsync"/>, also returning the session cookie as a Cookie header value,
    /// as someone who copied it out of the browser would send it.
    /// </summary>
    public static async Task<(HttpClient Client, string Cookie)> SignInCapturingCookieAsync(KneeWebFactory factory, string userName, string password)
    {
        ArgumentNullException.ThrowIfNull(factory);
        HttpClient client = factory.CreateClient(new WebApplicationFactoryClientOptions { AllowAutoRedirect = false, HandleCookies = true }).WithToken(null);
        string form = await client.GetStringAsync("/account/signin");
        using var content = new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["UserName"] = userName,
            ["Password"] = password,
            ["ReturnUrl"] = "/jobs",
            ["__RequestVerificationToken"] = AntiforgeryOf(form),
        });
        using HttpResponseMessage response = await client.PostAsync("/account/signin", content);
        Assert.Equal(HttpStatusCode.Redirect, response.StatusCode);
        Assert.Equal("/jobs", response.Headers.Location?.OriginalString);
        string cookie = string.Join("; ", response.Headers.GetValues("Set-Cookie")
            .Where(c => c.StartsWith("KneeWeb.Session", StringComparison.Ordinal))
            .Select(c => c.Split(';')[0]));
        Assert.False(string.IsNullOrEmpty(cookie), "The sign-in set no session cookie.");
        return (client, cookie);
    }

    /// <summary>
    /// Posts one of a static page's forms the way a browser does: the page's antiforgery field, the
    /// form's handler name and the given fields. Null <paramref name="antiforgery"/> reads it from the page;
    /// an empty one sends none.
    /// </summary>
    public static async Task<HttpResponseMessage> PostPageFormAsync(HttpClient client, string path, string handler, IEnumerable<KeyValuePair<string, string>> fields, string? antiforgery = null)
    {
        ArgumentNullException.ThrowIfNull(client);
        antiforgery ??= AntiforgeryOf(await client.GetStringAsync(path));
        var all = new List<KeyValuePair<string, string>>(fields) { new("_handler", handler) };
        if (antiforgery.Length > 0)
        {
            all.Add(new("__RequestVerificationToken", antiforgery));
        }

        using var content = new FormUrlEncodedContent(all);
        return await client.PostAsync(path, content);
    }

    public static async Task<List<AuditEvent>> AuditAsync(IServiceProvider services, string? action = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        return await services.GetRequiredService<AuditLog>().QueryAsync(new AuditFilter(Action: action, Limit: 10_000));
    }

    /// <summary>Reads jobs straight from the database under a given visibility (the query filter alone).</summary>
    public static async Task<List<Guid>> JobIdsUnderAsync(IServiceProvider services, JobVisibility visibility)
    {
        ArgumentNullException.ThrowIfNull(services);
        using (JobVisibility.Enter(visibility))
        {
            await using KneeWebDbContext db = await services.GetRequiredService<IDbContextFactory<KneeWebDbContext>>().CreateDbContextAsync();
            return await db.Jobs.Select(j => j.Id).ToListAsync();
        }
    }

    [GeneratedRegex("name=\"__RequestVerificationToken\"[^>]*value=\"([^\"]+)\"")]
    private static partial Regex FormTokenRegex();

    [GeneratedRegex("<meta name=\"kw-antiforgery\" content=\"([^\"]+)\"")]
    private static partial Regex MetaTokenRegex();
}
