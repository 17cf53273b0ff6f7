using System.Net;
using System.Net.Http.Json;
using KneeWeb.Data;
using KneeWeb.Security;
using KneeWeb.Tests.TestData;
using KneeWeb.Tests.Web;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace KneeWeb.Tests.Security;

/// <summary>
/// Choosing the group of a new job: the Upload page offers the uploader's groups (default first) when
/// there is a choice, and the server honours ?group= only for a group the uploader is in.
/// </summary>
[Trait("Category", "host")]
public sealed class UploadGroupTests : IDisposable
{
    private readonly KneeWebFactory factory = new();
    private readonly TempFolder inputs = new("kneeweb-upload-group");

    public void Dispose()
    {
        factory.Dispose();
        inputs.Dispose();
    }

    [Fact]
    public async Task The_upload_page_offers_a_group_choice_only_to_members_of_several_groups()
    {
        await TestAccounts.CreateUserAsync(factory.Services, "solo", Roles.Member, Group.DefaultName);
        await TestAccounts.CreateUserAsync(factory.Services, "duo", Roles.Member, Group.DefaultName, "lab-two");
        using HttpClient solo = await SecuritySite.SignInWithCookieAsync(factory, "solo", "solo-password-2026");
        using HttpClient duo = await SecuritySite.SignInWithCookieAsync(factory, "duo", "duo-password-2026");

        Assert.DoesNotContain("data-testid=\"group-choice\"", await solo.GetStringAsync("/"), StringComparison.Ordinal);
        string page = await duo.GetStringAsync("/");
        Assert.Contains("data-testid=\"group-choice\"", page, StringComparison.Ordinal);
        Assert.Contains(Group.DefaultName, page, StringComparison.Ordinal);

        IServiceProvider services = factory.Services;
        AccessSubject subject = await SubjectAsync(services, "duo");
        List<UploadGroupChoice> choices = await services.GetRequiredService<JobAccess>().UploadGroupsAsync(subject);
        Assert.Equal([Group.DefaultName, "lab-two"], choices.ConvertAll(c => c.Name));
        Assert.True(choices[0].IsDefault);
    }

    [Fact]
    public async Task A_member_of_two_groups_uploads_into_the_chosen_one_and_never_into_a_foreign_one()
    {
        (_, string token) = await TestAccounts.CreateUserAsync(factory.Services, "duo", Roles.Member, Group.DefaultName, "lab-two");
        await TestAccounts.CreateUserAsync(factory.Services, "other", Roles.Member, "lab-other");
        string input = TestVolumes.WriteRamp(inputs.Path);
        using HttpClient duo = factory.CreateClientWithToken(token);

        using HttpResponseMessage chosen = await ApiClient.PostJobAsync(duo, input, group: "lab-two");
        Assert.Equal(HttpStatusCode.Accepted, chosen.StatusCode);
        Guid id = Guid.Parse((await chosen.Content.ReadFromJsonAsync<System.Text.Json.JsonElement>()).GetProperty("id").GetString()!);
        Guid byDefault = await ApiClient.SubmitAsync(duo, input);

        using HttpResponseMessage foreign = await ApiClient.PostJobAsync(duo, input, group: "lab-other");
        Assert.Equal(HttpStatusCode.NotFound, foreign.StatusCode);
        Assert.Contains(await SecuritySite.AuditAsync(factory.Services, AuditActions.AccessDenied), e => e.UserName == "duo" && e.Target == "upload to group lab-other");

        await ApiClient.WaitForEndAsync(duo, id);
        await ApiClient.WaitForEndAsync(duo, byDefault);
        await using KneeWebDbContext db = await factory.Services.GetRequiredService<IDbContextFactory<KneeWebDbContext>>().CreateDbContextAsync();
        Dictionary<Guid, string> groupOf = await db.Jobs.Join(db.Groups, j => j.GroupId, g => g.Id, (j, g) => new { j.Id, g.Name }).ToDictionaryAsync(x => x.Id, x => x.Name);
        Assert.Equal("lab-two", groupOf[id]);
        Assert.Equal(Group.DefaultName, groupOf[byDefault]);
    }

    private static async Task<AccessSubject> SubjectAsync(IServiceProvider services, string userName)
    {
        await using AsyncServiceScope scope = services.CreateAsyncScope();
        Microsoft.AspNetCore.Identity.IdentityUser user = await scope.ServiceProvider.GetRequiredService<AccountAdmin>().FindAsync(userName);
        var principal = await scope.ServiceProvider.GetRequiredService<Microsoft.AspNetCore.Identity.IUserClaimsPrincipalFactory<Microsoft.AspNetCore.Identity.IdentityUser>>().CreateAsync(user);
        return await services.GetRequiredService<JobAccess>().SubjectAsync(principal);
    }
}
