using System.Diagnostics;
using System.Runtime.CompilerServices;
using KneeWeb.Imaging.Meshing;
using KneeWeb.Imaging.Segmentation;

namespace KneeWeb.Imaging.ShapeModel;

/// <summary>Which surface the shape model is fitted to.</summary>
public enum NsmFitMode
{
    Bone,

    /// <summary>
    /// Asked for bone and cartilage. The demo model describes the femur bone only (it has no cartilage
    /// channel), so this fits the bone surface exactly as <see cref="Bone"/> and says so in the result's note.
    /// </summary>
    BoneAndCartilage,
}

/// <summary>Settings of a shape-model fit.</summary>
public sealed record NsmFitOptions
{
    public NsmFitMode Mode { get; init; } = NsmFitMode.Bone;

    public double LearningRate { get; init; } = 0.005;

    public int MaxIterations { get; init; } = 2000;

    /// <summary>The fit stops after this many iterations without a lower loss.</summary>
    public int Patience { get; init; } = 50;

    /// <summary>Surface points used by the fit (evenly strided over the clipped surface's vertices).</summary>
    public int SurfacePoints { get; init; } = 800;

    /// <summary>Each surface point also gives points this far (model mm) outside and inside along its normal, with targets +-offset.</summary>
    public double NormalOffsetMm { get; init; } = 1.5;

    public int IcpIterations { get; init; } = 30;

    public bool IcpScale { get; init; } = true;

    /// <summary>Grid spacing (model mm, about 1.2 subject mm at typical size) of the reconstruction's marching cubes.</summary>
    public double ReconstructionSpacingMm { get; init; } = 1.5;

    /// <summary>ASSD leaves out this band (subject mm) below the clip plane, where the reconstruction is capped.</summary>
    public double AssdClipMarginMm { get; init; } = 2.0;

    /// <summary>False skips the reconstruction and ASSD (latent and BScore only: the model build's calibration fits).</summary>
    public bool Reconstruct { get; init; } = true;

    /// <summary>The knee side when it is known (otherwise found from the tibial cartilage; right when it cannot be told).</summary>
    public KneeSide? Side { get; init; }
}

/// <summary>The outcome of a fit: latent, transform, errors, the reconstructed mesh and the BScore.</summary>
public sealed record NsmFitResult
{
    public required NsmFitMode Mode { get; init; }

    public required string ModelName { get; init; }

    public required string ModelVersion { get; init; }

    public required float[] Latent { get; init; }

    public required double AssdMm { get; init; }

    public required int Iterations { get; init; }

    public required double BestLoss { get; init; }

    /// <summary>True when the loss stopped improving before the iteration limit.</summary>
    public required bool Converged { get; init; }

    public required bool Mirrored { get; init; }

    /// <summary>How the side was decided: "tibial cartilage", "given" or "assumed right".</summary>
    public required string SideSource { get; init; }

    /// <summary>Model-frame point = Scale * Rotation * (subject RAS point, x negated when mirrored) + Translation.</summary>
    public required Similarity Transform { get; init; }

    public required double FitTimeSeconds { get; init; }

    /// <summary>The reconstructed femur in subject RAS mm (clipped at the fitted surface's clip plane).</summary>
    public required TriangleMesh Mesh { get; init; }

    public required double BScore { get; init; }

    public required BScoreReference BScoreReference { get; init; }

    public required int FitPoints { get; init; }

    public string? Note { get; init; }
}

/// <summary>A loaded shape model: its sidecar and a decoder (ONNX in the product).</summary>
public sealed class NsmModel
{
    /// <summary>Most points the ICP target keeps.</summary>
    public const int MaxMeanSurfacePoints = 4000;

    private readonly Lock meanLock = new();
    private Vec3d[]? meanSurface;

    public NsmModel(NsmSidecar sidecar, ISdfDecoder decoder)
    {
        ArgumentNullException.ThrowIfNull(sidecar);
        ArgumentNullException.ThrowIfNull(decoder);
        if (decoder.LatentSize != sidecar.LatentSize)
        {
            throw new NsmFailedException($"The decoder takes {decoder.LatentSize} latent values; the sidecar says {sidecar.LatentSize}.");
        }

        Sidecar = sidecar;
        Decoder = decoder;
    }

    /// <summary>A model whose mean surface is already known (another decoder of the same model computed it).</summary>
    public NsmModel(NsmSidecar sidecar, ISdfDecoder decoder, IReadOnlyList<Vec3d> meanSurface)
        : this(sidecar, decoder)
    {
        ArgumentNullException.ThrowIfNull(meanSurface);
        this.meanSurface = [.. meanSurface];
    }

    public NsmSidecar Sidecar { get; }

    public ISdfDecoder Decoder { get; }

    /// <summary>Vertices of the mean shape's clipped surface (model frame), computed once: the ICP target.</summary>
    public IReadOnlyList<Vec3d> MeanSurface(CancellationToken ct = default)
    {
        lock (meanLock)
        {
            if (meanSurface is null)
            {
                TriangleMesh mesh = NsmFitter.Reconstruct(this, Sidecar.MeanLatent, 2.0, null, ct);
                FemurFrame frame = FemurFrame.Measure(mesh, Sidecar.Normalisation.ToRule());
                var points = new List<Vec3d>();
                for (int v = 0; v < mesh.VertexCount; v++)
                {
                    Vec3d p = mesh.Vertex(v);
                    if (p.Z < frame.ClipZMm)
                    {
                        points.Add(p);
                    }
                }

                // An evenly strided subset bounds the ICP's brute-force search (a few thousand points cover the femur).
                double stride = Math.Max(1.0, points.Count / (double)MaxMeanSurfacePoints);
                var kept = new List<Vec3d>();
                for (double i = 0; i < points.Count; i += stride)
                {
                    kept.Add(points[(int)i]);
                }

                meanSurface = [.. kept];
            }

            return meanSurface;
        }
    }
}

/// <summary>
/// Fits the neural shape model to a femur: knee side from the tibial cartilage (left knees mirrored), shaft
/// clipped, similarity to the model frame (normalisation, then rigid + scale ICP to the mean shape), then
/// Adam on the latent with the L1 loss and the gradient the model computes. Reconstructs the mesh from the
/// fitted latent and measures ASSD against the input surface. Deterministic: no random draws, sequential
/// arithmetic, one ONNX Runtime thread.
/// </summary>
public static class NsmFitter
{
    /// <summary>Fits the femur of a label map (its mesh is built here when <paramref name="femurSurface"/> is null).</summary>
    /// <exception cref="NsmFailedException">No femur, a degenerate surface, a model failure, or a fit that went wrong.</exception>
    public static NsmFitResult Fit(Volume labels, TriangleMesh? femurSurface, NsmModel model, NsmFitOptions options, IProgress<double>? progress = null, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(labels);
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(options);
        var watch = Stopwatch.StartNew();
        string sideSource;
        KneeSide side;
        if (options.Side is KneeSide given)
        {
            side = given;
            sideSource = "given";
        }
        else if (FemoralSubregions.DetectSide(labels) is KneeSide detected)
        {
            side = detected;
            sideSource = "tibial cartilage";
        }
        else
        {
            side = KneeSide.Right;
            sideSource = "assumed right (no tibial cartilage to tell the side)";
        }

        TriangleMesh surface = femurSurface ?? KneeMeshes.BuildOne(labels, KneeLabels.Femur, new MeshOptions());
        if (surface.VertexCount == 0)
        {
            throw new NsmFailedException("The segmentation has no femur (label 1) to fit the shape model to.");
        }

        progress?.Report(0.02);
        bool mirrored = side == KneeSide.Left;
        return FitSurface(surface, mirrored, sideSource, model, options, progress, watch, ct);
    }

    /// <summary>Fits a femur surface given in RAS mm (<paramref name="mirrored"/>: a left knee, mirrored in x first).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static NsmFitResult FitSurface(TriangleMesh surface, bool mirrored, string sideSource, NsmModel model, NsmFitOptions options,
        IProgress<double>? progress = null, Stopwatch? watch = null, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(surface);
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(options);
        watch ??= Stopwatch.StartNew();
        NsmSidecar sidecar = model.Sidecar;
        FemurFrameRule rule = sidecar.Normalisation.ToRule();

        // Right-knee frame: mirror x for a left knee (normals mirror with it and stay outward).
        double mx = mirrored ? -1 : 1;
        double[] normals = surface.ComputeVertexNormals();
        var positions = (double[])surface.PositionsRas.Clone();
        for (int v = 0; v < surface.VertexCount; v++)
        {
            positions[3 * v] *= mx;
            normals[3 * v] *= mx;
        }

        var rightKnee = new TriangleMesh(positions, surface.Triangles);
        FemurFrame frame;
        try
        {
            frame = FemurFrame.Measure(rightKnee, rule);
        }
        catch (ArgumentException e)
        {
            throw new NsmFailedException($"The femur surface cannot be placed in the model frame: {e.Message}", e);
        }

        // The clipped surface, evenly strided to the fit's point budget (vertex order is fixed by the mesh, so this is deterministic).
        var kept = new List<int>();
        for (int v = 0; v < rightKnee.VertexCount; v++)
        {
            if (positions[(3 * v) + 2] < frame.ClipZMm)
            {
                kept.Add(v);
            }
        }

        if (kept.Count < 50)
        {
            throw new NsmFailedException($"The femur surface below the clip plane has only {kept.Count} vertices; the segmented femur is too small to fit.");
        }

        double stride = Math.Max(1.0, kept.Count / (double)options.SurfacePoints);
        var chosen = new List<int>();
        for (double s = 0; s < kept.Count; s += stride)
        {
            chosen.Add(kept[(int)s]);
        }

        var canonical = new Vec3d[chosen.Count];
        for (int i = 0; i < chosen.Count; i++)
        {
            canonical[i] = frame.ToModel.Apply(rightKnee.Vertex(chosen[i]));
        }

        // Rigid + scale alignment of the normalised surface to the mean shape.
        IReadOnlyList<Vec3d> meanSurface = model.MeanSurface(ct);
        Similarity icp = SimilarityIcp.Align(canonical, meanSurface, options.IcpIterations, options.IcpScale, ct);
        Similarity toModel = frame.ToModel.Then(icp);
        progress?.Report(0.1);

        // Fit points: surface (target 0) and one point out and in along the normal (targets +-offset).
        int n = chosen.Count;
        var points = new float[9 * n];
        var targets = new float[3 * n];
        double offset = options.NormalOffsetMm;
        for (int i = 0; i < n; i++)
        {
            int v = chosen[i];
            Vec3d q = toModel.Apply(rightKnee.Vertex(v));
            var normalRas = new Vec3d(normals[3 * v], normals[(3 * v) + 1], normals[(3 * v) + 2]);
            Vec3d normal = (toModel.Apply(rightKnee.Vertex(v) + normalRas) - q).Normalized();
            for (int k = 0; k < 3; k++)
            {
                double d = k == 0 ? 0 : k == 1 ? offset : -offset;
                Vec3d p = q + (normal * d);
                int row = (3 * i) + k;
                points[3 * row] = (float)p.X;
                points[(3 * row) + 1] = (float)p.Y;
                points[(3 * row) + 2] = (float)p.Z;
                targets[row] = (float)d;
            }
        }

        // Adam on the latent, from the mean latent.
        int l = sidecar.LatentSize;
        var latent = (float[])sidecar.MeanLatent.Clone();
        var best = (float[])latent.Clone();
        var gradient = new float[l];
        var adam = new Adam(l);
        double bestLoss = double.PositiveInfinity;
        int sinceBest = 0, iterations = 0;
        bool converged = false;
        for (int it = 0; it < options.MaxIterations; it++)
        {
            ct.ThrowIfCancellationRequested();
            float loss = model.Decoder.LossAndGradient(latent, points, targets, gradient, ct);
            iterations = it + 1;
            if (!float.IsFinite(loss))
            {
                throw new NsmFailedException($"The shape model fit diverged at iteration {iterations} (loss {loss}).");
            }

            if (loss < bestLoss)
            {
                bestLoss = loss;
                latent.CopyTo(best, 0);
                sinceBest = 0;
            }
            else if (++sinceBest >= options.Patience)
            {
                converged = true;
                break;
            }

            adam.Step(latent, gradient, (float)options.LearningRate);
            if (progress is not null && it % 10 == 0)
            {
                progress.Report(0.1 + (0.75 * it / options.MaxIterations));
            }
        }

        progress?.Report(0.85);
        if (!options.Reconstruct)
        {
            return Result(TriangleMesh.Empty, double.NaN);
        }

        // Back to subject RAS: model -> right-knee frame (inverse similarity) -> unmirror.
        double clipModelScale = toModel.Scale;
        TriangleMesh mesh = Reconstruct(model, best, options.ReconstructionSpacingMm, (toModel, frame.ClipZMm, clipModelScale), ct);
        double[] mp = mesh.PositionsRas;
        for (int v = 0; v < mesh.VertexCount; v++)
        {
            Vec3d r = toModel.ApplyInverse(new Vec3d(mp[3 * v], mp[(3 * v) + 1], mp[(3 * v) + 2]));
            mp[3 * v] = mx * r.X;
            mp[(3 * v) + 1] = r.Y;
            mp[(3 * v) + 2] = r.Z;
        }

        if (mirrored)
        {
            mesh.FlipOrientation();
        }

        if (mesh.VertexCount == 0)
        {
            throw new NsmFailedException("The fitted latent decodes to no surface inside the model box.");
        }

        progress?.Report(0.95);
        double assd = Assd(surface, mesh, frame.ClipZMm - options.AssdClipMarginMm);
        progress?.Report(1);
        return Result(mesh, assd);

        NsmFitResult Result(TriangleMesh mesh, double assd) => new()
        {
            Mode = options.Mode,
            ModelName = sidecar.Name,
            ModelVersion = sidecar.Version,
            Latent = best,
            AssdMm = assd,
            Iterations = iterations,
            BestLoss = bestLoss,
            Converged = converged,
            Mirrored = mirrored,
            SideSource = sideSource,
            Transform = toModel,
            FitTimeSeconds = watch.Elapsed.TotalSeconds,
            Mesh = mesh,
            BScore = sidecar.Bscore.Score(best),
            BScoreReference = sidecar.Bscore,
            FitPoints = points.Length / 3,
            Note = options.Mode == NsmFitMode.BoneAndCartilage
                ? "The shape model describes the femur bone only: bone-cartilage fits the bone surface, as bone does."
                : null,
        };
    }

    /// <summary>
    /// Marching cubes on the decoder's distances over the model box (model frame, <paramref name="spacingMm"/>).
    /// With a clip (transform to the model frame, clip height in the right-knee frame), the surface is capped at the clip plane.
    /// </summary>
    // Per grid point work: optimised even in Debug builds, where tests run.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static TriangleMesh Reconstruct(NsmModel model, float[] latent, double spacingMm, (Similarity ToModel, double ClipZMm, double Scale)? clip, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(latent);
        double[] lo = model.Sidecar.Normalisation.BoxMinMm, hi = model.Sidecar.Normalisation.BoxMaxMm;
        var dims = new Dims3(
            (int)Math.Ceiling((hi[0] - lo[0]) / spacingMm) + 1,
            (int)Math.Ceiling((hi[1] - lo[1]) / spacingMm) + 1,
            (int)Math.Ceiling((hi[2] - lo[2]) / spacingMm) + 1);
        var points = new float[3 * dims.VoxelCount];
        long index = 0;
        for (int k = 0; k < dims.K; k++)
        {
            for (int j = 0; j < dims.J; j++)
            {
                for (int i = 0; i < dims.I; i++)
                {
                    points[3 * index] = (float)(lo[0] + (i * spacingMm));
                    points[(3 * index) + 1] = (float)(lo[1] + (j * spacingMm));
                    points[(3 * index) + 2] = (float)(lo[2] + (k * spacingMm));
                    index++;
                }
            }
        }

        var sdf = new float[dims.VoxelCount];
        model.Decoder.Evaluate(latent, points, sdf, ct);
        var field = new float[dims.VoxelCount];
        for (long v = 0; v < field.Length; v++)
        {
            float inside = -sdf[v];
            if (clip is { } c)
            {
                // Intersection with the half-space below the clip plane (distance in model mm).
                Vec3d r = c.ToModel.ApplyInverse(new Vec3d(points[3 * v], points[(3 * v) + 1], points[(3 * v) + 2]));
                inside = Math.Min(inside, (float)((c.ClipZMm - r.Z) * c.Scale));
            }

            // The box's border counts as outside, so the surface is closed.
            field[v] = inside;
        }

        CloseBorder(field, dims);
        return MarchingCubes.Extract(field, dims, 0f, AffineRas.FromSpacing(new Vec3d(spacingMm, spacingMm, spacingMm), new Vec3d(lo[0], lo[1], lo[2])));
    }

    /// <summary>Average symmetric surface distance (mm) over the parts of both surfaces below <paramref name="clipZMm"/> (RAS z; mirroring leaves z alone).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static double Assd(TriangleMesh input, TriangleMesh reconstruction, double clipZMm)
    {
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(reconstruction);
        var toInput = new SurfaceDistance(input);
        var toReconstruction = new SurfaceDistance(reconstruction);
        double sumA = 0, sumB = 0;
        int na = 0, nb = 0;
        for (int v = 0; v < input.VertexCount; v++)
        {
            Vec3d p = input.Vertex(v);
            if (p.Z < clipZMm)
            {
                sumA += toReconstruction.Distance(p);
                na++;
            }
        }

        for (int v = 0; v < reconstruction.VertexCount; v++)
        {
            Vec3d p = reconstruction.Vertex(v);
            if (p.Z < clipZMm)
            {
                sumB += toInput.Distance(p);
                nb++;
            }
        }

        return na == 0 || nb == 0 ? double.NaN : 0.5 * ((sumA / na) + (sumB / nb));
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void CloseBorder(float[] field, Dims3 dims)
    {
        for (int k = 0; k < dims.K; k++)
        {
            for (int j = 0; j < dims.J; j++)
            {
                for (int i = 0; i < dims.I; i++)
                {
                    if (i == 0 || j == 0 || k == 0 || i == dims.I - 1 || j == dims.J - 1 || k == dims.K - 1)
                    {
                        field[dims.Index(i, j, k)] = Math.Min(field[dims.Index(i, j, k)], -1f);
                    }
                }
            }
        }
    }
}
