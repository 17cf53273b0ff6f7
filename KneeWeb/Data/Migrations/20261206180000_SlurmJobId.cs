using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;

namespace KneeWeb.Data.Migrations;

// Written by hand on feat/slurm (the column is also in the model snapshot); regenerate with dotnet-ef when merging.
[DbContext(typeof(KneeWebDbContext))]
[Migration("20261206180000_SlurmJobId")]
public sealed class SlurmJobId : Migration
{
    protected override void Up(MigrationBuilder migrationBuilder)
    {
        ArgumentNullException.ThrowIfNull(migrationBuilder);
        migrationBuilder.AddColumn<long>(name: "SlurmJobId", table: "Jobs", type: "INTEGER", nullable: true);
    }

    protected override void Down(MigrationBuilder migrationBuilder)
    {
        ArgumentNullException.ThrowIfNull(migrationBuilder);
        migrationBuilder.DropColumn(name: "SlurmJobId", table: "Jobs");
    }
}
