using KneeWeb.Data;
using KneeWeb.Security;
using KneeWeb.Tests.TestData;
using KneeWeb.Tests.Web;
using Microsoft.AspNetCore.Identity;
using Microsoft.Extensions.DependencyInjection;
using Xunit;
using Microsoft.AspNetCore.Http.Connections;

namespace KneeWeb.Tests.Security;

/// <summary>
/// Hub events are checked against the listener's current rights (re-read for every event here, so the
/// test waits on events, not on the clock): a member removed from a group stops receiving that group's
/// events on an open connection, without reconnecting.
/// </summary>
[Trait("Category", "host")]
public sealed class HubRecheckTests : IDisposable
{
    private readonly KneeWebFactory factory = new(new Dictionary<string, string?> { ["KneeWeb:Security:HubRecheckSeconds"] = "0" });
    private readonly TempFolder inputs = new("kneeweb-hub-recheck");

    public void Dispose()
    {
        factory.Dispose();
        inputs.Dispose();
    }

    [Fact]
    public async Task A_removed_member_stops_receiving_the_groups_events_on_an_open_connection()
    {
        (IdentityUser _, string ownerToken) = await TestAccounts.CreateUserAsync(factory.Services, "owen", Roles.Member, "lab-h");
        (IdentityUser leaver, string leaverToken) = await TestAccounts.CreateUserAsync(factory.Services, "lena", Roles.Member, "lab-h");
        string input = TestVolumes.WriteRamp(inputs.Path);
        using HttpClient owner = factory.CreateClientWithToken(ownerToken);

        await using JobHubClient lena = await JobHubClient.ConnectAsync(factory.Server, HttpTransportType.WebSockets, leaverToken);
        await lena.InvokeAsync("JoinAll");

        Guid first = await ApiClient.SubmitAsync(owner, input);
        await lena.NextEventAsync(TimeSpan.FromMinutes(5), m => m.Target == "completed" && m.IsAbout(first));
        Guid second = await ApiClient.SubmitAsync(owner, input);
        await lena.NextEventAsync(TimeSpan.FromMinutes(5), m => m.Target == "completed" && m.IsAbout(second));

        await using (AsyncServiceScope scope = factory.Services.CreateAsyncScope())
        {
            AccountAdmin accounts = scope.ServiceProvider.GetRequiredService<AccountAdmin>();
            int groupId = (await accounts.ListGroupsAsync()).Single(g => g.Name == "lab-h").Id;
            Assert.True(await accounts.RemoveMemberAsync(groupId, leaver.Id));
        }

        // The owner's own connection hears the third job end: the broadcast that lena is no longer part of has happened.
        await using JobHubClient owen = await JobHubClient.ConnectAsync(factory.Server, HttpTransportType.WebSockets, ownerToken);
        await owen.InvokeAsync("JoinAll");
        Guid third = await ApiClient.SubmitAsync(owner, input);
        await owen.NextEventAsync(TimeSpan.FromMinutes(5), m => m.Target == "completed" && m.IsAbout(third));
        await Assert.ThrowsAsync<TimeoutException>(() => lena.NextEventAsync(TimeSpan.FromSeconds(1), m => m.IsAbout(third)));
    }

    [Theory]
    [InlineData(HttpTransportType.WebSockets)]
    [InlineData(HttpTransportType.LongPolling)]
    public async Task Locking_an_account_closes_its_open_hub_connection_and_its_token_cannot_reconnect(HttpTransportType transport)
    {
        (_, string token) = await TestAccounts.CreateUserAsync(factory.Services, "lucy", Roles.Member, "lab-l");
        string input = TestVolumes.WriteRamp(inputs.Path);
        using HttpClient admin = factory.CreateClient();
        using HttpResponseMessage submitted = await ApiClient.PostJobAsync(admin, input, group: "lab-l");
        Guid job = Guid.Parse(System.Text.Json.JsonDocument.Parse(await submitted.Content.ReadAsStringAsync()).RootElement.GetProperty("id").GetString()!);

        await using JobHubClient lucy = await JobHubClient.ConnectAsync(factory.Server, transport, token);
        Assert.True(await lucy.InvokeAsync<bool>("Join", job.ToString()));

        await using (AsyncServiceScope scope = factory.Services.CreateAsyncScope())
        {
            await scope.ServiceProvider.GetRequiredService<AccountAdmin>().LockAsync("lucy");
        }

        // The lock closes the open connection (no waiting for a re-check), and the token no longer connects.
        await lucy.Closed.WaitAsync(TimeSpan.FromMinutes(2));
        await Assert.ThrowsAnyAsync<Exception>(() => JobHubClient.ConnectAsync(factory.Server, transport, token));
        await ApiClient.WaitForEndAsync(admin, job);
    }
}
