namespace KneeWeb.Imaging.Io;

/// <summary>
/// What a validated header says about the voxels to come, before any of them is read: the grid,
/// the frames (channels) and the stored type. Enough to estimate the memory a job will need.
/// </summary>
public sealed record VolumeHeaderInfo(string Format, Dims3 Dims, int Frames, VoxelType VoxelType, Vec3d SpacingMm)
{
    /// <summary>Bytes of the stored voxels, all frames.</summary>
    public long StoredBytes => Dims.VoxelCount * Frames * Volume.BytesPerVoxel(VoxelType);

    internal static VolumeHeaderInfo Of(string format, Dims3 dims, int frames, VoxelType type, AffineRas affine) =>
        new(format, dims, frames, type, affine.SpacingMm);
}

/// <summary>Disk-space facts shared by everything that writes uploads, extractions and results.</summary>
public static class DiskSpace
{
    private const int Enospc = 28;
    private const int Edquot = 122;

    /// <summary>
    /// True for an I/O error that means "no space left" (ENOSPC, or EDQUOT for a quota), told by
    /// the errno .NET keeps in HResult on Unix, or our own <see cref="InsufficientDiskSpaceException"/>.
    /// </summary>
    public static bool IsOutOfSpace(IOException exception) =>
        exception is InsufficientDiskSpaceException || (exception?.HResult & 0xFFFF) is Enospc or Edquot || exception?.HResult == unchecked((int)0x80070070);

    /// <summary>Bytes free to this process in the file system holding <paramref name="folder"/>; -1 when unknown.</summary>
    public static long FreeBytes(string folder)
    {
        try
        {
            Directory.CreateDirectory(folder);
            return new DriveInfo(Path.GetFullPath(folder)).AvailableFreeSpace;
        }
        catch (IOException)
        {
            return -1;
        }
        catch (UnauthorizedAccessException)
        {
            return -1;
        }
    }
}

/// <summary>
/// Counts bytes as they are written against a budget (what the disk may give before it reaches
/// the free-space reserve), so a writer stops with <see cref="InsufficientDiskSpaceException"/>
/// before the reserve is eaten, however the size was (not) announced.
/// </summary>
public sealed class DiskBudget
{
    // The free space is looked at again after this many bytes: other writers share the disk.
    private const long RecheckBytes = 64L << 20;
    private readonly string folder;
    private readonly long reserveBytes;
    private long left;
    private long sinceCheck;

    public DiskBudget(string folder, long reserveBytes, long capBytes = long.MaxValue)
    {
        this.folder = folder;
        this.reserveBytes = reserveBytes;
        CapBytes = capBytes;
        left = Available();
    }

    /// <summary>The most this budget ever allows, whatever the free space.</summary>
    public long CapBytes { get; }

    public long WrittenBytes { get; private set; }

    /// <summary>Records <paramref name="bytes"/> about to be written; throws when they do not fit.</summary>
    public void Take(long bytes)
    {
        WrittenBytes += bytes;
        if (WrittenBytes > CapBytes)
        {
            throw new InsufficientDiskSpaceException($"Writing stopped past {CapBytes / 1e6:0.#} MB, the most this request may write.");
        }

        sinceCheck += bytes;
        if (sinceCheck >= RecheckBytes)
        {
            sinceCheck = 0;
            left = Available() + bytes;
        }

        left -= bytes;
        if (left < 0)
        {
            throw new InsufficientDiskSpaceException(
                $"Writing stopped at {WrittenBytes / 1e6:0.#} MB: the server's disk would fall below its free-space reserve of {reserveBytes / 1e9:0.00} GB.");
        }
    }

    private long Available()
    {
        long free = DiskSpace.FreeBytes(folder);
        return free < 0 ? long.MaxValue : free - reserveBytes;
    }
}
