using KneeWeb.Data;
using KneeWeb.Tests.Database;
using Microsoft.EntityFrameworkCore;
using Xunit;

namespace KneeWeb.Tests.Security;

/// <summary>
/// Job access survives the upgrade from 0.1.0: jobs keep their group and owner, so the query filter
/// shows each account exactly the jobs it saw before.
/// </summary>
[Trait("Category", "unit")]
public sealed class AccountsMigrationTests : IDisposable
{
    private readonly UpgradeFixture fixture = new();

    public void Dispose() => fixture.Dispose();

    [Fact]
    public async Task Upgraded_jobs_stay_visible_to_their_groups_and_owners_only()
    {
        await fixture.InitializeAsync();
        string bob;
        await using (var db = new KneeWebDbContext(fixture.Options))
        {
            bob = (await db.Users.SingleAsync(u => u.UserName == "bob")).Id;
        }

        Assert.Equal(["S-001", "S-002", "S-004", "S-005", "S-006"], await VisibleSubjectsAsync(new JobVisibility(false, "member-of-default", [Group.DefaultId])));
        Assert.Equal(["S-003"], await VisibleSubjectsAsync(new JobVisibility(false, "member-of-knee-oa", [2])));
        Assert.Equal(["S-003"], await VisibleSubjectsAsync(new JobVisibility(false, bob, [])));
        Assert.Empty(await VisibleSubjectsAsync(new JobVisibility(false, "member-elsewhere", [3])));
        Assert.Empty(await VisibleSubjectsAsync(JobVisibility.Nobody));
    }

    private async Task<List<string?>> VisibleSubjectsAsync(JobVisibility visibility)
    {
        using IDisposable scope = JobVisibility.Enter(visibility);
        await using var db = new KneeWebDbContext(fixture.Options);
        return await db.Jobs.OrderBy(j => j.SubjectId).Select(j => j.SubjectId).ToListAsync();
    }
}
