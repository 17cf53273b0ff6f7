using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;

namespace KneeWeb.Data.Migrations;

// Written by hand, like the others (dotnet-ef 6 is absent from the registry copy).
[DbContext(typeof(KneeWebDbContext))]
[Migration("20261121110000_TokenLastUsed")]
public sealed class TokenLastUsed : Migration
{
    protected override void Up(MigrationBuilder migrationBuilder)
    {
        ArgumentNullException.ThrowIfNull(migrationBuilder);
        migrationBuilder.AddColumn<DateTime>(name: "LastUsedUtc", table: "ApiTokens", type: "TEXT", nullable: true);
    }

    protected override void Down(MigrationBuilder migrationBuilder)
    {
        ArgumentNullException.ThrowIfNull(migrationBuilder);
        migrationBuilder.DropColumn(name: "LastUsedUtc", table: "ApiTokens");
    }
}
