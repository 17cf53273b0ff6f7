using KneeWeb.Data;
using KneeWeb.Imaging;
using KneeWeb.Imaging.Io;
using Microsoft.EntityFrameworkCore;

namespace KneeWeb.Jobs;

/// <summary>
/// Database access for jobs. Writes go through one gate so SQLite never sees two writers from
/// this process (no SQLITE_BUSY under load); reads run freely alongside (WAL).
/// </summary>
public sealed class JobStore(IDbContextFactory<KneeWebDbContext> factory) : IDisposable
{
    /// <summary>Free space below which a failed database write is taken for a full disk.</summary>
    private const long FullDiskBytes = 1L << 20;

    private readonly SemaphoreSlim writeGate = new(1, 1);

    public async Task<T> ReadAsync<T>(Func<KneeWebDbContext, Task<T>> read, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(read);
        await using KneeWebDbContext db = await factory.CreateDbContextAsync(ct);
        return await read(db);
    }

    public async Task<T> WriteAsync<T>(Func<KneeWebDbContext, Task<T>> write, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(write);
        await writeGate.WaitAsync(ct);
        string? folder = null;
        try
        {
            await using KneeWebDbContext db = await factory.CreateDbContextAsync(ct);
            folder = Path.GetDirectoryName(Path.GetFullPath(db.Database.GetDbConnection().DataSource));
            T result = await write(db);
            await db.SaveChangesAsync(ct);
            return result;
        }
        catch (Exception ex) when (ex is DbUpdateException or Microsoft.Data.Sqlite.SqliteException && !DiskFull.Is(ex) && folder is not null && DiskSpace.FreeBytes(folder) is >= 0 and < FullDiskBytes)
        {
            // SQLite rolls a transaction back itself on SQLITE_FULL; EF's own rollback then fails ("no
            // transaction is active") and hides the cause. A failed write on a disk with no room is a full disk.
            throw new InsufficientDiskSpaceException("The database could not be written: the server's disk is full.", ex);
        }
        finally
        {
            writeGate.Release();
        }
    }

    public Task WriteAsync(Func<KneeWebDbContext, Task> write, CancellationToken ct = default) =>
        WriteAsync<bool>(async db =>
        {
            await write(db);
            return true;
        }, ct);

    public Task<Job?> FindAsync(Guid id, CancellationToken ct = default) =>
        ReadAsync(db => db.Jobs.AsNoTracking().FirstOrDefaultAsync(j => j.Id == id, ct), ct);

    public void Dispose() => writeGate.Dispose();

    public static JobEvent Event(Guid jobId, string kind, string message, int? stepIndex = null, string? step = null, double? durationSeconds = null) =>
        new()
        {
            JobId = jobId,
            TimestampUtc = DateTime.UtcNow,
            Kind = kind,
            Message = message,
            StepIndex = stepIndex,
            Step = step,
            DurationSeconds = durationSeconds,
        };
}
