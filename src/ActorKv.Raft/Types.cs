namespace ActorKv.Raft;

public enum EntryType { Normal = 0, ConfChange = 1 }

/// <summary>One log entry. <see cref="Data"/> is opaque to Raft (empty for the leader's no-op).</summary>
public sealed record Entry(ulong Term, ulong Index, EntryType Type, byte[] Data)
{
    public Entry(ulong term, ulong index)
        : this(term, index, EntryType.Normal, [])
    {
    }

    /// <summary>What <see cref="SizeBytes"/> adds to the data's length.</summary>
    public const int OverheadBytes = 24;

    /// <summary>An estimate of the entry's size, for the byte bounds on messages.</summary>
    public long SizeBytes => Data.Length + OverheadBytes;
}

/// <summary>What must be persisted before any message of the same Ready is sent.</summary>
public readonly record struct HardState(ulong Term, ulong Vote, ulong Commit)
{
    public static HardState Empty => default;

    public bool IsEmpty => this == default;
}

/// <summary>Who votes and who only follows.</summary>
public sealed record ConfState(IReadOnlyList<ulong> Voters, IReadOnlyList<ulong> Learners)
{
    public static ConfState Empty { get; } = new([], []);

    public bool Equivalent(ConfState other) =>
        Voters.Order().SequenceEqual(other.Voters.Order()) && Learners.Order().SequenceEqual(other.Learners.Order());
}

public sealed record SnapshotMetadata(ulong Index, ulong Term, ConfState ConfState);

/// <summary>The state machine as of <see cref="SnapshotMetadata.Index"/>: replaces every entry up to it.</summary>
public sealed record Snapshot(SnapshotMetadata Metadata, byte[] Data)
{
    public static Snapshot Empty { get; } = new(new SnapshotMetadata(0, 0, ConfState.Empty), []);

    public bool IsEmpty => Metadata.Index == 0;
}

/// <summary>UpdateNode changes nothing Raft knows (the application's member details only).</summary>
public enum ConfChangeType { AddNode = 0, RemoveNode = 1, AddLearnerNode = 2, UpdateNode = 3 }

/// <summary>
/// One membership change; AddNode on a learner promotes it. Carried in a ConfChange entry.
/// <see cref="Context"/> is the application's, opaque to Raft (etcd puts the member's details there).
/// </summary>
public sealed record ConfChange(ConfChangeType Type, ulong NodeId, byte[] Context)
{
    private const int HeaderBytes = 9;

    public ConfChange(ConfChangeType type, ulong nodeId)
        : this(type, nodeId, [])
    {
    }

    public byte[] Encode()
    {
        var bytes = new byte[HeaderBytes + Context.Length];
        bytes[0] = (byte)Type;
        BitConverter.TryWriteBytes(bytes.AsSpan(1), NodeId);
        Context.CopyTo(bytes, HeaderBytes);
        return bytes;
    }

    public static ConfChange Decode(byte[] data) =>
        data.Length >= HeaderBytes && data[0] <= (byte)ConfChangeType.UpdateNode
            ? new ConfChange((ConfChangeType)data[0], BitConverter.ToUInt64(data, 1), data[HeaderBytes..])
            : throw new ArgumentException("a conf change entry is a type byte, an 8-byte node id and a context", nameof(data));
}

public enum RaftRole { Follower, PreCandidate, Candidate, Leader }

/// <summary>Volatile state worth telling the application about (who leads, what we are).</summary>
public readonly record struct SoftState(ulong Lead, RaftRole Role);

/// <summary>
/// A linearizable read may be served once the state machine has applied <see cref="Index"/>. A
/// follower can be given the same request's state twice (in the leader's heartbeat and in its
/// response, when the other follower's acknowledgement came first): the first one serves it.
/// </summary>
public sealed record ReadState(ulong Index, byte[] RequestContext);
