using ActorKv.Node.Configuration;
using ActorKv.Node.Diagnostics;
using ActorKv.Node.Leases;
using ActorKv.Node.Log;
using ActorKv.Node.Membership;
using ActorKv.Protocol;
using ActorKv.Protocol.Log;
using ActorKv.Protocol.Membership;
using ActorKv.Protocol.Raft;
using ActorKv.Raft;
using ActorKv.Storage.Lmdb;
using ActorKv.Storage.Lmdb.Wal;
using Akka.Actor;
using Akka.Event;
using Google.Protobuf;

namespace ActorKv.Node.Raft;

/// <summary>
/// Owns this node's <see cref="RaftCore"/> and drives it: ticks from the scheduler, messages from
/// peers, proposals from the gateway. For every Ready it appends hard state and entries as ONE
/// record to the Raft WAL (<see cref="RaftWal"/>: one write, one fdatasync) and only then sends the
/// Ready's messages and hands its committed entries to the apply actor, as Raft requires (a
/// leader's appends and committed entries its WAL already holds go before the write).
/// It runs on a thread of its own and writes the WAL itself, as etcd's raft loop does: messages
/// that arrive during a write wait in the mailbox and go into the next Ready. Its start replays
/// the WAL into the in-memory log, as etcd replays its WAL.
/// </summary>
public sealed class RaftActor : ReceiveActor, IWithTimers
{
    private readonly ClusterSettings cluster;

    /// <summary>Stamped on everything sent to peers; anything stamped otherwise comes from another cluster.</summary>
    private readonly ulong clusterId;
    private DateTime lastForeignWarning = DateTime.MinValue;
    private DateTime lastRemovedWarning = DateTime.MinValue;

    /// <summary>Set once this member has applied its own removal: it stops after <see cref="RemovedStopTicks"/>.</summary>
    private bool stoppingAsRemoved;
    /// <summary>Set once the node was told to stop for its removal (either way), so that it is told once.</summary>
    private bool stoppedAsRemoved;

    /// <summary>etcd's delay (10 ticks) between applying its own removal and stopping, so that what it still has to send goes out.</summary>
    private const int RemovedStopTicks = 10;
    private readonly IActorRef apply;
    private readonly IActorRef leases;
    private readonly LmdbMvccStore store;
    private readonly ProposalWaiters waiters;
    private readonly RaftStatus status;
    private readonly ulong mvccAppliedIndex;
    private readonly MemoryStorage storage = new();
    private readonly SegmentLogOptions walOptions;
    private readonly Action<ulong, TimeSpan> observePeerRoundTrip;
    private RaftWal? wal;
    private readonly Dictionary<ulong, IActorRef> peers = [];
    private readonly Dictionary<ulong, string> peerPaths = [];
    private readonly Dictionary<ulong, IActorRef> snapshotSenders = [];
    private ulong snapshotTransfers;
    private readonly PeerSilence silence;
    private int peerGeneration;

    /// <summary>The membership as of the applied index: who the peers are and where.</summary>
    private ClusterMembership membership;

    /// <summary>Ticks until this node, if it joined without a name, publishes it again.</summary>
    private int publishAttributesCountdown;
    private readonly ILoggingAdapter log = Context.GetLogger();

    private readonly LinearizableReads reads;

    /// <summary>A member heard from within this long counts as up for a membership change (etcd's HealthInterval).</summary>
    private static readonly TimeSpan HealthInterval = TimeSpan.FromSeconds(5);

    /// <summary>Raft ticks since start: what times the read-index retries.</summary>
    private long ticks;

    private readonly List<RaftProtocol.TransferLeadership> leadershipTransfers = [];

    /// <summary>
    /// Requests that found no leader wait for one, as etcd's do, instead of failing at once during
    /// an election; the node's request timeout bounds how long their clients wait.
    /// </summary>
    private const int MaxRequestsAwaitingLeader = 10_000;
    private readonly Queue<LogProtocol.Propose> proposalsAwaitingLeader = new();
    private RaftCore? core;
    private ulong appliedIndex;

    /// <summary>How far the MVCC store holds the log durably: the WAL keeps every entry after it.</summary>
    private ulong durableAppliedIndex;
    private bool readyScheduled;

    /// <summary>The last committed index handed to the apply actor.</summary>
    private ulong handedToApply;

    /// <summary>
    /// Reads the applied index and membership from the store itself, so that a restart (after a
    /// failure, or a chaos kill) starts from what is applied now, not from what was at startup.
    /// </summary>
    public RaftActor(ClusterSettings cluster, SegmentLogOptions walOptions, ulong clusterId, IActorRef apply, IActorRef leases, LmdbMvccStore store, ProposalWaiters waiters, RaftStatus status, Action<ulong, TimeSpan> observePeerRoundTrip)
    {
        this.walOptions = walOptions;
        this.observePeerRoundTrip = observePeerRoundTrip;
        this.cluster = cluster;
        this.clusterId = clusterId;
        this.leases = leases;
        this.store = store;
        ulong mvccAppliedIndex;
        using (var view = store.BeginRead())
        {
            mvccAppliedIndex = view.Meta.AppliedIndex;
            membership = ClusterMembership.Read(view) ?? ClusterMembership.Empty;
        }

        this.apply = apply;
        this.waiters = waiters;
        this.status = status;
        this.mvccAppliedIndex = mvccAppliedIndex;
        appliedIndex = mvccAppliedIndex;
        durableAppliedIndex = mvccAppliedIndex;
        silence = new PeerSilence(3 * cluster.ElectionTicks);
        reads = new LinearizableReads(cluster.NodeId);

        Receive<RaftProtocol.Tick>(_ =>
        {
            ticks++;
            Core.Tick();
            RetryUnansweredReadIndexes();
            LogSilentPeers();
            MaybePublishAttributes();
            ScheduleReady();
        });
        Receive<RaftMessage>(message => IsFromMember(message.ClusterId, message.From), message =>
        {
            WritePathEvents.Log.RaftMessageReceived(message);
            silence.Heard(message.From);
            Step(message.FromWire());
            ScheduleReady();
        });
        Receive<RaftMessageBatch>(batch =>
        {
            foreach (var message in batch.Messages)
            {
                if (IsFromMember(message.ClusterId, message.From))
                {
                    WritePathEvents.Log.RaftMessageReceived(message);
                    silence.Heard(message.From);
                    Step(message.FromWire());
                }
            }

            ScheduleReady();
        });
        Receive<RaftProtocol.ProcessReady>(_ =>
        {
            readyScheduled = false;
            AskBatchedReads();
            ProcessReady();
        });
        Receive<LogProtocol.Propose>(propose =>
        {
            Propose(propose);
            ScheduleReady();
        });
        Receive<RaftProtocol.ReadIndex>(read =>
        {
            reads.Add(read.Completion);
            ScheduleReady();
        });
        Receive<RaftProtocol.TransferLeadership>(transfer =>
        {
            if (Core.Role != RaftRole.Leader)
            {
                transfer.Completion.TrySetException(EtcdErrors.NotLeader);
                return;
            }

            if (!Core.ConfState.Voters.Contains(transfer.Target))
            {
                transfer.Completion.TrySetException(EtcdErrors.BadLeaderTransferee);
                return;
            }

            if (transfer.Target == cluster.NodeId)
            {
                transfer.Completion.TrySetResult();
                return;
            }

            leadershipTransfers.Add(transfer);
            Core.TransferLeader(transfer.Target);
            ScheduleReady();
        });
        Receive<RaftProtocol.ProposeMembership>(propose => ProposeMembership(propose.Change, forwardedBy: null));
        Receive<MembershipProposal>(forwarded => IsFromMember(forwarded.ClusterId, forwarded.Change.Proposer), forwarded => ProposeMembership(forwarded.Change, Sender));
        Receive<MembershipRefused>(refused =>
            waiters.Fail(refused.RequestId, EtcdErrors.Error((Grpc.Core.StatusCode)refused.Code, refused.Message)));
        Receive<RaftProtocol.MembershipApplied>(applied =>
        {
            membership = applied.Membership;
            if (applied.Accepted is { } change)
            {
                Core.ApplyConfChange(change);
                log.Info("Raft node {0} applied membership change {1} of {2:x} at index {3}: voters [{4}], learners [{5}]", cluster.NodeId, change.Type, change.NodeId, applied.Index, string.Join(",", Core.ConfState.Voters), string.Join(",", Core.ConfState.Learners));
            }

            FollowMembership();
            ScheduleReady();
        });
        Receive<StopAsRemoved>(_ => StopAsRemovedMember($"Raft node {cluster.NodeId:x} applied its own removal"));
        // From a peer sender: the peer's membership has removed this member, which missed its
        // removal (it was down, or cut off, when it was applied).
        Receive<MemberRemoved>(
            removed => removed.Member == cluster.NodeId,
            removed => StopAsRemovedMember($"Raft node {cluster.NodeId:x} was told by member {removed.By:x}"));
        Receive<LogProtocol.ApplyRestarted>(restarted => RedeliverToApply(restarted.AppliedIndex));
        Receive<LeaseProtocol.LeadershipQuery>(_ => Sender.Tell(Leadership(Core.SoftState)));
        Receive<RaftProtocol.Applied>(applied =>
        {
            appliedIndex = Math.Max(appliedIndex, applied.Index);
            durableAppliedIndex = Math.Max(durableAppliedIndex, applied.DurableIndex);
            status.PublishApplied(appliedIndex, durableAppliedIndex);
            reads.Release(appliedIndex);
            MaybeCompactLog();
            RetryMembershipChanges();
            ScheduleReady(); // reads whose clients gave up may have let the next request go
        });
        Receive<SnapshotChunk>(chunk => IsFromMember(chunk.ClusterId, chunk.From), chunk =>
        {
            // Only the leader of a term at least ours may replace the store.
            if (chunk.To == cluster.NodeId && chunk.Term >= Core.Term && Core.Role != RaftRole.Leader)
            {
                apply.Tell(new Apply.ApplyProtocol.InstallSnapshotChunk(chunk, Sender));
            }
        });
        Receive<RaftProtocol.SnapshotInstalled>(installed =>
        {
            membership = installed.Membership;
            status.CountSnapshotInstalled();
            FollowMembership();
            appliedIndex = Math.Max(appliedIndex, installed.Metadata.Index);
            durableAppliedIndex = Math.Max(durableAppliedIndex, installed.Metadata.Index);
            status.PublishApplied(appliedIndex, durableAppliedIndex);
            // Raft now learns of it as etcd's raft does of a snapshot message from the leader.
            Step(new ActorKv.Raft.Message
            {
                Type = MessageType.Snapshot,
                From = installed.Leader,
                To = cluster.NodeId,
                Term = installed.Term,
                Snapshot = installed.Metadata.FromWire(),
            });
            reads.Release(appliedIndex);
            ScheduleReady();
        });
        Receive<SnapshotSender.Finished>(finished =>
        {
            snapshotSenders.Remove(finished.Peer);
            if (finished.Succeeded)
            {
                status.CountSnapshotSent();
            }

            if (Core.Role == RaftRole.Leader)
            {
                Core.ReportSnapshot(finished.Peer, finished.Succeeded);
                ScheduleReady();
            }
        });
    }

    public ITimerScheduler Timers { get; set; } = null!;

    protected override void PreStart()
    {
        try
        {
            wal = RaftWal.Open(walOptions);
            var (snapshot, readys) = wal.Load();
            if (snapshot is not null)
            {
                RestoreLog(snapshot);
            }

            foreach (var ready in readys)
            {
                Store(ready);
            }
        }
        catch (Exception error)
        {
            FailOnWal(error, "reading it back failed");
            return;
        }

        Start();
    }

    protected override void PostStop()
    {
        wal?.Dispose();
        base.PostStop();
    }

    /// <summary>Appends to the WAL; false (and the node shutting down) if that failed.</summary>
    private bool TryPersist(RaftReadyPersisted persisted)
    {
        try
        {
            wal!.Append(persisted);
            return true;
        }
        catch (Exception error)
        {
            FailOnWal(error, "writing a Ready failed");
            return false;
        }
    }

    // A member whose WAL cannot be written or read must not go on: its log in memory may be ahead
    // of the disk. As etcd exits when it cannot save to its WAL, the node shuts down (the server
    // process exits non-zero, to be restarted from the WAL) and this actor stops at once.
    private void FailOnWal(Exception cause, string what)
    {
        StorageFailed.ShutDownNode(Context, log, cause, $"Raft node {cluster.NodeId}: the Raft WAL failed: {what}");
        Context.Stop(Self);
    }

    private RaftCore Core => core ?? throw new InvalidOperationException("the Raft core is not started before recovery completes");

    /// <summary>
    /// Peer and snapshot senders are restarted whatever failed them, also a Kill (Akka's default
    /// stops a killed child, and this actor would go on telling a dead sender: found by the chaos
    /// service's actor kills). A restarted snapshot sender's transfer times out and is retried.
    /// </summary>
    protected override SupervisorStrategy SupervisorStrategy() =>
        new OneForOneStrategy(maxNrOfRetries: -1, withinTimeMilliseconds: -1, localOnlyDecider: _ => Directive.Restart);

    private static List<LogProtocol.LogEntry> ToLogEntries(IReadOnlyList<Entry> committed)
    {
        var entries = new List<LogProtocol.LogEntry>(committed.Count);
        foreach (var entry in committed)
        {
            if (entry.Type == EntryType.ConfChange)
            {
                // Raft applies it once the apply side has validated and recorded it.
                var change = MembershipChange.Parser.ParseFrom(ConfChange.Decode(entry.Data).Context);
                entries.Add(new LogProtocol.LogEntry(entry.Index, entry.Term, null, change));
            }
            else
            {
                entries.Add(new LogProtocol.LogEntry(entry.Index, entry.Term, entry.Data.Length > 0 ? WriteRequest.Parser.ParseFrom(entry.Data) : null));
            }
        }

        return entries;
    }

    /// <summary>
    /// The apply actor restarted: entries it had not applied are still in the log (compaction
    /// never passes the applied index), so they go again; it skips what it has applied.
    /// </summary>
    private void RedeliverToApply(ulong appliedIndex)
    {
        var from = Math.Max(appliedIndex + 1, storage.FirstIndex);
        var entries = from <= handedToApply
            ? ToLogEntries(storage.Entries(from, handedToApply + 1, long.MaxValue))
            : [];
        log.Info("Apply restarted at index {0}: handing it entries {1} to {2} again", appliedIndex, from, handedToApply);
        Sender.Tell(new LogProtocol.Redelivered(entries));
    }

    /// <summary>The actor blocks on WAL writes: <paramref name="dispatcher"/> must give it a thread of its own.</summary>
    public static Props Props(ClusterSettings cluster, SegmentLogOptions walOptions, ulong clusterId, IActorRef apply, IActorRef leases, LmdbMvccStore store, ProposalWaiters waiters, RaftStatus status, Action<ulong, TimeSpan> observePeerRoundTrip, string dispatcher) =>
        Akka.Actor.Props.Create(() => new RaftActor(cluster, walOptions, clusterId, apply, leases, store, waiters, status, observePeerRoundTrip)).WithDispatcher(dispatcher);

    /// <summary>
    /// A member's RaftActor, addressed with this system's own transport protocol (akka.tcp, or
    /// akka.trttl.tcp when a test puts Akka.Remote's throttling adapter on the transport).
    /// </summary>
    public static string PathOn(System.Net.IPEndPoint peer, string protocol) =>
        $"{protocol}://actorkv@{peer.Address}:{peer.Port}/user/node/raft";

    private string PathOf(System.Net.IPEndPoint peer) =>
        PathOn(peer, ((ExtendedActorSystem)Context.System).Provider.DefaultAddress.Protocol);

    /// <summary>What the lease sweeper needs of leadership: whether this member leads, and where the leader's sweeper is.</summary>
    private LeaseProtocol.LeadershipChanged Leadership(SoftState soft) =>
        new(soft.Role == RaftRole.Leader, soft.Lead == cluster.NodeId ? null : peerPaths.TryGetValue(soft.Lead, out var leaderPath) ? LeaseSweeper.PathBeside(leaderPath) : null);

    private void RestoreLog(RaftLogSnapshot snapshot)
    {
        if (snapshot.Snapshot is { } raftSnapshot)
        {
            storage.ApplySnapshot(raftSnapshot.FromWire());
        }

        storage.Append(snapshot.Entries.Select(RaftWire.FromWire).ToList());
        storage.SetHardState(snapshot.HardState.FromWire());
    }

    /// <summary>Mirrors a persisted Ready in the in-memory log; replayed the same way on recovery.</summary>
    private void Store(RaftReadyPersisted persisted)
    {
        if (persisted.Snapshot is { } snapshot)
        {
            storage.ApplySnapshot(snapshot.FromWire());
        }

        // Entries that conflict replace the log from their index on, as etcd's WAL replay does.
        storage.Append(persisted.Entries.Select(RaftWire.FromWire).ToList());
        if (persisted.HardState is { } hardState)
        {
            storage.SetHardState(hardState.FromWire());
        }
    }

    private void Start()
    {
        var fresh = storage.LastIndex == 0 && storage.Snapshot.IsEmpty && storage.HardState.IsEmpty && mvccAppliedIndex == 0;
        if (fresh && !cluster.JoinExisting)
        {
            // A new cluster's log begins, on every member alike, with one committed entry per
            // initial member adding it (as etcd bootstraps): the membership is then the log's
            // like any other state, and a member added later learns it by replaying the log.
            var bootstrap = new RaftReadyPersisted { HardState = new HardState(1, 0, (ulong)cluster.InitialMembers.Count).ToWire() };
            var index = 0UL;
            foreach (var member in cluster.InitialMembers.OrderBy(m => m.Id))
            {
                var change = new MembershipChange { Kind = MembershipChange.Types.Kind.Add, Member = ClusterMembership.FromSettings(member) };
                bootstrap.Entries.Add(new Entry(1, ++index, EntryType.ConfChange, ClusterMembership.ToConfChange(change).Encode()).ToWire());
            }

            if (!TryPersist(bootstrap))
            {
                return;
            }

            Store(bootstrap);
        }

        StartCore();
    }

    private void StartCore()
    {
        var hardState = storage.HardState;
        core = new RaftCore(new RaftConfig
        {
            Id = cluster.NodeId,
            Storage = storage,
            Random = new Random(),
            // Changes up to the applied index are in the applied membership; later ones are
            // handed to apply again and reach Raft from there.
            AppliedConfState = membership.ConfState,
            ElectionTicks = cluster.ElectionTicks,
            HeartbeatTicks = cluster.HeartbeatTicks,
            MaxAppendBytes = cluster.MaxAppendBytes,
            MaxInflightAppends = cluster.MaxInflightAppends,
            PreVote = cluster.PreVote,
            CheckQuorum = cluster.CheckQuorum,
            // The MVCC store holds everything applied so far (its applied index commits with its data).
            Applied = Math.Min(mvccAppliedIndex, hardState.Commit),
        });
        FollowMembership();
        status.PublishLogSnapshot(storage.Snapshot.Metadata.Index);
        log.Info("Raft node {0} starts at term {1}, commit {2}, last index {3}, applied {4}", cluster.NodeId, Core.Term, Core.Committed, Core.LastIndex, Core.Applied);
        Timers.StartPeriodicTimer(RaftProtocol.Tick.Instance, RaftProtocol.Tick.Instance, cluster.TickInterval);
        ScheduleReady();
    }

    /// <summary>
    /// Follows a new applied membership: the peers, the removed members whose probes the
    /// responder turns away, and this member's own removal, after which it stops as etcd's does.
    /// </summary>
    private void FollowMembership()
    {
        UpdatePeers();
        status.PublishRemoved(membership.Removed);
        if (membership.Removed.Contains(cluster.NodeId) && !stoppingAsRemoved)
        {
            stoppingAsRemoved = true;
            log.Warning("Raft node {0:x} has applied its own removal: it stops in {1} ticks", cluster.NodeId, RemovedStopTicks);
            Timers.StartSingleTimer(StopAsRemoved.Instance, StopAsRemoved.Instance, cluster.TickInterval * RemovedStopTicks);
        }
    }

    private void StopAsRemovedMember(string how)
    {
        if (!stoppedAsRemoved)
        {
            stoppedAsRemoved = true;
            RemovedFromCluster.StopNode(Context, log, how);
        }
    }

    private sealed class StopAsRemoved
    {
        public static readonly StopAsRemoved Instance = new();
    }

    /// <summary>
    /// One sender per other member: where the applied membership says, else where the
    /// configuration's initial members say (a joining node knows the cluster only from there).
    /// Senders of removed members stop.
    /// </summary>
    private void UpdatePeers()
    {
        var addresses = cluster.InitialMembers.Where(m => !membership.Removed.Contains(m.Id)).ToDictionary(m => m.Id, m => m.Peer);
        foreach (var member in membership.Members)
        {
            if (ClusterMembership.PeerEndpoint(member) is { } endpoint)
            {
                addresses[member.Id] = endpoint;
            }
        }

        addresses.Remove(cluster.NodeId);
        foreach (var (id, sender) in peers.Where(p => !addresses.ContainsKey(p.Key)).ToList())
        {
            Context.Stop(sender);
            peers.Remove(id);
        }

        foreach (var (id, endpoint) in addresses)
        {
            var path = PathOf(endpoint);
            if (peers.TryGetValue(id, out var existing) && peerPaths[id] == path)
            {
                continue;
            }

            if (existing is not null)
            {
                Context.Stop(existing);
            }

            peers[id] = Context.ActorOf(PeerSender.Props(path, id, cluster.NodeId, clusterId, cluster.PeerProbeInterval, observePeerRoundTrip), $"peer-{id:x}-{++peerGeneration}");
            peerPaths[id] = path;
        }
    }

    /// <summary>
    /// Validates a membership change where it can be validated (the leader knows who is in
    /// sync) and proposes it; a follower forwards it to the leader. Refusals go to the waiter,
    /// directly or as a <see cref="MembershipRefused"/> to the member that forwarded it.
    /// </summary>
    private void ProposeMembership(MembershipChange change, IActorRef? forwardedBy, DateTime? retryDeadline = null)
    {
        void Refuse(Grpc.Core.RpcException error)
        {
            if (forwardedBy is null)
            {
                waiters.Fail(change.RequestId, error);
            }
            else
            {
                forwardedBy.Tell(new MembershipRefused { RequestId = change.RequestId, Code = (int)error.StatusCode, Message = error.Status.Detail });
            }
        }

        if (Core.Role != RaftRole.Leader)
        {
            if (forwardedBy is not null || Core.Lead == RaftCore.None || !peerPaths.TryGetValue(Core.Lead, out var leaderPath))
            {
                Refuse(Core.Lead == RaftCore.None ? EtcdErrors.NoLeader : EtcdErrors.NotLeader);
                return;
            }

            Context.ActorSelection(leaderPath).Tell(new MembershipProposal { Change = change, ClusterId = clusterId }, Self);
            return;
        }

        // Most often the previous change (or, for a new leader, its log) is not applied yet: a
        // moment later it is. Try again after the next Ready or apply, for a while.
        void TryLater(string reason)
        {
            var deadline = retryDeadline ?? DateTime.UtcNow + MembershipRetryWindow;
            if (DateTime.UtcNow < deadline)
            {
                membershipRetries.Add((change, forwardedBy, deadline));
            }
            else
            {
                Refuse(EtcdErrors.Error(Grpc.Core.StatusCode.FailedPrecondition, "actorkv: membership change refused, retry: " + reason));
            }
        }

        // The checks below read the membership applied here; one that misses a change still in
        // the log would pass a change that the change before it forbids.
        if (Core.PendingConfIndex > appliedIndex)
        {
            TryLater("a previous membership change is not applied yet");
            return;
        }

        var refused = membership.Validate(change) ?? membership.CheckQuorumAfter(change)
            ?? membership.CheckActiveQuorumAfter(change, cluster.NodeId, peer => silence.HeardWithin(peer, (long)Math.Ceiling(HealthInterval / cluster.TickInterval)))
            ?? CheckLearnerInSync(change);
        if (refused is not null)
        {
            Refuse(refused);
            return;
        }

        try
        {
            Core.ProposeConfChange(ClusterMembership.ToConfChange(change));
            ScheduleReady();
        }
        catch (ProposalDroppedException dropped)
        {
            TryLater(dropped.Message);
        }
    }

    /// <summary>How long a membership change the core refused for now is tried again.</summary>
    private static readonly TimeSpan MembershipRetryWindow = TimeSpan.FromSeconds(5);

    private readonly List<(MembershipChange Change, IActorRef? ForwardedBy, DateTime Deadline)> membershipRetries = [];

    private void RetryMembershipChanges()
    {
        if (membershipRetries.Count == 0)
        {
            return;
        }

        var retries = membershipRetries.ToList();
        membershipRetries.Clear();
        foreach (var (change, forwardedBy, deadline) in retries)
        {
            ProposeMembership(change, forwardedBy, deadline);
        }
    }

    /// <summary>
    /// Whether a message comes from a member of this cluster. One of another cluster (a node
    /// configured with another cluster token, or pointed at the wrong ports) is ignored, as etcd's
    /// peers refuse a mismatched cluster id, and so is one this member has applied the removal of
    /// (etcd rejects "message from removed member"): their messages must not reach Raft. Warns at
    /// most every 10 s of each.
    /// </summary>
    private bool IsFromMember(ulong senderClusterId, ulong sender)
    {
        if (senderClusterId != clusterId)
        {
            if (DateTime.UtcNow - lastForeignWarning > TimeSpan.FromSeconds(10))
            {
                lastForeignWarning = DateTime.UtcNow;
                log.Warning("Ignoring member {0:x} of another cluster: cluster ID mismatch (its {1:x}, ours {2:x})", sender, senderClusterId, clusterId);
            }

            return false;
        }

        if (membership.Removed.Contains(sender))
        {
            if (DateTime.UtcNow - lastRemovedWarning > TimeSpan.FromSeconds(10))
            {
                lastRemovedWarning = DateTime.UtcNow;
                log.Warning("Rejected a message from removed member {0:x}", sender);
            }

            return false;
        }

        return true;
    }

    /// <summary>
    /// Raft wants a peer to receive a snapshot: what it gets is this member's MVCC store as of
    /// now (at least as new as the log's snapshot), streamed by a <see cref="SnapshotSender"/>.
    /// </summary>
    private void SendSnapshot(ulong peer)
    {
        if (snapshotSenders.ContainsKey(peer) || !peerPaths.TryGetValue(peer, out var path))
        {
            return;
        }

        var transferId = ((ulong)cluster.NodeId << 32) ^ (ulong)Environment.TickCount64 ^ ++snapshotTransfers;
        snapshotSenders[peer] = Context.ActorOf(
            SnapshotSender.Props(store, path, clusterId, transferId, cluster.NodeId, peer, Core.Term, cluster.SnapshotChunkBytes, cluster.SnapshotChunkWindow, cluster.SnapshotTimeout, NodeGuardian.StorageDispatcher),
            $"snapshot-to-{peer:x}-{snapshotTransfers}");
    }

    /// <summary>
    /// Log compaction: once snapshot-count entries are applied past the last snapshot, the log up
    /// to the applied index (less the catch-up entries kept for slightly slow followers) goes, and
    /// the WAL is rewritten as one snapshot record of what remains.
    /// </summary>
    private void MaybeCompactLog()
    {
        var snapshotIndex = storage.Snapshot.Metadata.Index;
        // Up to what the store holds durably: after a power loss the store may be back there,
        // and replays the rest from the WAL.
        var index = Math.Min(durableAppliedIndex, storage.LastIndex);
        if (index < snapshotIndex + (ulong)cluster.SnapshotCount)
        {
            return;
        }

        storage.CreateSnapshot(index, membership.ConfState, []);
        var compactTo = index > (ulong)cluster.SnapshotCatchUpEntries ? index - (ulong)cluster.SnapshotCatchUpEntries : 0;
        if (compactTo >= storage.FirstIndex)
        {
            storage.Compact(compactTo);
        }

        var walSnapshot = new RaftLogSnapshot { HardState = storage.HardState.ToWire(), Snapshot = storage.Snapshot.ToWire() };
        // A restart begins at the snapshot, as etcd's does: only entries after it are kept.
        if (storage.LastIndex > index)
        {
            // Read out only these: the storage copies each entry it hands out.
            walSnapshot.Entries.AddRange(storage.Entries(index + 1, storage.LastIndex + 1, long.MaxValue).Select(RaftWire.ToWire));
        }
        try
        {
            wal!.SaveSnapshot(walSnapshot);
        }
        catch (Exception error)
        {
            FailOnWal(error, "writing a snapshot failed");
            return;
        }

        log.Info("Raft log compacted: WAL snapshot at index {0}; the log keeps entries from {1}", index, storage.FirstIndex);
        status.PublishLogSnapshot(index);
    }

    /// <summary>etcd promotes a learner only once its log is within 90% of the leader's.</summary>
    private Grpc.Core.RpcException? CheckLearnerInSync(MembershipChange change)
    {
        if (change.Kind != MembershipChange.Types.Kind.Promote)
        {
            return null;
        }

        var progress = Core.Progress;
        return progress.TryGetValue(change.Member.Id, out var learner) && progress.TryGetValue(cluster.NodeId, out var leader)
            && learner.Match < leader.Match * 0.9
            ? EtcdErrors.LearnerNotReady
            : null;
    }

    /// <summary>
    /// A member added by MemberAdd starts unnamed; once it is in the membership it publishes its
    /// name and client URL through the log (etcd's publish), retrying until it shows.
    /// </summary>
    private void MaybePublishAttributes()
    {
        if (membership.Find(cluster.NodeId) is not { } self || ClusterMembership.IsStarted(self) || --publishAttributesCountdown > 0)
        {
            return;
        }

        publishAttributesCountdown = cluster.ElectionTicks;
        var me = cluster.Self();
        var change = new MembershipChange
        {
            Kind = MembershipChange.Types.Kind.PublishAttributes,
            Member = new Member { Id = me.Id, Name = me.Name, ClientUrls = { me.Client.ToString() } },
            Proposer = cluster.NodeId,
        };
        ProposeMembership(change, forwardedBy: null);
    }

    private void Propose(LogProtocol.Propose propose)
    {
        try
        {
            Core.Propose(propose.Request.ToByteArray());
            if (Core.Role == RaftRole.Leader)
            {
                WritePathEvents.Log.ProposalAppended((long)cluster.NodeId, (long)propose.Request.Id, (long)Core.LastIndex);
            }
        }
        catch (ProposalDroppedException) when (Core.Lead == RaftCore.None && proposalsAwaitingLeader.Count < MaxRequestsAwaitingLeader)
        {
            proposalsAwaitingLeader.Enqueue(propose);
        }
        catch (ProposalDroppedException)
        {
            waiters.Fail(propose.Request.Id, EtcdErrors.NoLeader);
        }
    }

    /// <summary>The reads that came since the last request was answered go to the leader as one.</summary>
    private void AskBatchedReads()
    {
        if (reads.TakeBatch(ticks) is { } context)
        {
            AskReadIndex(context);
        }
    }

    private void AskReadIndex(string context)
    {
        try
        {
            Core.ReadIndex(System.Text.Encoding.UTF8.GetBytes(context));
        }
        catch (ProposalDroppedException) when (Core.Lead == RaftCore.None)
        {
            // It stays awaiting its index: the next leader is asked for it when it is known (at
            // most one request per member is out, so nothing piles up here).
        }
        catch (ProposalDroppedException)
        {
            reads.Fail(context, EtcdErrors.NoLeader);
        }
    }

    /// <summary>
    /// A read index not answered within actorkv.cluster.read-index-retry-interval is asked again,
    /// as etcd 3.5 asks every 500 ms: the request, the leader's heartbeats or their answers can be
    /// lost on a link that failed for a moment. The leader gives a request asked again a new
    /// heartbeat round; a second answer is harmless, since the first one serves the reads.
    /// </summary>
    private void RetryUnansweredReadIndexes()
    {
        if (Core.Lead == RaftCore.None)
        {
            return; // the next leader is asked when it is known
        }

        var unanswered = reads.TakeUnanswered(ticks, cluster.ReadIndexRetryTicks);
        if (unanswered.Count > 0)
        {
            // As etcd 3.5's "timed out waiting for read index response": a lost message, or a slow link.
            log.Warning("Raft node {0}: {1} read index request(s) not answered by leader {2} in {3} ticks; asking again", cluster.NodeId, unanswered.Count, Core.Lead, cluster.ReadIndexRetryTicks);
        }

        foreach (var context in unanswered)
        {
            AskReadIndex(context);
        }
    }

    /// <summary>A leader is known again: what waited for one goes to it now.</summary>
    private void ReleaseRequestsAwaitingLeader()
    {
        var proposals = proposalsAwaitingLeader.ToList();
        proposalsAwaitingLeader.Clear();
        foreach (var propose in proposals)
        {
            Propose(propose);
        }

        // Every read index still unanswered goes to the new leader now: one asked while there was
        // none was dropped, and one asked of the previous leader is lost with it (a leader that
        // steps down drops its pending reads; a follower that goes straight to the next leader
        // never sees "no leader"). The retry would ask them, but only after its interval.
        foreach (var context in reads.TakeUnanswered(ticks, retryTicks: 0))
        {
            AskReadIndex(context);
        }
    }

    private void Step(ActorKv.Raft.Message message)
    {
        try
        {
            Core.Step(message);
        }
        catch (ProposalDroppedException)
        {
            // A proposal or read forwarded by a peer that found no leader here: its client retries.
        }
    }

    /// <summary>
    /// Group commit of the WAL: the Ready is taken once every message already queued has been
    /// stepped into the core, so one Ready, and one WAL write, covers all of them.
    /// </summary>
    private void ScheduleReady()
    {
        if (readyScheduled || (!Core.HasReady && !reads.CanAsk))
        {
            return;
        }

        readyScheduled = true;
        Self.Tell(RaftProtocol.ProcessReady.Instance);
    }

    /// <summary>
    /// Persist, then send, apply and advance. The WAL write blocks this actor's own thread, so
    /// Readys are handled strictly one after another.
    /// </summary>
    private void ProcessReady()
    {
        if (!Core.HasReady)
        {
            return;
        }

        var ready = Core.GetReady();
        // A hard state whose only change is the commit index need not be made durable (etcd
        // does not sync it either): a restarted node learns the commit index from the leader
        // again, and applying is idempotent. It goes to the WAL with the next entries.
        var mustPersist = ready.Entries.Count > 0 || ready.Snapshot is not null
            || (ready.HardState is { } changed && (changed.Term != storage.HardState.Term || changed.Vote != storage.HardState.Vote));
        if (!mustPersist)
        {
            if (ready.HardState is { } commitOnly)
            {
                storage.SetHardState(commitOnly);
            }

            AfterPersisted(ready);
            return;
        }

        var persisted = new RaftReadyPersisted
        {
            HardState = ready.HardState?.ToWire(),
            Snapshot = ready.Snapshot?.ToWire(),
        };
        persisted.Entries.AddRange(ready.Entries.Select(RaftWire.ToWire));
        if (persisted.HardState is null && ready.Entries.Count > 0)
        {
            // Carry the commit index learned since the last write, as etcd's WAL does.
            persisted.HardState = storage.HardState.ToWire();
        }

        // A leader replicates while its own WAL write is in flight (Raft thesis 10.2.1, as etcd's
        // raft loop does): its appends and heartbeats promise nothing about its own log, and the
        // followers' acknowledgements, which are what commits the entries, reach the core only
        // after this write, which holds this actor's thread. Its durability notices speak of
        // earlier writes, already done (the core makes them in Advance).
        var sentEarly = Core.Role == RaftRole.Leader;
        if (sentEarly)
        {
            Send(ready.Messages.Where(IsLeaderReplication));
        }

        // Committed entries this member's WAL already holds go to apply before this Ready's write,
        // as etcd's raft loop hands them to its applier first: a quorum holds them durably, so
        // applying and answering them need not wait for newer entries' fsync. Entries that this
        // write makes durable here (a lone member's, or a follower's just received) wait for it.
        var handedBeforeWrite = ready.Snapshot is null && ready.CommittedEntries.Count > 0 && ready.CommittedEntries[^1].Index <= storage.LastIndex;
        if (handedBeforeWrite)
        {
            HandToApply(ready.CommittedEntries);
        }

        var traced = ready.Entries.Count > 0 && WritePathEvents.Log.IsEnabled();
        if (traced)
        {
            WritePathEvents.Log.WalWriteStarted((long)cluster.NodeId, (long)ready.Entries[0].Index, (long)ready.Entries[^1].Index);
        }

        if (!TryPersist(persisted))
        {
            return;
        }

        if (traced)
        {
            WritePathEvents.Log.WalWriteFinished((long)cluster.NodeId, (long)ready.Entries[0].Index, (long)ready.Entries[^1].Index);
        }

        Store(persisted);
        AfterPersisted(ready, sentEarly, handedBeforeWrite);
    }

    private static bool IsLeaderReplication(Message message) => message.Type is MessageType.Append or MessageType.Heartbeat or MessageType.LeaderDurable;

    /// <summary>A Ready's messages go to each peer's sender together, so that they can travel as one batch.</summary>
    private void Send(IEnumerable<Message> messages)
    {
        Dictionary<ulong, List<RaftMessage>>? byPeer = null;
        foreach (var message in messages)
        {
            if (message.Type == MessageType.Snapshot)
            {
                SendSnapshot(message.To);
            }
            else if (peers.ContainsKey(message.To))
            {
                var wire = message.ToWire();
                wire.ClusterId = clusterId;
                byPeer ??= [];
                if (!byPeer.TryGetValue(message.To, out var forPeer))
                {
                    byPeer[message.To] = forPeer = [];
                }

                forPeer.Add(wire);
            }
        }

        foreach (var (to, forPeer) in byPeer ?? [])
        {
            peers[to].Tell(new PeerSender.Send(forPeer));
        }
    }

    private void AfterPersisted(Ready ready, bool replicationSent = false, bool committedHanded = false)
    {
        // Votes, their responses and acknowledgements go out only once what they promise is durable.
        Send(replicationSent ? ready.Messages.Where(message => !IsLeaderReplication(message)) : ready.Messages);

        if (ready.CommittedEntries.Count > 0 && !committedHanded)
        {
            HandToApply(ready.CommittedEntries);
        }

        foreach (var read in ready.ReadStates)
        {
            reads.IndexKnown(System.Text.Encoding.UTF8.GetString(read.RequestContext), read.Index);
        }

        reads.Release(appliedIndex);
        Core.Advance(ready);
        RetryMembershipChanges();
        status.Publish(Core.Term, Core.Lead, Core.Committed);
        if (ready.SoftState is { } soft)
        {
            log.Info("Raft node {0} is {1} in term {2}, leader {3}", cluster.NodeId, soft.Role, Core.Term, soft.Lead);
            leases.Tell(Leadership(soft));
            leadershipTransfers.RemoveAll(transfer =>
            {
                if (soft.Lead == transfer.Target)
                {
                    transfer.Completion.TrySetResult();
                }

                // Done, or given up by its client (the node's request timeout).
                return transfer.Completion.Task.IsCompleted;
            });
            if (soft.Lead != RaftCore.None)
            {
                ReleaseRequestsAwaitingLeader();
            }
        }

        ScheduleReady();
    }

    private void HandToApply(IReadOnlyList<Entry> committed)
    {
        WritePathEvents.Log.EntriesCommitted((long)cluster.NodeId, (long)committed[0].Index, (long)committed[^1].Index);
        apply.Tell(new LogProtocol.CommittedEntries(ToLogEntries(committed)));
        handedToApply = committed[^1].Index;
    }

    /// <summary>Says in the node log when a peer this node should hear from (a leader: every voter; a follower: its leader) falls silent, and when it is heard again.</summary>
    private void LogSilentPeers()
    {
        IEnumerable<ulong> expected = Core.Role == RaftRole.Leader
            ? Core.Progress.Where(p => p.Key != cluster.NodeId && !p.Value.IsLearner).Select(p => p.Key)
            : Core.Lead is var lead && lead != RaftCore.None && lead != cluster.NodeId ? [lead] : [];
        var (fellSilent, heardAgain) = silence.Tick(expected);
        foreach (var peer in fellSilent)
        {
            var progress = Core.Progress.TryGetValue(peer, out var known) ? known.ToString() : "-";
            log.Warning($"Raft node {cluster.NodeId} ({Core.Role}, term {Core.Term}) has heard nothing from member {peer} for {3 * cluster.ElectionTicks} ticks; its progress: {progress}");
        }

        foreach (var (peer, ticks) in heardAgain)
        {
            log.Info("Raft node {0} ({1}) hears member {2} again after {3} silent ticks", cluster.NodeId, Core.Role, peer, ticks);
        }
    }

}
