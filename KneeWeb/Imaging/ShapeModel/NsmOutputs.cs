using System.Text.Json.Nodes;
using System.Text.Json;
using KneeWeb.Imaging.Meshing;

namespace KneeWeb.Imaging.ShapeModel;

/// <summary>What a shape-model fit puts into stats.json and the job folder (femur_nsm.vtk/.stl/.ply, nsm.json).</summary>
public static class NsmOutputs
{
    public const string MeshFileName = "femur_nsm.vtk";

    public static string ModeName(NsmFitMode mode) => mode == NsmFitMode.Bone ? "bone" : "bone-cartilage";

    /// <summary>The stats.json "nsm" object.</summary>
    public static JsonObject NsmJson(NsmFitResult fit)
    {
        ArgumentNullException.ThrowIfNull(fit);
        var latent = new JsonArray();
        foreach (float v in fit.Latent)
        {
            latent.Add((double)v);
        }

        var rotation = new JsonArray();
        foreach (double[] row in fit.Transform.RotationRows())
        {
            rotation.Add(new JsonArray(Round(row[0], 9), Round(row[1], 9), Round(row[2], 9)));
        }

        Vec3d t = fit.Transform.TranslationMm;
        return new JsonObject
        {
            ["mode"] = ModeName(fit.Mode),
            ["model"] = new JsonObject { ["name"] = fit.ModelName, ["version"] = fit.ModelVersion },
            ["latent"] = latent,
            ["assd_mm"] = double.IsFinite(fit.AssdMm) ? Math.Round(fit.AssdMm, 4) : null,
            ["iterations"] = fit.Iterations,
            ["best_loss"] = Math.Round(fit.BestLoss, 6),
            ["converged"] = fit.Converged,
            ["transform"] = new JsonObject
            {
                ["mirrored"] = fit.Mirrored,
                ["scale"] = Round(fit.Transform.Scale, 9),
                ["rotation"] = rotation,
                ["translation_mm"] = new JsonArray(Round(t.X, 6), Round(t.Y, 6), Round(t.Z, 6)),
            },
            ["fit_time_s"] = Round(fit.FitTimeSeconds, 3),
            ["mesh"] = MeshFileName,
        };
    }

    /// <summary>The stats.json "bscore_reference" object.</summary>
    public static JsonObject ReferenceJson(BScoreReference reference)
    {
        ArgumentNullException.ThrowIfNull(reference);
        return new JsonObject
        {
            ["healthy_mean"] = reference.HealthyMean,
            ["healthy_sd"] = reference.HealthySd,
            ["axis_model"] = reference.AxisModel,
        };
    }

    /// <summary>nsm.json: the stats.json parts plus what a reader needs to reuse the fit.</summary>
    public static JsonObject DetailJson(NsmFitResult fit)
    {
        ArgumentNullException.ThrowIfNull(fit);
        JsonObject nsm = NsmJson(fit);
        nsm["bscore"] = fit.BScore;
        nsm["bscore_reference"] = ReferenceJson(fit.BScoreReference);
        var axis = new JsonArray();
        foreach (float v in fit.BScoreReference.Axis)
        {
            axis.Add((double)v);
        }

        nsm["bscore_axis"] = axis;
        nsm["side_source"] = fit.SideSource;
        nsm["fit_points"] = fit.FitPoints;
        nsm["transform_definition"] = "model-frame point = scale * rotation * p + translation_mm, p = subject RAS point (mm) with x negated when mirrored";
        nsm["note"] = fit.Note;
        return nsm;
    }

    /// <summary>Writes femur_nsm.vtk, .stl, .ply and nsm.json into the job folder; returns the paths.</summary>
    public static IReadOnlyList<string> Write(string folder, NsmFitResult fit)
    {
        ArgumentNullException.ThrowIfNull(fit);
        Directory.CreateDirectory(folder);
        string vtk = Path.Combine(folder, MeshFileName);
        MeshIo.WriteVtk(fit.Mesh, vtk, $"KneeWeb NSM femur reconstruction, {fit.ModelName} {fit.ModelVersion} (RAS mm)");
        string stl = Path.ChangeExtension(vtk, ".stl"), ply = Path.ChangeExtension(vtk, ".ply");
        MeshIo.Write(fit.Mesh, stl);
        MeshIo.Write(fit.Mesh, ply);
        string json = Path.Combine(folder, "nsm.json");
        File.WriteAllText(json, DetailJson(fit).ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        return [vtk, stl, ply, json];
    }

    private static double Round(double value, int digits) => Math.Round(value, digits);
}
