using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Design;

namespace KneeWeb.Data;

/// <summary>
/// Lets `dotnet ef` (migrations add, has-pending-model-changes) build the context without starting the
/// site: the model does not depend on settings, so a throwaway SQLite file name is enough.
/// </summary>
public sealed class DesignTimeDbContextFactory : IDesignTimeDbContextFactory<KneeWebDbContext>
{
    public KneeWebDbContext CreateDbContext(string[] args) =>
        new(new DbContextOptionsBuilder<KneeWebDbContext>().UseSqlite("Data Source=kneeweb-design.db").Options);
}
