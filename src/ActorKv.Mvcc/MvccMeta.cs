namespace ActorKv.Mvcc;

/// <summary>
/// The store's bookkeeping, written in the same storage transaction as the data it describes so
/// that a crash can never separate the two (etcd's consistent index works the same way).
/// </summary>
/// <param name="CurrentRevision">The newest main revision; 1 in an empty store, as in etcd.</param>
/// <param name="CompactedRevision">Reads below this revision fail as compacted (logical compaction).</param>
/// <param name="PhysicallyCompactedRevision">History below this revision has really been removed.</param>
/// <param name="AppliedIndex">The index of the last log entry applied to this store.</param>
/// <param name="AppliedTerm">The term of that entry.</param>
public readonly record struct MvccMeta(
    long CurrentRevision,
    long CompactedRevision,
    long PhysicallyCompactedRevision,
    ulong AppliedIndex,
    ulong AppliedTerm)
{
    public static MvccMeta Empty => new(CurrentRevision: 1, CompactedRevision: 0, PhysicallyCompactedRevision: 0, AppliedIndex: 0, AppliedTerm: 0);

    /// <summary>True while a compaction is logically done but its history is not yet removed.</summary>
    public bool CompactionPending => PhysicallyCompactedRevision < CompactedRevision;
}
