using System.Diagnostics;
using System.Numerics.Tensors;
using KneeWeb.Imaging;
using KneeWeb.Imaging.Segmentation.Preprocessing;

namespace KneeWeb.Inference;

/// <summary>
/// Segments a volume with a registered model, in process: nnU-Net preprocessing, sliding-window
/// prediction with Gaussian weights (batched tiles, optional mirroring), argmax, the label map
/// put back on the input's grid in KneeWeb schema labels. Accumulation finalises slabs along k as
/// soon as no later tile can touch them, so memory holds about one patch depth of class scores,
/// not the whole volume's.
/// </summary>
public sealed class SegmentationPredictor : IDisposable
{
    // Loaded sessions by model file, checksum and session settings: loading an nnU-Net-sized model
    // (and initialising CUDA) takes seconds, so jobs after the first reuse it. Runs on one
    // session may overlap; the C API allows that.
    private readonly Dictionary<(string Path, string? Sha256, OrtSessionSettings Settings), OrtSession> sessions = [];
    private readonly Lock sessionsLock = new();
    private bool disposed;

    public SegmentationPredictor(OrtRuntime runtime)
    {
        ArgumentNullException.ThrowIfNull(runtime);
        Runtime = runtime;
    }

    public OrtRuntime Runtime { get; }

    /// <summary>Releases every cached session.</summary>
    public void Dispose()
    {
        lock (sessionsLock)
        {
            disposed = true;
            foreach (OrtSession session in sessions.Values)
            {
                session.Dispose();
            }

            sessions.Clear();
        }
    }

    /// <summary>Test-only behaviour (simulated out-of-memory failures); null in production.</summary>
    internal PredictorTestSeam? TestSeam { get; init; }

    /// <summary>Finds another registered model by name: a cascade's previous stage.</summary>
    public Func<string, ModelEntry?>? ModelResolver { get; init; }

    internal OrtSession SessionFor(ModelEntry model, OrtSessionSettings settings)
    {
        var key = (model.ModelPath, model.ComputedSha256, settings);
        lock (sessionsLock)
        {
            ObjectDisposedException.ThrowIf(disposed, this);
            if (sessions.TryGetValue(key, out OrtSession? cached))
            {
                return cached;
            }

            // Loading under the lock: two jobs asking for the same model load it once.
            OrtSession session = OrtSession.Create(Runtime, model.ModelPath, settings);
            sessions[key] = session;
            return session;
        }
    }

    /// <exception cref="ModelConfigurationException">The model is disabled or does not fit the image (CONFIG_ERROR).</exception>
    /// <exception cref="GpuOutOfMemoryException">Out of GPU memory after every recovery (GPU_OOM).</exception>
    /// <exception cref="InferenceFailedException">The runtime failed (SEGMENTATION_FAILED).</exception>
    /// <exception cref="OperationCanceledException">The token was cancelled; a run in flight is terminated.</exception>
    public Task<SegmentationResult> SegmentAsync(
        Volume image,
        ModelEntry model,
        SegmentationOptions options,
        IProgress<double>? progress,
        Action<SegmentationPreview>? preview,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(image);
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(options);
        if (!model.Enabled || model.Sidecar is null)
        {
            throw new ModelConfigurationException($"Model '{model.Name}' is disabled: {model.DisabledReason}");
        }

        if (model.Sidecar.NnUnet is not null)
        {
            return Task.Run(() => new NnUnet.NnUnetSegmentation(this, model, options, progress, preview, cancellationToken).Segment(image), cancellationToken);
        }

        if (image.Frames != model.Sidecar.InputChannels)
        {
            throw new ModelConfigurationException($"Model '{model.Name}' takes {model.Sidecar.InputChannels} channel(s); the image has {image.Frames}.");
        }

        return Task.Run(() => new Run(this, image, model, options, progress, preview, cancellationToken).Execute(), cancellationToken);
    }

    /// <summary>One segmentation: its settings, buffers and bookkeeping.</summary>
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1001", Justification = "A Run lives for one Execute call, which disposes its fallback session in a finally.")]
    private sealed class Run
    {
        private readonly SegmentationPredictor owner;
        private readonly Volume image;
        private readonly ModelEntry model;
        private readonly ModelSidecar sidecar;
        private readonly SegmentationOptions options;
        private readonly IProgress<double>? progress;
        private readonly Action<SegmentationPreview>? preview;
        private readonly CancellationToken cancellationToken;
        private readonly Stopwatch runClock = new();
        private readonly Stopwatch tilingClock = new();
        private readonly PreviewSampler? previewSampler;
        private readonly Stopwatch restoreClock = new(); // linear restore: postprocessing, though done while tiling
        private readonly int classes;
        private readonly int pI, pJ, pK;
        private readonly byte[] labelLookup;

        private ProviderFallback? fallback;
        private Dims3 padded;
        private (int I, int J, int K) padOffset;
        private float[][] channels = [];
        private float[] importance = [];
        private float[]?[] accumulator = [];
        private byte[] paddedLabels = [];
        private PreprocessedImage? preprocessed;
        private int finalizedBelowK;
        private LinearScoreRestore? restore;
        private byte[] restored = [];
        private float[]?[] weightSums = [];
        private int restoredBelowKOut; // output slices (of the crop box) already restored
        private bool direct;

        public Run(SegmentationPredictor owner, Volume image, ModelEntry model, SegmentationOptions options, IProgress<double>? progress, Action<SegmentationPreview>? preview, CancellationToken cancellationToken)
        {
            this.owner = owner;
            this.image = image;
            this.model = model;
            sidecar = model.Sidecar!;
            this.options = options;
            this.progress = progress;
            this.preview = preview;
            this.cancellationToken = cancellationToken;
            classes = sidecar.NumClasses;
            pI = sidecar.PatchSizeIjk![0];
            pJ = sidecar.PatchSizeIjk[1];
            pK = sidecar.PatchSizeIjk[2];
            labelLookup = sidecar.LabelLookup();
            previewSampler = preview is null ? null : new PreviewSampler(preview, options.PreviewInterval);
        }

        public SegmentationResult Execute()
        {
            var total = Stopwatch.StartNew();
            var stage = Stopwatch.StartNew();
            fallback = new ProviderFallback(owner, model, options);
            OrtSession session = fallback.Session;
            TimeSpan load = stage.Elapsed;

            stage.Restart();
            // A model of one knee sees the other knee mirrored left-right; its labels are mirrored back below.
            int? sideAxis = options.KneeSide is { } side && sidecar.KneeSide is { } modelSide && side != modelSide ? LeftRightAxis(image.Geometry) : null;
            Volume input = sideAxis is int axis ? Mirrored(image, axis) : image;
            preprocessed = NnUnetPreprocessing.Preprocess(input, PreprocessingFor(sidecar), cancellationToken);
            Pad(preprocessed);
            // Resampled to the model's grid: scores go back linearly and the argmax is taken on the input's grid.
            restore = LinearScoreRestore.IsIdentity(preprocessed) ? null : new LinearScoreRestore(preprocessed, classes);
            restored = restore is null ? [] : new byte[image.Dims.VoxelCount];
            TimeSpan preprocess = stage.Elapsed;
            cancellationToken.ThrowIfCancellationRequested();

            List<(int I, int J, int K)> tiles = SlidingWindow.Tiles(padded, pI, pJ, pK, options.Overlap ?? sidecar.SlidingWindow.Overlap);
            bool mirror = options.Mirroring switch
            {
                MirroringMode.On => true,
                MirroringMode.Off => false,
                _ => sidecar.Mirroring.Enabled,
            };
            int[][] mirrors = mirror ? MirrorCombinations(sidecar.Mirroring.Axes) : [[]];
            int batch = Math.Max(1, options.BatchSize ?? sidecar.SlidingWindow.BatchSize);
            if (session.Inputs[0].Shape[0] > 0)
            {
                batch = 1; // a model exported with a fixed batch of one
            }

            // One tile without mirroring (a model whose patch is the whole grid): its scores are final as they
            // come, so the argmax reads the output tensor directly; no weighted copies of every class score.
            direct = tiles.Count == 1 && mirrors.Length == 1;
            importance = direct ? [] : SlidingWindow.ImportanceMap(pI, pJ, pK, sidecar.SlidingWindow.Gaussian);
            accumulator = new float[padded.K][];
            weightSums = new float[padded.K][];
            paddedLabels = new byte[padded.VoxelCount];
            MaybePreview(0, force: true); // the image at once, before a (possibly minutes-long) first model run
            var tensors = new Dictionary<int, (OrtFloatTensor Input, OrtFloatTensor Output, float[] Sum)>();
            try
            {
                int done = 0;
                while (done < tiles.Count)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    int take = Math.Min(batch, tiles.Count - done);
                    FinalizeBelow(tiles[done].K);
                    if (!tensors.TryGetValue(take, out var buffers))
                    {
                        buffers = (
                            new OrtFloatTensor(owner.Runtime, take, sidecar.InputChannels, pK, pJ, pI),
                            new OrtFloatTensor(owner.Runtime, take, classes, pK, pJ, pI),
                            direct ? [] : new float[(long)take * classes * pK * pJ * pI]);
                        tensors[take] = buffers;
                    }

                    if (!TryRunBatch(tiles, done, take, mirrors, buffers, ref batch))
                    {
                        continue; // batch halved or provider switched: redo the same tiles
                    }

                    tilingClock.Start();
                    if (direct)
                    {
                        ArgmaxWholeGrid(buffers.Output.Data);
                        tilingClock.Stop();
                        restoreClock.Start();
                        RestoreFromWholeGrid(buffers.Output.Data);
                        restoreClock.Stop();
                        tilingClock.Start();
                    }
                    else
                    {
                        for (int b = 0; b < take; b++)
                        {
                            Accumulate(buffers.Sum, b, tiles[done + b]);
                        }
                    }

                    tilingClock.Stop();
                    done += take;
                    progress?.Report((double)done / tiles.Count);
                    MaybePreview((double)done / tiles.Count, force: false);
                }

                FinalizeBelow(padded.K);
            }
            finally
            {
                foreach (var buffers in tensors.Values)
                {
                    buffers.Input.Dispose();
                    buffers.Output.Dispose();
                }

                fallback.Dispose();
            }

            MaybePreview(1.0, force: true);
            stage.Restart();
            byte[] labels = restore is null ? NnUnetPreprocessing.RestoreLabels(Unpad(), preprocessed) : restored;
            if (sideAxis is int back)
            {
                labels = MirrorAlong(labels, image.Dims, back);
            }

            TimeSpan postprocess = stage.Elapsed;
            return new SegmentationResult
            {
                Labels = Volume.CreateLabelMap(image.Geometry, labels),
                ModelName = model.Name,
                ModelVersion = model.Version,
                Provider = fallback.Provider,
                Fallbacks = fallback.Fallbacks,
                Tiles = tiles.Count,
                BatchSize = batch,
                Mirrored = mirror,
                SideMirrorAxis = sideAxis,
                ModelGrid = preprocessed.Dims,
                Timings = new SegmentationTimings
                {
                    SessionLoad = load,
                    Preprocess = preprocess,
                    ModelRuns = runClock.Elapsed,
                    Tiling = tilingClock.Elapsed,
                    Postprocess = postprocess + restoreClock.Elapsed,
                    Total = total.Elapsed,
                },
            };
        }

        /// <summary>Runs one batch (every mirror) into its sum buffer; false when it must be redone with a smaller batch or on the CPU.</summary>
        private bool TryRunBatch(List<(int I, int J, int K)> tiles, int first, int take, int[][] mirrors, (OrtFloatTensor Input, OrtFloatTensor Output, float[] Sum) buffers, ref int batch)
        {
            Array.Clear(buffers.Sum);
            if (direct)
            {
                return TryRunDirect(tiles[first], buffers);
            }

            try
            {
                foreach (int[] axes in mirrors)
                {
                    tilingClock.Start();
                    (bool I, bool J, bool K) flip = (axes.Contains(0), axes.Contains(1), axes.Contains(2));
                    for (int b = 0; b < take; b++)
                    {
                        FillTile(buffers.Input.Data, b, tiles[first + b], flip);
                    }

                    tilingClock.Stop();
                    runClock.Start();
                    try
                    {
                        fallback!.Run([buffers.Input], [buffers.Output], take, cancellationToken);
                    }
                    finally
                    {
                        runClock.Stop();
                    }

                    tilingClock.Start();
                    for (int b = 0; b < take; b++)
                    {
                        AddUnflipped(buffers.Output.Data, buffers.Sum, b, flip);
                    }

                    tilingClock.Stop();
                }

                return true;
            }
            catch (OrtException e) when (e.IsOutOfMemory)
            {
                tilingClock.Stop();
                return Recover(e, take, ref batch);
            }
            catch (OrtException e)
            {
                throw fallback!.Failed(e);
            }
        }

        /// <summary>The one tile of a whole-grid model, run into its output tensor (no sum buffer: nothing to add up).</summary>
        private bool TryRunDirect((int I, int J, int K) tile, (OrtFloatTensor Input, OrtFloatTensor Output, float[] Sum) buffers)
        {
            tilingClock.Start();
            FillTile(buffers.Input.Data, 0, tile, default);
            tilingClock.Stop();
            int batch = 1;
            runClock.Start();
            try
            {
                fallback!.Run([buffers.Input], [buffers.Output], 1, cancellationToken);
                return true;
            }
            catch (OrtException e) when (e.IsOutOfMemory)
            {
                return Recover(e, 1, ref batch);
            }
            catch (OrtException e)
            {
                throw fallback!.Failed(e);
            }
            finally
            {
                runClock.Stop();
            }
        }

        /// <summary>Argmax of the single tile's scores (the tile is the whole padded grid), straight into the labels.</summary>
        private void ArgmaxWholeGrid(float[] output)
        {
            int slice = padded.I * padded.J;
            long classStride = padded.VoxelCount;
            Parallel.For(0, padded.K, z =>
            {
                // Class by class over the slice: each class's scores are read as one contiguous stream.
                float[] bestScores = System.Buffers.ArrayPool<float>.Shared.Rent(slice);
                byte[] bestClasses = System.Buffers.ArrayPool<byte>.Shared.Rent(slice);
                try
                {
                    long sliceStart = (long)z * slice;
                    output.AsSpan((int)sliceStart, slice).CopyTo(bestScores);
                    Array.Clear(bestClasses, 0, slice);
                    for (int c = 1; c < classes; c++)
                    {
                        ReadOnlySpan<float> scores = output.AsSpan(checked((int)((c * classStride) + sliceStart)), slice);
                        for (int v = 0; v < slice; v++)
                        {
                            if (scores[v] > bestScores[v])
                            {
                                bestScores[v] = scores[v];
                                bestClasses[v] = (byte)c;
                            }
                        }
                    }

                    Span<byte> labels = paddedLabels.AsSpan((int)sliceStart, slice);
                    for (int v = 0; v < slice; v++)
                    {
                        labels[v] = labelLookup[bestClasses[v]];
                    }
                }
                finally
                {
                    System.Buffers.ArrayPool<float>.Shared.Return(bestScores);
                    System.Buffers.ArrayPool<byte>.Shared.Return(bestClasses);
                }
            });
            finalizedBelowK = padded.K;
        }

        private bool Recover(OrtException error, int take, ref int batch)
        {
            // Too big a batch: fewer tiles; at batch 1 on the GPU: the same tiles on the CPU (or GPU_OOM).
            batch = fallback!.Recover(error, take);
            return false;
        }

        /// <summary>The voxel axis closest to RAS x (left-right).</summary>
        private static int LeftRightAxis(VolumeGeometry geometry)
        {
            int best = 0;
            double bestShare = -1;
            for (int axis = 0; axis < 3; axis++)
            {
                Vec3d column = geometry.IndexToRas.Column(axis);
                double length = Math.Sqrt((column.X * column.X) + (column.Y * column.Y) + (column.Z * column.Z));
                double share = length > 0 ? Math.Abs(column.X) / length : 0;
                if (share > bestShare)
                {
                    bestShare = share;
                    best = axis;
                }
            }

            return best;
        }

        /// <summary>The image with its voxels mirrored along one axis (same geometry), as float32.</summary>
        private static Volume Mirrored(Volume image, int axis)
        {
            long count = image.Dims.VoxelCount;
            var values = new float[count * image.Frames];
            for (int frame = 0; frame < image.Frames; frame++)
            {
                float[] mirrored = MirrorAlong(image.ToFloat32(frame), image.Dims, axis);
                mirrored.CopyTo(values, count * frame);
            }

            return new Volume(image.Geometry, VoxelType.Float32, values, image.Frames);
        }

        private static T[] MirrorAlong<T>(T[] source, Dims3 dims, int axis)
        {
            var result = new T[source.Length];
            int rowLength = dims.I;
            Parallel.For(0, dims.K, k =>
            {
                int sourceK = axis == 2 ? dims.K - 1 - k : k;
                for (int j = 0; j < dims.J; j++)
                {
                    int sourceJ = axis == 1 ? dims.J - 1 - j : j;
                    ReadOnlySpan<T> row = source.AsSpan(checked((int)dims.Index(0, sourceJ, sourceK)), rowLength);
                    Span<T> target = result.AsSpan(checked((int)dims.Index(0, j, k)), rowLength);
                    row.CopyTo(target);
                    if (axis == 0)
                    {
                        target.Reverse();
                    }
                }
            });
            return result;
        }

        private static PreprocessingSettings PreprocessingFor(ModelSidecar sidecar) => new()
        {
            TargetSpacingMm = new Vec3d(sidecar.TargetSpacingMmIjk![0], sidecar.TargetSpacingMmIjk[1], sidecar.TargetSpacingMmIjk[2]),
            Normalization = sidecar.Normalization.Scheme switch
            {
                NormalizationScheme.Fixed => IntensityNormalization.Fixed,
                NormalizationScheme.None => IntensityNormalization.None,
                _ => IntensityNormalization.ZScore,
            },
            UseNonzeroMask = sidecar.Normalization.UseNonzeroMask,
            FixedMean = sidecar.Normalization.Mean,
            FixedStd = sidecar.Normalization.Std,
            ClipLow = sidecar.Normalization.Clip?[0],
            ClipHigh = sidecar.Normalization.Clip?[1],
        };

        /// <summary>Pads the model grid up to one patch where it is smaller, centred as nnU-Net does.</summary>
        private void Pad(PreprocessedImage p)
        {
            Dims3 d = p.Dims;
            padded = new Dims3(Math.Max(d.I, pI), Math.Max(d.J, pJ), Math.Max(d.K, pK));
            padOffset = ((padded.I - d.I) / 2, (padded.J - d.J) / 2, (padded.K - d.K) / 2);
            if (padded == d)
            {
                channels = p.Channels;
                return;
            }

            channels = new float[p.Channels.Length][];
            for (int c = 0; c < channels.Length; c++)
            {
                var target = new float[padded.VoxelCount];
                float[] source = p.Channels[c];
                for (int k = 0; k < d.K; k++)
                {
                    for (int j = 0; j < d.J; j++)
                    {
                        source.AsSpan((int)d.Index(0, j, k), d.I).CopyTo(target.AsSpan((int)padded.Index(padOffset.I, padOffset.J + j, padOffset.K + k), d.I));
                    }
                }

                channels[c] = target;
            }
        }

        private byte[] Unpad()
        {
            Dims3 d = preprocessed!.Dims;
            if (padded == d)
            {
                return paddedLabels;
            }

            var result = new byte[d.VoxelCount];
            for (int k = 0; k < d.K; k++)
            {
                for (int j = 0; j < d.J; j++)
                {
                    paddedLabels.AsSpan((int)padded.Index(padOffset.I, padOffset.J + j, padOffset.K + k), d.I).CopyTo(result.AsSpan((int)d.Index(0, j, k), d.I));
                }
            }

            return result;
        }

        private static int[][] MirrorCombinations(int[] axes)
        {
            int[] distinct = axes.Distinct().Order().ToArray();
            var combinations = new List<int[]>();
            for (int mask = 0; mask < 1 << distinct.Length; mask++)
            {
                var combination = new List<int>();
                for (int a = 0; a < distinct.Length; a++)
                {
                    if ((mask & (1 << a)) != 0)
                    {
                        combination.Add(distinct[a]);
                    }
                }

                combinations.Add([.. combination]);
            }

            return [.. combinations];
        }

        private void FillTile(float[] input, int b, (int I, int J, int K) tile, (bool I, bool J, bool K) flip)
        {
            int channelCount = channels.Length;
            int patchVoxels = pI * pJ * pK;
            Parallel.For(0, channelCount * pK, ck =>
            {
                int c = ck / pK, z = ck % pK;
                float[] source = channels[c];
                int sz = tile.K + (flip.K ? pK - 1 - z : z);
                Span<float> target = input.AsSpan(((b * channelCount) + c) * patchVoxels, patchVoxels);
                for (int y = 0; y < pJ; y++)
                {
                    int sy = tile.J + (flip.J ? pJ - 1 - y : y);
                    ReadOnlySpan<float> row = source.AsSpan((int)padded.Index(tile.I, sy, sz), pI);
                    Span<float> destination = target.Slice(((z * pJ) + y) * pI, pI);
                    row.CopyTo(destination);
                    if (flip.I)
                    {
                        destination.Reverse();
                    }
                }
            });
        }

        private void AddUnflipped(float[] output, float[] sum, int b, (bool I, bool J, bool K) flip)
        {
            int patchVoxels = pI * pJ * pK;
            Parallel.For(0, classes * pK, ck =>
            {
                int c = ck / pK, z = ck % pK;
                int offset = ((b * classes) + c) * patchVoxels;
                int sz = flip.K ? pK - 1 - z : z;
                for (int y = 0; y < pJ; y++)
                {
                    int sy = flip.J ? pJ - 1 - y : y;
                    Span<float> source = output.AsSpan(offset + (((sz * pJ) + sy) * pI), pI);
                    Span<float> target = sum.AsSpan(offset + (((z * pJ) + y) * pI), pI);
                    if (flip.I)
                    {
                        // Reversed in place in the output buffer: it is refilled by the next run anyway.
                        source.Reverse();
                    }

                    TensorPrimitives.Add(target, source, target);
                }
            });
        }

        private void Accumulate(float[] sum, int b, (int I, int J, int K) tile)
        {
            int patchVoxels = pI * pJ * pK;
            int slice = padded.I * padded.J;
            for (int z = 0; z < pK; z++)
            {
                accumulator[tile.K + z] ??= new float[(long)classes * slice];
                if (restore is not null)
                {
                    weightSums[tile.K + z] ??= new float[slice];
                }
            }

            Parallel.For(0, pK, z =>
            {
                float[] target = accumulator[tile.K + z]!;
                for (int c = 0; c < classes; c++)
                {
                    int sourceBase = (((b * classes) + c) * patchVoxels) + (z * pJ * pI);
                    for (int y = 0; y < pJ; y++)
                    {
                        ReadOnlySpan<float> weights = importance.AsSpan(((z * pJ) + y) * pI, pI);
                        ReadOnlySpan<float> values = sum.AsSpan(sourceBase + (y * pI), pI);
                        Span<float> destination = target.AsSpan((c * slice) + ((tile.J + y) * padded.I) + tile.I, pI);
                        TensorPrimitives.MultiplyAdd(values, weights, destination, destination);
                    }
                }

                if (weightSums[tile.K + z] is float[] sums)
                {
                    // Scores are weighted sums; interpolating between voxels needs them as weighted means.
                    for (int y = 0; y < pJ; y++)
                    {
                        Span<float> destination = sums.AsSpan(((tile.J + y) * padded.I) + tile.I, pI);
                        TensorPrimitives.Add(destination, importance.AsSpan(((z * pJ) + y) * pI, pI), destination);
                    }
                }
            });
        }

        /// <summary>Argmax of every slab below <paramref name="k"/> (no later tile reaches it), then frees its scores.</summary>
        private void FinalizeBelow(int k)
        {
            if (k <= finalizedBelowK)
            {
                return;
            }

            tilingClock.Start();
            int slice = padded.I * padded.J;
            int from = finalizedBelowK;
            Parallel.For(from, k, z =>
            {
                float[]? scores = accumulator[z];
                Span<byte> labels = paddedLabels.AsSpan(z * slice, slice);
                if (scores is null)
                {
                    labels.Clear();
                    return;
                }

                for (int v = 0; v < slice; v++)
                {
                    int best = 0;
                    float bestScore = scores[v];
                    for (int c = 1; c < classes; c++)
                    {
                        float s = scores[(c * slice) + v];
                        if (s > bestScore)
                        {
                            bestScore = s;
                            best = c;
                        }
                    }

                    labels[v] = labelLookup[best];
                }

                if (restore is null)
                {
                    accumulator[z] = null; // kept for the linear restore otherwise, which frees it
                }
            });
            finalizedBelowK = k;
            tilingClock.Stop();
            if (restore is not null)
            {
                restoreClock.Start();
                RestoreReady(from);
                restoreClock.Stop();
            }
        }

        /// <summary>Restores every output slice whose model slabs are final, then frees the slabs no later slice reads.</summary>
        private void RestoreReady(int firstNewSlab)
        {
            LinearScoreRestore r = restore!;
            int slice = padded.I * padded.J;
            // Interpolation needs scores comparable between voxels: weighted sums become weighted means,
            // logits become probabilities. (The model-grid argmax, taken before, is unchanged by both.)
            Parallel.For(firstNewSlab, finalizedBelowK, z =>
            {
                if (accumulator[z] is not float[] scores || weightSums[z] is not float[] sums)
                {
                    return;
                }

                for (int c = 0; c < classes; c++)
                {
                    Span<float> classScores = scores.AsSpan(c * slice, slice);
                    TensorPrimitives.Divide(classScores, sums, classScores);
                }

                if (sidecar.Output == OutputKind.Logits)
                {
                    LinearScoreRestore.SoftmaxAcrossClasses(scores, 0, slice, classes, slice);
                }
            });

            int boxK = r.Box.Size.K;
            int ready = restoredBelowKOut;
            while (ready < boxK && r.SourceSlabs(ready).Upper + padOffset.K < finalizedBelowK)
            {
                ready++;
            }

            int from = restoredBelowKOut;
            Parallel.For(from, ready, kOut =>
            {
                (int lower, int upper) = r.SourceSlabs(kOut);
                RestoreSlice(kOut, SlabOf(accumulator[lower + padOffset.K]!, 0, padded.I * padded.J), SlabOf(accumulator[upper + padOffset.K]!, 0, padded.I * padded.J));
            });
            restoredBelowKOut = ready;

            int keepFrom = ready < boxK ? r.SourceSlabs(ready).Lower + padOffset.K : padded.K;
            for (int z = 0; z < Math.Min(keepFrom, finalizedBelowK); z++)
            {
                accumulator[z] = null;
                weightSums[z] = null;
            }
        }

        /// <summary>The single tile's output is the whole padded grid: every output slice reads it directly.</summary>
        private void RestoreFromWholeGrid(float[] output)
        {
            if (restore is null)
            {
                return;
            }

            long slice = (long)padded.I * padded.J;
            if (sidecar.Output == OutputKind.Logits)
            {
                Parallel.For(0, padded.K, z => LinearScoreRestore.SoftmaxAcrossClasses(output, z * slice, padded.VoxelCount, classes, (int)slice));
            }

            Parallel.For(0, restore.Box.Size.K, kOut =>
            {
                (int lower, int upper) = restore.SourceSlabs(kOut);
                RestoreSlice(kOut, SlabOf(output, (lower + padOffset.K) * slice, padded.VoxelCount), SlabOf(output, (upper + padOffset.K) * slice, padded.VoxelCount));
            });
            restoredBelowKOut = restore.Box.Size.K;
        }

        // The unpadded model region of a padded-grid slab starting at slabStart.
        private ScoreSlab SlabOf(float[] scores, long slabStart, long classStride) =>
            new(scores, slabStart + ((long)padOffset.J * padded.I) + padOffset.I, padded.I, classStride);

        private void RestoreSlice(int kOut, ScoreSlab lower, ScoreSlab upper)
        {
            LinearScoreRestore r = restore!;
            Dims3 box = r.Box.Size;
            Dims3 full = image.Dims;
            byte[] sliceLabels = System.Buffers.ArrayPool<byte>.Shared.Rent(box.I * box.J);
            try
            {
                r.ArgmaxSlice(kOut, lower, upper, labelLookup, sliceLabels);
                for (int j = 0; j < box.J; j++)
                {
                    sliceLabels.AsSpan(j * box.I, box.I).CopyTo(restored.AsSpan(checked((int)full.Index(r.Box.MinI, r.Box.MinJ + j, r.Box.MinK + kOut)), box.I));
                }
            }
            finally
            {
                System.Buffers.ArrayPool<byte>.Shared.Return(sliceLabels);
            }
        }

        private void MaybePreview(double fraction, bool force)
        {
            Dims3 model = preprocessed!.Dims;
            previewSampler?.Offer(fraction, force, n => channels[0][n], n => paddedLabels[n], padded, (padOffset.I + (model.I / 2), padOffset.J + (model.J / 2), padOffset.K + (model.K / 2)));
        }
    }
}
