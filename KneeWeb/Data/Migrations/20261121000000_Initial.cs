using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;

namespace KneeWeb.Data.Migrations;

// Written by hand: the EF Core 6 design-time tool (dotnet-ef 6.0.x) is absent from the registry copy.
// Column names and types match what EF Core 6's SQLite provider generates for the model.
[DbContext(typeof(KneeWebDbContext))]
[Migration("20261121000000_Initial")]
public sealed class Initial : Migration
{
    protected override void Up(MigrationBuilder migrationBuilder)
    {
        ArgumentNullException.ThrowIfNull(migrationBuilder);
        migrationBuilder.CreateTable(
            name: "Jobs",
            columns: table => new
            {
                Id = table.Column<Guid>(type: "TEXT", nullable: false),
                Owner = table.Column<string>(type: "TEXT", maxLength: 128, nullable: false),
                SubjectId = table.Column<string>(type: "TEXT", maxLength: 128, nullable: true),
                KneeSide = table.Column<string>(type: "TEXT", maxLength: 8, nullable: true),
                Notes = table.Column<string>(type: "TEXT", nullable: true),
                InputFileName = table.Column<string>(type: "TEXT", maxLength: 260, nullable: false),
                InputPath = table.Column<string>(type: "TEXT", nullable: false),
                InputSizeBytes = table.Column<long>(type: "INTEGER", nullable: false),
                DetectedFormat = table.Column<string>(type: "TEXT", nullable: true),
                OptionsJson = table.Column<string>(type: "TEXT", nullable: false),
                Status = table.Column<string>(type: "TEXT", maxLength: 16, nullable: false),
                CurrentStepIndex = table.Column<int>(type: "INTEGER", nullable: false),
                CurrentStep = table.Column<string>(type: "TEXT", nullable: true),
                Percent = table.Column<double>(type: "REAL", nullable: false),
                ErrorCode = table.Column<string>(type: "TEXT", maxLength: 32, nullable: true),
                ErrorMessage = table.Column<string>(type: "TEXT", nullable: true),
                ErrorHint = table.Column<string>(type: "TEXT", nullable: true),
                ErrorDetails = table.Column<string>(type: "TEXT", nullable: true),
                Attempt = table.Column<int>(type: "INTEGER", nullable: false),
                CreatedUtc = table.Column<DateTime>(type: "TEXT", nullable: false),
                StartedUtc = table.Column<DateTime>(type: "TEXT", nullable: true),
                FinishedUtc = table.Column<DateTime>(type: "TEXT", nullable: true),
                CancelRequested = table.Column<bool>(type: "INTEGER", nullable: false),
            },
            constraints: table => table.PrimaryKey("PK_Jobs", x => x.Id));

        migrationBuilder.CreateTable(
            name: "Artifacts",
            columns: table => new
            {
                Id = table.Column<long>(type: "INTEGER", nullable: false).Annotation("Sqlite:Autoincrement", true),
                JobId = table.Column<Guid>(type: "TEXT", nullable: false),
                Name = table.Column<string>(type: "TEXT", nullable: false),
                Kind = table.Column<string>(type: "TEXT", nullable: false),
                SizeBytes = table.Column<long>(type: "INTEGER", nullable: false),
                Sha256 = table.Column<string>(type: "TEXT", nullable: false),
            },
            constraints: table =>
            {
                table.PrimaryKey("PK_Artifacts", x => x.Id);
                table.ForeignKey("FK_Artifacts_Jobs_JobId", x => x.JobId, "Jobs", "Id", onDelete: ReferentialAction.Cascade);
            });

        migrationBuilder.CreateTable(
            name: "JobEvents",
            columns: table => new
            {
                Id = table.Column<long>(type: "INTEGER", nullable: false).Annotation("Sqlite:Autoincrement", true),
                JobId = table.Column<Guid>(type: "TEXT", nullable: false),
                TimestampUtc = table.Column<DateTime>(type: "TEXT", nullable: false),
                Kind = table.Column<string>(type: "TEXT", nullable: false),
                StepIndex = table.Column<int>(type: "INTEGER", nullable: true),
                Step = table.Column<string>(type: "TEXT", nullable: true),
                Message = table.Column<string>(type: "TEXT", nullable: false),
                DurationSeconds = table.Column<double>(type: "REAL", nullable: true),
            },
            constraints: table =>
            {
                table.PrimaryKey("PK_JobEvents", x => x.Id);
                table.ForeignKey("FK_JobEvents_Jobs_JobId", x => x.JobId, "Jobs", "Id", onDelete: ReferentialAction.Cascade);
            });

        migrationBuilder.CreateIndex("IX_Artifacts_JobId_Name", "Artifacts", ["JobId", "Name"], unique: true);
        migrationBuilder.CreateIndex("IX_JobEvents_JobId_Id", "JobEvents", ["JobId", "Id"]);
        migrationBuilder.CreateIndex("IX_Jobs_CreatedUtc", "Jobs", "CreatedUtc");
        migrationBuilder.CreateIndex("IX_Jobs_Status", "Jobs", "Status");
    }

    protected override void Down(MigrationBuilder migrationBuilder)
    {
        ArgumentNullException.ThrowIfNull(migrationBuilder);
        migrationBuilder.DropTable("Artifacts");
        migrationBuilder.DropTable("JobEvents");
        migrationBuilder.DropTable("Jobs");
    }
}
