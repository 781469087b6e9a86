namespace ActorKv.Raft;

public enum MessageType
{
    /// <summary>Local: start an election (what an election timeout does).</summary>
    Hup,
    /// <summary>Local: the leader's heartbeat timer.</summary>
    Beat,
    Propose,
    Append,
    AppendResponse,
    Vote,
    VoteResponse,
    PreVote,
    PreVoteResponse,
    Snapshot,
    Heartbeat,
    HeartbeatResponse,
    /// <summary>Local: a peer could not be reached; the leader stops pipelining to it.</summary>
    Unreachable,
    /// <summary>Local: how sending a snapshot to a peer ended (Reject: it failed).</summary>
    SnapshotStatus,
    /// <summary>Local: the leader's quorum check timer.</summary>
    CheckQuorum,
    TransferLeader,
    TimeoutNow,
    ReadIndex,
    ReadIndexResponse,
    /// <summary>Leader to follower: the leader's log is durable through Index (RaftCore.DurableCommit).</summary>
    LeaderDurable,
}

/// <summary>
/// A Raft message, as etcd's raftpb.Message: one shape for every type, fields used as the type
/// needs. Term 0 marks a local message (not from the network).
/// </summary>
public sealed record Message
{
    public MessageType Type { get; init; }
    public ulong To { get; init; }
    public ulong From { get; init; }
    public ulong Term { get; init; }
    /// <summary>Append: term of the entry before Entries. Vote: candidate's last log term. Reject: term at RejectHint.</summary>
    public ulong LogTerm { get; init; }
    /// <summary>Append: index of the entry before Entries. Vote: candidate's last index. AppendResponse: the index acknowledged or rejected. Heartbeat: the read index of the recipient's own request in Context (0: none); its response: that index, if taken.</summary>
    public ulong Index { get; init; }
    public IReadOnlyList<Entry> Entries { get; init; } = [];
    public ulong Commit { get; init; }
    public Snapshot? Snapshot { get; init; }
    public bool Reject { get; init; }
    public ulong RejectHint { get; init; }
    /// <summary>Heartbeats: the read-index request they confirm. Votes: the campaign-transfer marker.</summary>
    public byte[]? Context { get; init; }

    public override string ToString() =>
        $"{Type} {From}->{To} t{Term} i{Index} lt{LogTerm} c{Commit} n{Entries.Count}{(Reject ? $" reject(hint {RejectHint})" : "")}{(Snapshot is null ? "" : $" snap@{Snapshot.Metadata.Index}")}";
}
