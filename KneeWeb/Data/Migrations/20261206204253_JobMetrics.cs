using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace KneeWeb.Data.Migrations
{
    /// <inheritdoc />
    public partial class JobMetrics : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateTable(
                name: "JobMetrics",
                columns: table => new
                {
                    JobId = table.Column<Guid>(type: "TEXT", nullable: false),
                    ModelName = table.Column<string>(type: "TEXT", maxLength: 128, nullable: true),
                    ModelVersion = table.Column<string>(type: "TEXT", maxLength: 64, nullable: true),
                    SubjectId = table.Column<string>(type: "TEXT", maxLength: 128, nullable: true),
                    KneeSide = table.Column<string>(type: "TEXT", maxLength: 8, nullable: true),
                    VisitUtc = table.Column<DateTime>(type: "TEXT", nullable: false),
                    RecordedUtc = table.Column<DateTime>(type: "TEXT", nullable: false),
                    FemurVolumeMm3 = table.Column<double>(type: "REAL", nullable: true),
                    TibiaVolumeMm3 = table.Column<double>(type: "REAL", nullable: true),
                    PatellaVolumeMm3 = table.Column<double>(type: "REAL", nullable: true),
                    FemoralCartilageVolumeMm3 = table.Column<double>(type: "REAL", nullable: true),
                    MedialTibialCartilageVolumeMm3 = table.Column<double>(type: "REAL", nullable: true),
                    LateralTibialCartilageVolumeMm3 = table.Column<double>(type: "REAL", nullable: true),
                    PatellarCartilageVolumeMm3 = table.Column<double>(type: "REAL", nullable: true),
                    MedialMeniscusVolumeMm3 = table.Column<double>(type: "REAL", nullable: true),
                    LateralMeniscusVolumeMm3 = table.Column<double>(type: "REAL", nullable: true),
                    FemoralAnteriorVolumeMm3 = table.Column<double>(type: "REAL", nullable: true),
                    FemoralMedialWeightBearingVolumeMm3 = table.Column<double>(type: "REAL", nullable: true),
                    FemoralLateralWeightBearingVolumeMm3 = table.Column<double>(type: "REAL", nullable: true),
                    FemoralMedialPosteriorVolumeMm3 = table.Column<double>(type: "REAL", nullable: true),
                    FemoralLateralPosteriorVolumeMm3 = table.Column<double>(type: "REAL", nullable: true),
                    FemoralCartilageThicknessMm = table.Column<double>(type: "REAL", nullable: true),
                    MedialTibialCartilageThicknessMm = table.Column<double>(type: "REAL", nullable: true),
                    LateralTibialCartilageThicknessMm = table.Column<double>(type: "REAL", nullable: true),
                    PatellarCartilageThicknessMm = table.Column<double>(type: "REAL", nullable: true),
                    FemoralAnteriorThicknessMm = table.Column<double>(type: "REAL", nullable: true),
                    FemoralMedialWeightBearingThicknessMm = table.Column<double>(type: "REAL", nullable: true),
                    FemoralLateralWeightBearingThicknessMm = table.Column<double>(type: "REAL", nullable: true),
                    FemoralMedialPosteriorThicknessMm = table.Column<double>(type: "REAL", nullable: true),
                    FemoralLateralPosteriorThicknessMm = table.Column<double>(type: "REAL", nullable: true),
                    BScore = table.Column<double>(type: "REAL", nullable: true),
                    NsmAssdMm = table.Column<double>(type: "REAL", nullable: true),
                    QcVerdict = table.Column<string>(type: "TEXT", maxLength: 8, nullable: false),
                    QcWarnings = table.Column<int>(type: "INTEGER", nullable: false),
                    QcErrors = table.Column<int>(type: "INTEGER", nullable: false),
                    QcFlags = table.Column<string>(type: "TEXT", maxLength: 1000, nullable: false),
                    CohortOutlierScore = table.Column<double>(type: "REAL", nullable: true),
                    CohortOutlierDrivers = table.Column<string>(type: "TEXT", maxLength: 500, nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_JobMetrics", x => x.JobId);
                    table.ForeignKey(
                        name: "FK_JobMetrics_Jobs_JobId",
                        column: x => x.JobId,
                        principalTable: "Jobs",
                        principalColumn: "Id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateIndex(
                name: "IX_JobMetrics_ModelName_VisitUtc",
                table: "JobMetrics",
                columns: new[] { "ModelName", "VisitUtc" });

            migrationBuilder.CreateIndex(
                name: "IX_JobMetrics_QcVerdict",
                table: "JobMetrics",
                column: "QcVerdict");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "JobMetrics");
        }
    }
}
