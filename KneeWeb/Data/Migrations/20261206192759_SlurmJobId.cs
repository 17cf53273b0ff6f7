using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace KneeWeb.Data.Migrations
{
    /// <inheritdoc />
    public partial class SlurmJobId : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<long>(
                name: "SlurmJobId",
                table: "Jobs",
                type: "INTEGER",
                nullable: true);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropColumn(
                name: "SlurmJobId",
                table: "Jobs");
        }
    }
}
