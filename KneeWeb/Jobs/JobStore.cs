using KneeWeb.Data;
using Microsoft.EntityFrameworkCore;

namespace KneeWeb.Jobs;

/// <summary>
/// Database access for jobs. Writes go through one gate so SQLite never sees two writers from
/// this process (no SQLITE_BUSY under load); reads run freely alongside (WAL).
/// </summary>
public sealed class JobStore(IDbContextFactory<KneeWebDbContext> factory) : IDisposable
{
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
        try
        {
            await using KneeWebDbContext db = await factory.CreateDbContextAsync(ct);
            T result = await write(db);
            await db.SaveChangesAsync(ct);
            return result;
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
