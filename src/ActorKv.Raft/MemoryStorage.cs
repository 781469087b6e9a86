namespace ActorKv.Raft;

/// <summary>The entries asked for are gone into a snapshot.</summary>
public sealed class LogCompactedException(ulong index) : Exception($"log entry {index} is compacted");

/// <summary>
/// The log as the application has persisted it, in memory (etcd's MemoryStorage): the
/// application appends each Ready's entries and hard state here after making them durable, and
/// Raft reads from it. <c>entries[0]</c> is a placeholder at the snapshot's index and term.
/// Not thread-safe: owned by the one thread that drives the core.
/// </summary>
public sealed class MemoryStorage
{
    private List<Entry> entries = [new Entry(0, 0)];

    public HardState HardState { get; private set; }

    public Snapshot Snapshot { get; private set; } = Snapshot.Empty;

    private ulong Offset => entries[0].Index;

    public ulong FirstIndex => Offset + 1;

    public ulong LastIndex => Offset + (ulong)entries.Count - 1;

    public void SetHardState(HardState hardState) => HardState = hardState;

    /// <summary>The term of entry <paramref name="index"/>; throws if compacted, null if not yet written.</summary>
    public ulong? Term(ulong index)
    {
        if (index < Offset)
        {
            throw new LogCompactedException(index);
        }

        return index - Offset >= (ulong)entries.Count ? null : entries[(int)(index - Offset)].Term;
    }

    /// <summary>Entries [lo, hi), at most <paramref name="maxBytes"/> of them (always at least one).</summary>
    public IReadOnlyList<Entry> Entries(ulong lo, ulong hi, long maxBytes)
    {
        if (lo <= Offset)
        {
            throw new LogCompactedException(lo);
        }

        if (hi > LastIndex + 1)
        {
            throw new InvalidOperationException($"entries [{lo}, {hi}) reach past the last index {LastIndex}");
        }

        return RaftLog.LimitSize(entries.GetRange((int)(lo - Offset), (int)(hi - lo)), maxBytes);
    }

    /// <summary>Appends entries, replacing any existing entries from the first new index on.</summary>
    public void Append(IReadOnlyList<Entry> newEntries)
    {
        if (newEntries.Count == 0)
        {
            return;
        }

        var first = FirstIndex;
        var last = newEntries[^1].Index;
        if (last < first)
        {
            return; // all already compacted
        }

        var toAppend = newEntries.Where(e => e.Index >= first).ToList();
        var start = toAppend[0].Index - Offset;
        if ((ulong)entries.Count > start)
        {
            entries.RemoveRange((int)start, entries.Count - (int)start);
        }
        else if ((ulong)entries.Count < start)
        {
            throw new InvalidOperationException($"missing log entries before {toAppend[0].Index} (last {LastIndex})");
        }

        entries.AddRange(toAppend);
    }

    /// <summary>Replaces the whole log by a snapshot received from the leader.</summary>
    public void ApplySnapshot(Snapshot snapshot)
    {
        if (snapshot.Metadata.Index <= Snapshot.Metadata.Index)
        {
            return; // out of date
        }

        Snapshot = snapshot;
        entries = [new Entry(snapshot.Metadata.Term, snapshot.Metadata.Index)];
    }

    /// <summary>Records a snapshot of the state machine at <paramref name="index"/> (applied), for followers that fall behind.</summary>
    public void CreateSnapshot(ulong index, ConfState confState, byte[] data)
    {
        if (index <= Snapshot.Metadata.Index)
        {
            return;
        }

        if (index > LastIndex)
        {
            throw new InvalidOperationException($"snapshot index {index} is past the last index {LastIndex}");
        }

        Snapshot = new Snapshot(new SnapshotMetadata(index, entries[(int)(index - Offset)].Term, confState), data);
    }

    /// <summary>Drops entries up to <paramref name="compactIndex"/>; it must be covered by the snapshot.</summary>
    public void Compact(ulong compactIndex)
    {
        if (compactIndex <= Offset)
        {
            return;
        }

        if (compactIndex > LastIndex)
        {
            throw new InvalidOperationException($"compact index {compactIndex} is past the last index {LastIndex}");
        }

        entries = entries.GetRange((int)(compactIndex - Offset), entries.Count - (int)(compactIndex - Offset));
    }

    /// <summary>All entries after the snapshot (for checks and tests).</summary>
    public IReadOnlyList<Entry> AllEntries => entries.Skip(1).ToList();
}
