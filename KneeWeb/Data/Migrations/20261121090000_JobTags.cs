using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;

namespace KneeWeb.Data.Migrations;

// Written by hand, like the initial migration (dotnet-ef 6.0.x is absent from the registry copy).
[DbContext(typeof(KneeWebDbContext))]
[Migration("20261121090000_JobTags")]
public sealed class AddJobTags : Migration
{
    protected override void Up(MigrationBuilder migrationBuilder)
    {
        ArgumentNullException.ThrowIfNull(migrationBuilder);
        migrationBuilder.AddColumn<string>(name: "Tags", table: "Jobs", type: "TEXT", maxLength: 600, nullable: true);
    }

    protected override void Down(MigrationBuilder migrationBuilder)
    {
        ArgumentNullException.ThrowIfNull(migrationBuilder);
        migrationBuilder.DropColumn(name: "Tags", table: "Jobs");
    }
}
