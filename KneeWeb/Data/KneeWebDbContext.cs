using Microsoft.AspNetCore.Identity;
using Microsoft.AspNetCore.Identity.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore;

namespace KneeWeb.Data;

/// <summary>
/// Jobs, accounts (ASP.NET Core Identity tables), groups, API tokens and the audit log, in one SQLite file.
/// Job reads are filtered by the <see cref="JobVisibility"/> in force when the context was created.
/// </summary>
public sealed class KneeWebDbContext(DbContextOptions<KneeWebDbContext> options) : IdentityDbContext<IdentityUser, IdentityRole, string>(options)
{
    // Captured once per context: a context lives for one unit of work on one async flow.
    private readonly JobVisibility visibility = JobVisibility.Current ?? JobVisibility.System;

    // Read by the global query filter; EF Core re-reads context members on every query.
    private bool SeesAllJobs => visibility.All;

    private string? VisibleOwnerId => visibility.UserId;

    private List<int> VisibleGroupIds => [.. visibility.GroupIds];

    public DbSet<Job> Jobs => Set<Job>();

    public DbSet<Group> Groups => Set<Group>();

    public DbSet<GroupMembership> GroupMemberships => Set<GroupMembership>();

    public DbSet<ApiToken> ApiTokens => Set<ApiToken>();

    public DbSet<AuditEvent> AuditEvents => Set<AuditEvent>();

    public DbSet<JobEvent> JobEvents => Set<JobEvent>();

    public DbSet<Artifact> Artifacts => Set<Artifact>();

    public DbSet<JobMetrics> JobMetrics => Set<JobMetrics>();

    protected override void OnModelCreating(ModelBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        base.OnModelCreating(builder);
        builder.Entity<Job>(job =>
        {
            job.HasKey(j => j.Id);
            job.Property(j => j.OwnerUserId).HasMaxLength(450);
            job.HasIndex(j => j.GroupId);
            job.HasQueryFilter(j => SeesAllJobs || (VisibleOwnerId != null && j.OwnerUserId == VisibleOwnerId) || VisibleGroupIds.Contains(j.GroupId));
            job.Property(j => j.Status).HasConversion<string>().HasMaxLength(16);
            job.Property(j => j.Owner).HasMaxLength(128);
            job.Property(j => j.SubjectId).HasMaxLength(128);
            job.Property(j => j.KneeSide).HasMaxLength(8);
            job.Property(j => j.InputFileName).HasMaxLength(260);
            job.Property(j => j.Tags).HasMaxLength(600);
            job.Property(j => j.ExcludedBy).HasMaxLength(128);
            job.Property(j => j.ExclusionReason).HasMaxLength(500);
            job.Property(j => j.ErrorCode).HasMaxLength(32);
            job.HasIndex(j => j.Status);
            job.HasIndex(j => j.CreatedUtc);
            job.HasMany(j => j.Events).WithOne().HasForeignKey(e => e.JobId).OnDelete(DeleteBehavior.Cascade);
            job.HasMany(j => j.Artifacts).WithOne().HasForeignKey(a => a.JobId).OnDelete(DeleteBehavior.Cascade);
        });
        builder.Entity<JobMetrics>(m =>
        {
            m.HasKey(x => x.JobId);
            m.HasOne(x => x.Job).WithOne(j => j.Metrics).HasForeignKey<JobMetrics>(x => x.JobId).OnDelete(DeleteBehavior.Cascade);
            // The same visibility as the job's own row, so a metrics query never reveals a job its user cannot see.
            m.HasQueryFilter(x => SeesAllJobs || (VisibleOwnerId != null && x.Job.OwnerUserId == VisibleOwnerId) || VisibleGroupIds.Contains(x.Job.GroupId));
            m.Property(x => x.QcVerdict).HasConversion<string>().HasMaxLength(8);
            m.Property(x => x.ModelName).HasMaxLength(128);
            m.Property(x => x.ModelVersion).HasMaxLength(64);
            m.Property(x => x.SubjectId).HasMaxLength(128);
            m.Property(x => x.KneeSide).HasMaxLength(8);
            m.Property(x => x.QcFlags).HasMaxLength(1000);
            m.Property(x => x.CohortOutlierDrivers).HasMaxLength(500);
            m.Ignore(x => x.IsCohortOutlier);
            m.Ignore(x => x.Verdict);
            m.HasIndex(x => new { x.ModelName, x.VisitUtc });
            m.HasIndex(x => x.QcVerdict);
        });
        builder.Entity<JobEvent>(e =>
        {
            e.HasKey(x => x.Id);
            e.HasIndex(x => new { x.JobId, x.Id });
        });
        builder.Entity<Artifact>(a =>
        {
            a.HasKey(x => x.Id);
            a.HasIndex(x => new { x.JobId, x.Name }).IsUnique();
        });
        builder.Entity<Group>(g =>
        {
            g.HasKey(x => x.Id);
            g.Property(x => x.Name).HasMaxLength(128);
            g.HasIndex(x => x.Name).IsUnique();
        });
        builder.Entity<GroupMembership>(m =>
        {
            m.HasKey(x => new { x.GroupId, x.UserId });
            m.HasIndex(x => x.UserId);
        });
        builder.Entity<ApiToken>(t =>
        {
            t.HasKey(x => x.Id);
            t.Property(x => x.Name).HasMaxLength(128);
            t.Property(x => x.Prefix).HasMaxLength(16);
            t.Property(x => x.Hash).HasMaxLength(64);
            t.HasIndex(x => x.Hash).IsUnique();
            t.HasIndex(x => x.UserId);
        });
        builder.Entity<AuditEvent>(a =>
        {
            a.HasKey(x => x.Id);
            a.Property(x => x.Action).HasMaxLength(32);
            a.HasIndex(x => x.TimestampUtc);
            a.HasIndex(x => x.JobId);
        });

        // SQLite has no time zone: every timestamp KneeWeb writes is UTC, so say so when reading.
        var utc = new Microsoft.EntityFrameworkCore.Storage.ValueConversion.ValueConverter<DateTime, DateTime>(
            v => v, v => DateTime.SpecifyKind(v, DateTimeKind.Utc));
        foreach (var entity in builder.Model.GetEntityTypes())
        {
            foreach (var property in entity.GetProperties())
            {
                if (property.ClrType == typeof(DateTime) || property.ClrType == typeof(DateTime?))
                {
                    property.SetValueConverter(utc);
                }
            }
        }
    }
}
