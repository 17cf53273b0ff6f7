using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace KneeWeb.Data.Migrations
{
    /// <inheritdoc />
    public partial class CohortExclusion : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<string>(
                name: "ExcludedBy",
                table: "Jobs",
                type: "TEXT",
                maxLength: 128,
                nullable: true);

            migrationBuilder.AddColumn<DateTime>(
                name: "ExcludedFromCohortUtc",
                table: "Jobs",
                type: "TEXT",
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "ExclusionReason",
                table: "Jobs",
                type: "TEXT",
                maxLength: 500,
                nullable: true);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropColumn(
                name: "ExcludedBy",
                table: "Jobs");

            migrationBuilder.DropColumn(
                name: "ExcludedFromCohortUtc",
                table: "Jobs");

            migrationBuilder.DropColumn(
                name: "ExclusionReason",
                table: "Jobs");
        }
    }
}
