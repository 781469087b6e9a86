namespace ActorKv.Raft;

/// <summary>What a <see cref="RaftCore"/> is built from. Time is counted in ticks of the caller's clock.</summary>
public sealed record RaftConfig
{
    public required ulong Id { get; init; }

    /// <summary>The persisted log and hard state the node restarts from.</summary>
    public required MemoryStorage Storage { get; init; }

    /// <summary>The source of randomized election timeouts: seeded in simulations.</summary>
    public required Random Random { get; init; }

    /// <summary>The membership of a brand new cluster; ignored once a snapshot carries one.</summary>
    public ConfState InitialConfState { get; init; } = ConfState.Empty;

    /// <summary>
    /// The membership as of <see cref="Applied"/>, as the state machine recorded it; wins over
    /// the snapshot's and the initial one, since changes up to Applied are not handed out again.
    /// </summary>
    public ConfState? AppliedConfState { get; init; }

    /// <summary>A follower with no leader for a random time in [ElectionTicks, 2*ElectionTicks) campaigns.</summary>
    public int ElectionTicks { get; init; } = 10;

    public int HeartbeatTicks { get; init; } = 1;

    /// <summary>Entries already applied by the state machine: not handed out again after a restart.</summary>
    public ulong Applied { get; init; }

    /// <summary>Bound on the entries of one append message.</summary>
    public long MaxAppendBytes { get; init; } = 1 << 20;

    /// <summary>Bound on the committed entries of one Ready.</summary>
    public long MaxCommittedBytesPerReady { get; init; } = 64 << 20;

    /// <summary>Pipelining window: appends in flight to one follower.</summary>
    public int MaxInflightAppends { get; init; } = 256;

    /// <summary>Bound on read-index requests a leader holds while it confirms its leadership; more are dropped.</summary>
    public int MaxPendingReadIndexRequests { get; init; } = 4096;

    /// <summary>A node asks for pre-votes before bumping its term, so a rejoining partitioned node does not disrupt a healthy leader.</summary>
    public bool PreVote { get; init; } = true;

    /// <summary>A leader steps down when it has not heard from a quorum within an election timeout; followers then ignore votes while they hear a leader.</summary>
    public bool CheckQuorum { get; init; } = true;

    public void Validate()
    {
        if (Id == 0)
        {
            throw new ArgumentException("node id 0 is reserved for 'none'");
        }

        if (HeartbeatTicks <= 0 || ElectionTicks <= HeartbeatTicks)
        {
            throw new ArgumentException("need 0 < HeartbeatTicks < ElectionTicks");
        }

        if (MaxInflightAppends <= 0 || MaxAppendBytes <= 0 || MaxPendingReadIndexRequests <= 0)
        {
            throw new ArgumentException("bounds must be positive");
        }
    }
}
