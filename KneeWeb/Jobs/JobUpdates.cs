using KneeWeb.Data;

namespace KneeWeb.Jobs;

/// <summary>A job's state as pushed live to pages and hub clients (and returned by the API).</summary>
public sealed record JobUpdate(
    Guid JobId,
    JobStatus Status,
    int StepIndex,
    int StepCount,
    string? Step,
    string? StepState,
    double StepFraction,
    double Percent,
    double? EtaSeconds,
    string? Message,
    JobErrorView? Error,
    DateTime TimestampUtc);

/// <summary>The part of an error people and scripts see (details stay with admins).</summary>
public sealed record JobErrorView(string Code, string Message, string Hint);

/// <summary>A live preview image of a running job.</summary>
public sealed record JobPreview(Guid JobId, string Plane, int Slice, double Fraction, string PngBase64, DateTime TimestampUtc);
