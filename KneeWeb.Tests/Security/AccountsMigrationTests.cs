using KneeWeb.Data;
using KneeWeb.Tests.TestData;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;
using Xunit;

namespace KneeWeb.Tests.Security;

/// <summary>An existing database gains accounts without losing a job: old jobs land in the default group.</summary>
public sealed class AccountsMigrationTests : IDisposable
{
    private readonly TempFolder folder = new("kneeweb-upgrade");

    public void Dispose() => folder.Dispose();

    [Fact]
    public async Task Jobs_from_before_accounts_land_in_the_default_group_and_stay_visible_to_it()
    {
        DbContextOptions<KneeWebDbContext> options = new DbContextOptionsBuilder<KneeWebDbContext>()
            .UseSqlite($"Data Source={folder.File("kneeweb.db")}").Options;
        await using (var db = new KneeWebDbContext(options))
        {
            await db.GetService<IMigrator>().MigrateAsync("20261121000000_Initial");
            await db.Database.ExecuteSqlRawAsync(
                "INSERT INTO Jobs (Id, Owner, InputFileName, InputPath, InputSizeBytes, OptionsJson, Status, CurrentStepIndex, Percent, Attempt, CreatedUtc, CancelRequested) " +
                "VALUES ('6F9619FF-8B86-D011-B42D-00C04FC964FF', 'lab', 'old.nii.gz', 'uploads/old/old.nii.gz', 1, '{{}}', 'Completed', 10, 100, 1, '2026-11-01 10:00:00', 0)");
            await db.Database.MigrateAsync();
        }

        Job old;
        using (JobVisibility.EnterSystem())
        await using (var db = new KneeWebDbContext(options))
        {
            old = await db.Jobs.SingleAsync();
            Assert.Equal(Group.DefaultName, (await db.Groups.SingleAsync(g => g.Id == Group.DefaultId)).Name);
        }

        Assert.Equal(Group.DefaultId, old.GroupId);
        Assert.Null(old.OwnerUserId);
        Assert.Equal("lab", old.Owner);

        using (JobVisibility.Enter(new JobVisibility(false, "member-of-default", [Group.DefaultId])))
        await using (var db = new KneeWebDbContext(options))
        {
            Assert.Equal(1, await db.Jobs.CountAsync());
        }

        using (JobVisibility.Enter(new JobVisibility(false, "member-elsewhere", [Group.DefaultId + 1])))
        await using (var db = new KneeWebDbContext(options))
        {
            Assert.Equal(0, await db.Jobs.CountAsync());
        }
    }
}
