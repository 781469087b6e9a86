using ActorKv.Node.Membership;
using ActorKv.Protocol.Membership;
using ActorKv.Raft;

namespace ActorKv.Node.Raft;

public static class RaftProtocol
{
    /// <summary>The Raft clock: one per actorkv.cluster.tick-interval.</summary>
    public sealed record Tick
    {
        public static readonly Tick Instance = new();
    }

    /// <summary>
    /// A linearizable read asks for a read index; <paramref name="Completion"/> completes once
    /// this node has applied up to it (then a local read sees every write acknowledged before).
    /// </summary>
    public sealed record ReadIndex(TaskCompletionSource Completion);

    /// <summary>
    /// Hand leadership to <paramref name="Target"/> (etcd's MoveLeader); completes once this node
    /// sees the target lead. Only the leader may be asked.
    /// </summary>
    public sealed record TransferLeadership(ulong Target, TaskCompletionSource Completion);

    /// <summary>Handle the core's Ready now: queued behind every message already waiting, so one Ready covers them all.</summary>
    public sealed record ProcessReady
    {
        public static readonly ProcessReady Instance = new();
    }

    /// <summary>
    /// Propose a membership change; its proposer's waiter (<see cref="MembershipChange.RequestId"/>)
    /// answers with the membership after it, or the error that refused it.
    /// </summary>
    public sealed record ProposeMembership(MembershipChange Change);

    /// <summary>
    /// The apply side has applied the membership change at <paramref name="Index"/>:
    /// <paramref name="Accepted"/> is what Raft must apply now, null when the change was refused.
    /// </summary>
    public sealed record MembershipApplied(ulong Index, ConfChange? Accepted, ClusterMembership Membership);

    /// <summary>
    /// The apply side has replaced the store by a leader's snapshot: Raft must now take the
    /// snapshot as its log's start (<paramref name="Metadata"/>), as if the leader had sent it.
    /// </summary>
    public sealed record SnapshotInstalled(ulong Leader, ulong Term, ActorKv.Protocol.Raft.RaftSnapshot Metadata, ClusterMembership Membership);

    /// <summary>
    /// The apply side has applied the log up to <paramref name="Index"/>, and the store holds it
    /// durably up to <paramref name="DurableIndex"/> (less when the store syncs its meta page only
    /// with the next commit): the Raft WAL may drop entries only up to there.
    /// </summary>
    public sealed record Applied(ulong Index, ulong DurableIndex);
}
