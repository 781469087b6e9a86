using System.Net;
using Akka.Configuration;

namespace ActorKv.Node.Configuration;

/// <summary>One member of the initial cluster, as every node's configuration lists it.</summary>
public sealed record MemberSettings(ulong Id, string Name, IPEndPoint Peer, IPEndPoint Client);

/// <summary>The actorkv.cluster section: who this node is in Raft, who the others are, Raft's timing and bounds.</summary>
public sealed record ClusterSettings(
    ulong NodeId,
    IReadOnlyList<MemberSettings> InitialMembers,
    bool JoinExisting,
    TimeSpan TickInterval,
    int ElectionTicks,
    int HeartbeatTicks,
    long MaxAppendBytes,
    int MaxInflightAppends,
    bool PreVote,
    bool CheckQuorum,
    long SnapshotCount,
    long SnapshotCatchUpEntries,
    int SnapshotChunkBytes,
    int SnapshotChunkWindow,
    TimeSpan SnapshotTimeout,
    TimeSpan PeerProbeInterval,
    TimeSpan ReadIndexRetryInterval)
{
    /// <summary>Raft ticks without an answer after which a read-index request is asked again (at least one).</summary>
    public int ReadIndexRetryTicks => (int)Math.Max(1, Math.Ceiling(ReadIndexRetryInterval / TickInterval));

    /// <summary>True when the node runs Raft (a node id is set), even as a cluster of one.</summary>
    public bool Replicated => NodeId != 0;

    /// <summary>
    /// This node's entry in the initial members (a replicated node has one). A method, not a
    /// property: a record prints its properties, and Akka prints an actor's settings when the
    /// actor fails to start, which must not throw for a single node (no entry).
    /// </summary>
    public MemberSettings Self() => InitialMembers.Single(m => m.Id == NodeId);

    public static ClusterSettings FromConfig(Config cluster)
    {
        var members = cluster.GetValue("initial-members")?.GetArray()
            .Select(value => value.GetObject())
            .Select(member => new MemberSettings(
                ulong.Parse(member.GetKey("id").GetString()),
                member.GetKey("name").GetString(),
                ActorKvSettings.ParseEndpoint(member.GetKey("peer").GetString(), "actorkv.cluster.initial-members.peer"),
                ActorKvSettings.ParseEndpoint(member.GetKey("client").GetString(), "actorkv.cluster.initial-members.client")))
            .ToList() ?? [];
        var settings = new ClusterSettings(
            NodeId: (ulong)cluster.GetLong("node-id"),
            InitialMembers: members,
            JoinExisting: cluster.GetString("initial-cluster-state") switch
            {
                "new" => false,
                "existing" => true,
                var other => throw new ConfigurationException($"actorkv.cluster.initial-cluster-state must be new or existing, not '{other}'"),
            },
            TickInterval: cluster.GetTimeSpan("tick-interval"),
            ElectionTicks: cluster.GetInt("election-ticks"),
            HeartbeatTicks: cluster.GetInt("heartbeat-ticks"),
            MaxAppendBytes: cluster.GetByteSize("max-append-bytes") ?? throw new ConfigurationException("actorkv.cluster.max-append-bytes must be a size"),
            MaxInflightAppends: cluster.GetInt("max-inflight-appends"),
            PreVote: cluster.GetBoolean("pre-vote"),
            CheckQuorum: cluster.GetBoolean("check-quorum"),
            SnapshotCount: cluster.GetLong("snapshot-count"),
            SnapshotCatchUpEntries: cluster.GetLong("snapshot-catchup-entries"),
            SnapshotChunkBytes: checked((int)(cluster.GetByteSize("snapshot-chunk-bytes") ?? throw new ConfigurationException("actorkv.cluster.snapshot-chunk-bytes must be a size"))),
            SnapshotChunkWindow: cluster.GetInt("snapshot-chunk-window"),
            SnapshotTimeout: cluster.GetTimeSpan("snapshot-timeout"),
            PeerProbeInterval: cluster.GetTimeSpan("peer-probe-interval"),
            ReadIndexRetryInterval: cluster.GetTimeSpan("read-index-retry-interval"));
        settings.Validate();
        return settings;
    }

    private void Validate()
    {
        if (!Replicated)
        {
            return;
        }

        if (InitialMembers.All(m => m.Id != NodeId))
        {
            throw new ConfigurationException($"actorkv.cluster.node-id {NodeId} is not among actorkv.cluster.initial-members");
        }

        if (InitialMembers.Any(m => m.Id == 0) || InitialMembers.Select(m => m.Id).Distinct().Count() != InitialMembers.Count)
        {
            throw new ConfigurationException("actorkv.cluster.initial-members: ids must be distinct and not 0");
        }

        if (MaxAppendBytes <= 0 || MaxAppendBytes > 1 << 20)
        {
            throw new ConfigurationException("actorkv.cluster.max-append-bytes must be between 1 byte and 1 MiB (an append must fit in one Akka.Remote frame)");
        }

        if (SnapshotCount <= 0 || SnapshotCatchUpEntries < 0 || SnapshotChunkWindow <= 0 || SnapshotTimeout <= TimeSpan.Zero)
        {
            throw new ConfigurationException("actorkv.cluster: snapshot-count, snapshot-chunk-window and snapshot-timeout must be positive, snapshot-catchup-entries not negative");
        }

        if (SnapshotChunkBytes <= 0 || SnapshotChunkBytes > 2 << 20)
        {
            throw new ConfigurationException("actorkv.cluster.snapshot-chunk-bytes must be between 1 byte and 2 MiB (a chunk must fit in one Akka.Remote frame)");
        }

        if (PeerProbeInterval <= TimeSpan.Zero)
        {
            throw new ConfigurationException("actorkv.cluster.peer-probe-interval must be positive");
        }

        if (ReadIndexRetryInterval <= TimeSpan.Zero)
        {
            throw new ConfigurationException("actorkv.cluster.read-index-retry-interval must be positive");
        }

        if (HeartbeatTicks <= 0 || ElectionTicks <= HeartbeatTicks || TickInterval <= TimeSpan.Zero)
        {
            throw new ConfigurationException("actorkv.cluster: need tick-interval > 0 and 0 < heartbeat-ticks < election-ticks");
        }
    }
}
