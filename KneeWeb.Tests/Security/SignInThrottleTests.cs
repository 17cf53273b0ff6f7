using System.Net;
using KneeWeb.Data;
using KneeWeb.Security;
using KneeWeb.Tests.Web;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace KneeWeb.Tests.Security;

/// <summary>
/// Failed passwords cannot be turned against an account: they never lock it (its API tokens and its
/// owner's correct password keep working), unknown and real names get the same answer after the same
/// work, and guessing is slowed by throttling per name and per address (429 with Retry-After).
/// </summary>
[Trait("Category", "host")]
public sealed class SignInThrottleTests
{
    [Fact]
    public async Task Many_wrong_passwords_lock_nothing_tokens_and_the_right_password_keep_working()
    {
        using var factory = new KneeWebFactory();
        (Microsoft.AspNetCore.Identity.IdentityUser _, string token) = await TestAccounts.CreateUserAsync(factory.Services, "victim", Roles.Admin);
        await using (AsyncServiceScope scope = factory.Services.CreateAsyncScope())
        {
            await scope.ServiceProvider.GetRequiredService<AccountAdmin>().SetPasswordAsync("victim", "victim-password-2026");
        }

        using HttpClient attacker = factory.CreateAnonymousClient();
        for (int i = 0; i < 25; i++)
        {
            using HttpResponseMessage wrong = await PostSignInAsync(attacker, "victim", $"guess number {i:00}");
            Assert.Equal(HttpStatusCode.Redirect, wrong.StatusCode);
            Assert.Contains("error=failed", wrong.Headers.Location!.ToString(), StringComparison.Ordinal);
        }

        using HttpClient script = factory.CreateClientWithToken(token);
        Assert.Equal(HttpStatusCode.OK, (await script.GetAsync("/v1/jobs")).StatusCode);
        using HttpClient owner = await SecuritySite.SignInWithCookieAsync(factory, "victim", "victim-password-2026");
        Assert.Equal(HttpStatusCode.OK, (await owner.GetAsync("/v1/jobs")).StatusCode);
    }

    [Fact]
    public async Task Unknown_and_real_names_get_the_same_answer_and_both_run_the_password_hasher()
    {
        using var factory = new KneeWebFactory();
        CountingPasswordHasher hasher = factory.Services.GetRequiredService<CountingPasswordHasher>();
        using HttpClient client = factory.CreateAnonymousClient();

        long before = hasher.Verifications;
        using HttpResponseMessage real = await PostSignInAsync(client, TestAccounts.AdminName, "not the password");
        long realChecks = hasher.Verifications - before;

        before = hasher.Verifications;
        using HttpResponseMessage unknown = await PostSignInAsync(client, "nobody-by-this-name", "not the password");
        long unknownChecks = hasher.Verifications - before;

        Assert.Equal(1, realChecks);
        Assert.Equal(1, unknownChecks);
        Assert.Equal(real.StatusCode, unknown.StatusCode);
        Assert.Equal(real.Headers.Location!.ToString(), unknown.Headers.Location!.ToString());
        Assert.Equal(await real.Content.ReadAsStringAsync(), await unknown.Content.ReadAsStringAsync());

        // Both land on the same page with the same words.
        Assert.Contains("The user name or password is not right.", await client.GetStringAsync(unknown.Headers.Location), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Attempts_are_throttled_per_name_with_Retry_After_and_other_names_go_on()
    {
        using var factory = new KneeWebFactory(new Dictionary<string, string?>
        {
            ["KneeWeb:Security:SignInThrottle:PerName"] = "3",
            ["KneeWeb:Security:SignInThrottle:PerAddress"] = "100",
            ["KneeWeb:Security:SignInThrottle:Window"] = "00:10:00",
        });
        using HttpClient client = factory.CreateAnonymousClient();
        for (int i = 0; i < 3; i++)
        {
            Assert.Equal(HttpStatusCode.Redirect, (await PostSignInAsync(client, TestAccounts.AdminName, "wrong password")).StatusCode);
        }

        using HttpResponseMessage throttled = await PostSignInAsync(client, TestAccounts.AdminName, TestAccounts.AdminPassword);
        AssertThrottled(throttled);
        // The name is compared without case: "TESTER" is the same account.
        AssertThrottled(await PostSignInAsync(client, TestAccounts.AdminName.ToUpperInvariant(), TestAccounts.AdminPassword));
        Assert.Contains(await SecuritySite.AuditAsync(factory.Services, AuditActions.SignInFailed), e => e.Target == TestAccounts.AdminName && e.Detail == "throttled");

        // Another name from the same address is not affected, nor are the throttled account's tokens.
        Assert.Equal(HttpStatusCode.Redirect, (await PostSignInAsync(client, "someone-else", "wrong password")).StatusCode);
        using HttpClient token = factory.CreateClient();
        Assert.Equal(HttpStatusCode.OK, (await token.GetAsync("/v1/jobs")).StatusCode);
    }

    [Fact]
    public async Task Attempts_are_throttled_per_address_across_names()
    {
        using var factory = new KneeWebFactory(new Dictionary<string, string?>
        {
            ["KneeWeb:Security:SignInThrottle:PerName"] = "100",
            ["KneeWeb:Security:SignInThrottle:PerAddress"] = "4",
            ["KneeWeb:Security:SignInThrottle:Window"] = "00:10:00",
        });
        using HttpClient client = factory.CreateAnonymousClient();
        for (int i = 0; i < 4; i++)
        {
            Assert.Equal(HttpStatusCode.Redirect, (await PostSignInAsync(client, $"name-{i}", "wrong password")).StatusCode);
        }

        AssertThrottled(await PostSignInAsync(client, "name-5", "wrong password"));
        AssertThrottled(await PostSignInAsync(client, TestAccounts.AdminName, TestAccounts.AdminPassword));
    }

    private static void AssertThrottled(HttpResponseMessage response)
    {
        using (response)
        {
            Assert.Equal(HttpStatusCode.TooManyRequests, response.StatusCode);
            Assert.NotNull(response.Headers.RetryAfter?.Delta);
            Assert.True(response.Headers.RetryAfter!.Delta!.Value > TimeSpan.Zero);
            Assert.Contains("RATE_LIMITED", response.Content.ReadAsStringAsync().GetAwaiter().GetResult(), StringComparison.Ordinal);
        }
    }

    public static async Task<HttpResponseMessage> PostSignInAsync(HttpClient client, string userName, string password, string returnUrl = "/jobs")
    {
        ArgumentNullException.ThrowIfNull(client);
        string form = await client.GetStringAsync("/account/signin");
        using var content = new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["UserName"] = userName,
            ["Password"] = password,
            ["ReturnUrl"] = returnUrl,
            ["__RequestVerificationToken"] = SecuritySite.AntiforgeryOf(form),
        });
        return await client.PostAsync("/account/signin", content);
    }
}
