using Microsoft.EntityFrameworkCore;

namespace KneeWeb.Data;

public sealed class KneeWebDbContext(DbContextOptions<KneeWebDbContext> options) : DbContext(options)
{
    public DbSet<Job> Jobs => Set<Job>();

    public DbSet<JobEvent> JobEvents => Set<JobEvent>();

    public DbSet<Artifact> Artifacts => Set<Artifact>();

    protected override void OnModelCreating(ModelBuilder modelBuilder)
    {
        ArgumentNullException.ThrowIfNull(modelBuilder);
        modelBuilder.Entity<Job>(job =>
        {
            job.HasKey(j => j.Id);
            job.Property(j => j.Status).HasConversion<string>().HasMaxLength(16);
            job.Property(j => j.Owner).HasMaxLength(128);
            job.Property(j => j.SubjectId).HasMaxLength(128);
            job.Property(j => j.KneeSide).HasMaxLength(8);
            job.Property(j => j.InputFileName).HasMaxLength(260);
            job.Property(j => j.Tags).HasMaxLength(600);
            job.Property(j => j.ErrorCode).HasMaxLength(32);
            job.HasIndex(j => j.Status);
            job.HasIndex(j => j.CreatedUtc);
            job.HasMany(j => j.Events).WithOne().HasForeignKey(e => e.JobId).OnDelete(DeleteBehavior.Cascade);
            job.HasMany(j => j.Artifacts).WithOne().HasForeignKey(a => a.JobId).OnDelete(DeleteBehavior.Cascade);
        });
        modelBuilder.Entity<JobEvent>(e =>
        {
            e.HasKey(x => x.Id);
            e.HasIndex(x => new { x.JobId, x.Id });
        });
        modelBuilder.Entity<Artifact>(a =>
        {
            a.HasKey(x => x.Id);
            a.HasIndex(x => new { x.JobId, x.Name }).IsUnique();
        });

        // SQLite has no time zone: every timestamp KneeWeb writes is UTC, so say so when reading.
        var utc = new Microsoft.EntityFrameworkCore.Storage.ValueConversion.ValueConverter<DateTime, DateTime>(
            v => v, v => DateTime.SpecifyKind(v, DateTimeKind.Utc));
        foreach (var entity in modelBuilder.Model.GetEntityTypes())
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
