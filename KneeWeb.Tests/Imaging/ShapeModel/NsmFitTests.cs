using KneeWeb.Imaging;
using KneeWeb.Imaging.Analysis;
using KneeWeb.Imaging.Meshing;
using KneeWeb.Imaging.Phantom;
using KneeWeb.Imaging.Segmentation;
using KneeWeb.Imaging.ShapeModel;
using KneeWeb.Inference.ModelBuilding;
using KneeWeb.Jobs;
using KneeWeb.Pipeline;
using Xunit;

namespace KneeWeb.Tests.Imaging.ShapeModel;

/// <summary>The committed demo shape model on ONNX Runtime: gradient, fit quality, BScore, determinism, failures.</summary>
[Trait("Category", "unit")]
public sealed class NsmFitTests(ShapeModelFixture fixture) : IClassFixture<ShapeModelFixture>
{
    /// <summary>Bounds the committed model meets on coarsening-2 phantoms (0.72 x 0.72 x 1.4 mm voxels); see models/nsm/README.md.</summary>
    private const double TrainingFemurMaxLossMm = 0.45, TrainingFemurMaxAssdMm = 0.5;

    [Fact]
    public void Latent_gradient_from_the_graph_matches_finite_differences_and_the_CSharp_backpropagation()
    {
        NsmModel model = fixture.Model;
        int l = model.Sidecar.LatentSize;
        ShapeSamples samples = FemurSamples.Sample(5, 0.6, model.Sidecar.Normalisation.ToRule(), new SampleSettings { Count = 1500 });
        var latent = (float[])model.Sidecar.MeanLatent.Clone();
        for (int k = 0; k < l; k++)
        {
            latent[k] += 0.05f * ((k % 3) - 1);
        }

        var gradient = new float[l];
        float loss = model.Decoder.LossAndGradient(latent, samples.PointsXyz, samples.Targets, gradient);
        Assert.True(loss > 0 && float.IsFinite(loss));

        // Central differences of the graph's own loss output. The network is piecewise linear, so they are
        // exact between kinks; a step of 1e-3 crosses few of them among 1500 points.
        const float Step = 1e-3f;
        var scratch = new float[l];
        double maxAbs = 0, maxError = 0;
        for (int k = 0; k < l; k++)
        {
            var plus = (float[])latent.Clone();
            var minus = (float[])latent.Clone();
            plus[k] += Step;
            minus[k] -= Step;
            double fd = (model.Decoder.LossAndGradient(plus, samples.PointsXyz, samples.Targets, scratch)
                - (double)model.Decoder.LossAndGradient(minus, samples.PointsXyz, samples.Targets, scratch)) / (2 * Step);
            maxAbs = Math.Max(maxAbs, Math.Abs(gradient[k]));
            maxError = Math.Max(maxError, Math.Abs(fd - gradient[k]));
        }

        Assert.True(maxAbs > 1e-3, $"gradient too small to test ({maxAbs})");
        Assert.True(maxError <= 0.05 * maxAbs, $"finite differences differ from the graph's gradient by {maxError} (largest component {maxAbs})");

    }

    [Fact]
    public void The_exported_graph_computes_what_the_CSharp_decoder_computes()
    {
        SdfNetwork network = SdfNetwork.CreateRandom(latentSize: 8, hidden: 32, depth: 3, seed: 7);
        string path = Path.Combine(Path.GetTempPath(), $"kneeweb-nsm-{Guid.NewGuid():N}.onnx");
        NsmModelBuilder.BuildGraph(network).Save(path);
        try
        {
            using OnnxSdfDecoder onnx = OnnxSdfDecoder.FromFile(fixture.Runtime, path, 8);
            var csharp = new MlpSdfDecoder(network);
            ShapeSamples samples = FemurSamples.Sample(3, 0.2, new FemurFrameRule(), new SampleSettings { Count = 700 });
            float[] latent = [0.3f, -0.2f, 0.1f, 0.5f, -0.4f, 0.05f, 0.2f, -0.1f];
            var g1 = new float[8];
            var g2 = new float[8];
            float l1 = onnx.LossAndGradient(latent, samples.PointsXyz, samples.Targets, g1);
            float l2 = csharp.LossAndGradient(latent, samples.PointsXyz, samples.Targets, g2);
            Assert.Equal(l2, l1, 3);
            for (int k = 0; k < 8; k++)
            {
                Assert.True(Math.Abs(g1[k] - g2[k]) <= 1e-4 * (1 + Math.Abs(g2[k])), $"component {k}: ONNX {g1[k]}, C# {g2[k]}");
            }

            var s1 = new float[700];
            var s2 = new float[700];
            onnx.Evaluate(latent, samples.PointsXyz, s1);
            csharp.Evaluate(latent, samples.PointsXyz, s2);
            for (int i = 0; i < s1.Length; i++)
            {
                Assert.True(Math.Abs(s1[i] - s2[i]) <= 1e-3 * (1 + Math.Abs(s2[i])), $"point {i}: ONNX {s1[i]}, C# {s2[i]}");
            }
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void Fitting_a_training_femur_recovers_a_low_loss_and_ASSD()
    {
        PhantomResult phantom = KneePhantom.Generate(FemurShapeFamily.Phantom(seed: 1, oa: 0));
        NsmFitResult fit = NsmFitter.Fit(phantom.Labels, null, fixture.Model, new NsmFitOptions());
        Assert.False(fit.Mirrored);
        Assert.Equal("tibial cartilage", fit.SideSource);
        Assert.True(fit.BestLoss < TrainingFemurMaxLossMm, $"best L1 {fit.BestLoss} mm");
        Assert.True(fit.AssdMm < TrainingFemurMaxAssdMm, $"ASSD {fit.AssdMm} mm");
        Assert.True(fit.Iterations > 1 && fit.Iterations <= 2000);
        Assert.True(fit.Mesh.IsWatertight(out string problem), problem);
        Assert.True(fit.Mesh.SignedVolumeMm3() > 0, "the reconstruction faces outward");
    }

    [Fact]
    public void BScore_increases_monotonically_with_OA_on_held_out_femurs()
    {
        var scores = new List<double>();
        foreach (double oa in new[] { 0.0, 0.25, 0.5, 0.75, 1.0 })
        {
            PhantomResult phantom = KneePhantom.Generate(FemurShapeFamily.Phantom(seed: 1001, oa));
            scores.Add(NsmFitter.Fit(phantom.Labels, null, fixture.Model, new NsmFitOptions { Reconstruct = false }).BScore);
        }

        for (int i = 1; i < scores.Count; i++)
        {
            Assert.True(scores[i] > scores[i - 1], $"BScore over OA 0, 0.25, 0.5, 0.75, 1: {string.Join(", ", scores)}");
        }
    }

    [Fact]
    public void The_same_input_gives_the_same_latent_and_BScore_and_a_left_knee_is_mirrored()
    {
        PhantomResult right = KneePhantom.Generate(FemurShapeFamily.Phantom(seed: 1002, oa: 0.5));
        var options = new NsmFitOptions { Reconstruct = false };
        NsmFitResult first = NsmFitter.Fit(right.Labels, null, fixture.Model, options);
        NsmFitResult second = NsmFitter.Fit(right.Labels, null, fixture.Model, options);
        Assert.Equal(first.Latent, second.Latent);
        Assert.Equal(first.BScore, second.BScore);
        Assert.Equal(first.Iterations, second.Iterations);

        PhantomResult left = KneePhantom.Generate(FemurShapeFamily.Phantom(seed: 1002, oa: 0.5, side: KneeSide.Left));
        NsmFitResult mirrored = NsmFitter.Fit(left.Labels, null, fixture.Model, options);
        Assert.True(mirrored.Mirrored);
        Assert.True(Math.Abs(mirrored.BScore - first.BScore) < 0.5, $"left {mirrored.BScore}, right {first.BScore}");
    }

    [Fact]
    public void A_label_map_without_a_femur_fails_as_NSM_FAILED()
    {
        PhantomResult phantom = KneePhantom.Generate(new PhantomOptions { Coarsening = 4, IncludeImage = false });
        var voxels = (byte[])phantom.Labels.Voxels;
        for (int v = 0; v < voxels.Length; v++)
        {
            if (voxels[v] == KneeLabels.Femur)
            {
                voxels[v] = 0;
            }
        }

        Volume noFemur = Volume.CreateLabelMap(phantom.Labels.Geometry, voxels);
        IReadOnlyDictionary<byte, StructureMesh> meshes = KneeAnalysis.BuildMeshes(noFemur, new MeshOptions());
        NsmFailedException failure = Assert.Throws<NsmFailedException>(() => KneeAnalysis.FitShapeModel(noFemur, meshes, fixture.Model, new NsmFitOptions { Mode = NsmFitMode.Bone }));
        Assert.Contains("no femur", failure.Message, StringComparison.Ordinal);
        Assert.Equal(ErrorCode.NSM_FAILED, ErrorMapper.Map(failure, KneeSteps.Nsm.Name).Code);
    }

    [Fact]
    public void A_missing_or_altered_shape_model_fails_as_NSM_FAILED_with_the_reason()
    {
        string models = Directory.CreateTempSubdirectory("kneeweb-nsm-models-").FullName;
        try
        {
            NsmFailedException missing = Assert.Throws<NsmFailedException>(() => NsmModels.Load(fixture.Runtime, models));
            Assert.Contains("No neural shape model is installed", missing.Message, StringComparison.Ordinal);

            string nsm = NsmModels.Folder(models);
            Directory.CreateDirectory(nsm);
            File.Copy(fixture.SidecarPath, Path.Combine(nsm, NsmModelBuilder.Name + ".json"));
            byte[] onnx = File.ReadAllBytes(Path.Combine(NsmModels.Folder(fixture.ModelsFolder), NsmModelBuilder.Name + ".onnx"));
            onnx[^1] ^= 1;
            File.WriteAllBytes(Path.Combine(nsm, NsmModelBuilder.Name + ".onnx"), onnx);
            NsmFailedException altered = Assert.Throws<NsmFailedException>(() => NsmModels.Load(fixture.Runtime, models));
            Assert.Contains("does not match its sidecar", altered.Message, StringComparison.Ordinal);
            Assert.Equal(ErrorCode.NSM_FAILED, ErrorMapper.Map(altered, KneeSteps.Nsm.Name).Code);
        }
        finally
        {
            Directory.Delete(models, recursive: true);
        }
    }

    [Fact]
    public void Reconstruction_of_the_mean_latent_is_a_closed_femur_inside_the_model_box()
    {
        TriangleMesh mean = NsmFitter.Reconstruct(fixture.Model, fixture.Model.Sidecar.MeanLatent, 2.0, null);
        Assert.True(mean.VertexCount > 1000);
        Assert.True(mean.IsWatertight(out string problem), problem);
        Assert.NotEmpty(fixture.Model.MeanSurface());
    }
}
