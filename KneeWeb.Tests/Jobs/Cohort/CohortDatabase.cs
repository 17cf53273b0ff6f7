using KneeWeb.Data;
using KneeWeb.Jobs;
using KneeWeb.Setup;
using KneeWeb.Tests.Database;
using KneeWeb.Tests.TestData;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace KneeWeb.Tests.Jobs.Cohort;

/// <summary>A real SQLite file brought up the way the site does (migrations, WAL), with a job store and a data folder over it.</summary>
public sealed class CohortDatabase : IDisposable
{
    private readonly TempFolder folder = new("kneeweb-cohort");

    private CohortDatabase()
    {
        Options = Microsoft.Extensions.Options.Options.Create(new KneeWebOptions { DataRoot = folder.Path });
        Store = new JobStore(new Factory(UpgradeFixture.OptionsFor(Options.Value.DatabasePath)));
    }

    public IOptions<KneeWebOptions> Options { get; }

    public JobStore Store { get; }

    public static async Task<CohortDatabase> CreateAsync()
    {
        var db = new CohortDatabase();
        Directory.CreateDirectory(db.Options.Value.JobsPath);
        await UpgradeFixture.InitializeAsync(db.Options.Value.DatabasePath);
        return db;
    }

    /// <summary>Writes stats.json text into a job's folder, as a finished pipeline leaves it.</summary>
    public void WriteStats(Guid jobId, string json)
    {
        string dir = Path.Combine(Options.Value.JobsPath, jobId.ToString("D"));
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "stats.json"), json);
    }

    public static Job CompletedJob(string subject, DateTime createdUtc, string? tags = null) => new()
    {
        Id = Guid.NewGuid(),
        Owner = "pi@lab",
        SubjectId = subject,
        Status = JobStatus.Completed,
        Percent = 100,
        Tags = tags,
        InputFileName = "knee.nii.gz",
        InputPath = "uploads/x/knee.nii.gz",
        CreatedUtc = createdUtc,
        FinishedUtc = createdUtc.AddMinutes(10),
    };

    public void Dispose()
    {
        Store.Dispose();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        folder.Dispose();
    }

    private sealed class Factory(DbContextOptions<KneeWebDbContext> options) : IDbContextFactory<KneeWebDbContext>
    {
        public KneeWebDbContext CreateDbContext() => new(options);
    }
}
