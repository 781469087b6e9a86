using System.Collections.Frozen;

namespace ActorKv.Node.Raft;

/// <summary>
/// What the Raft actor last knew, published for the gateway (response headers, Status) without
/// asking the actor. Written by one actor, read by any thread.
/// </summary>
public sealed class RaftStatus
{
    private long term;
    private long lead;
    private long committed;
    private long applied;
    private long durableApplied;

    public ulong Term => (ulong)Interlocked.Read(ref term);

    public ulong Lead => (ulong)Interlocked.Read(ref lead);

    public ulong Committed => (ulong)Interlocked.Read(ref committed);

    public ulong Applied => (ulong)Interlocked.Read(ref applied);

    public void Publish(ulong newTerm, ulong newLead, ulong newCommitted)
    {
        Interlocked.Exchange(ref term, (long)newTerm);
        Interlocked.Exchange(ref lead, (long)newLead);
        Interlocked.Exchange(ref committed, (long)newCommitted);
    }

    /// <summary>How far the MVCC store holds the log durably (a commit's meta page may wait for the next commit).</summary>
    public ulong DurableApplied => (ulong)Interlocked.Read(ref durableApplied);

    public void PublishApplied(ulong index, ulong durableIndex)
    {
        Interlocked.Exchange(ref durableApplied, (long)durableIndex);
        Interlocked.Exchange(ref applied, (long)index);
    }

    private long logSnapshotIndex;
    private long snapshotsInstalled;
    private long snapshotsSent;

    /// <summary>The index of the newest log snapshot: the log before it is compacted away.</summary>
    public ulong LogSnapshotIndex => (ulong)Interlocked.Read(ref logSnapshotIndex);

    /// <summary>Leader stores this member installed since it started.</summary>
    public long SnapshotsInstalled => Interlocked.Read(ref snapshotsInstalled);

    /// <summary>Snapshot transfers this member completed to others since it started.</summary>
    public long SnapshotsSent => Interlocked.Read(ref snapshotsSent);

    public void PublishLogSnapshot(ulong index) => Interlocked.Exchange(ref logSnapshotIndex, (long)index);

    public void CountSnapshotInstalled() => Interlocked.Increment(ref snapshotsInstalled);

    public void CountSnapshotSent() => Interlocked.Increment(ref snapshotsSent);

    private FrozenSet<ulong> removedMembers = FrozenSet<ulong>.Empty;

    /// <summary>Whether the applied membership has removed member <paramref name="id"/> (for the peer-probe responder).</summary>
    public bool IsRemoved(ulong id) => Volatile.Read(ref removedMembers).Contains(id);

    public void PublishRemoved(IEnumerable<ulong> ids) => Volatile.Write(ref removedMembers, ids.ToFrozenSet());
}
