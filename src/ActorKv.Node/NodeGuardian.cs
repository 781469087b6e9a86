using ActorKv.Mvcc;
using ActorKv.Node.Apply;
using ActorKv.Node.Configuration;
using ActorKv.Node.Gateway;
using ActorKv.Node.Leases;
using ActorKv.Node.Log;
using ActorKv.Node.Watch;
using ActorKv.Node.Mapping;
using ActorKv.Node.Membership;
using ActorKv.Node.Raft;
using ActorKv.Storage.Lmdb;
using Akka.Actor;

namespace ActorKv.Node;

/// <summary>
/// The root of one node's actors (<c>/user/node</c>): apply, log and gateway, and beside them a
/// replicated member's lease sweeper and peer-probe responder, which peers address by their path
/// beside the Raft actor's (<see cref="PathBeside"/>). A child that fails
/// is restarted on its own (one-for-one) and rebuilds its state from LMDB.
/// </summary>
public sealed class NodeGuardian : ReceiveActor
{
    /// <summary>Asks for the gateway actor; the answer is its <see cref="IActorRef"/>.</summary>
    public sealed record GetGateway
    {
        public static readonly GetGateway Instance = new();
    }

    public const string StorageDispatcher = "actorkv.storage-dispatcher";

    /// <summary>Asks for the watch hub; the answer is its <see cref="IActorRef"/>.</summary>
    public sealed record GetWatchHub
    {
        public static readonly GetWatchHub Instance = new();
    }

    /// <summary>Asks for the lease sweeper; the answer is its <see cref="IActorRef"/>.</summary>
    public sealed record GetLeases
    {
        public static readonly GetLeases Instance = new();
    }

    /// <summary>Asks for the Raft actor (or the single-node log); the answer is its <see cref="IActorRef"/>.</summary>
    public sealed record GetLog
    {
        public static readonly GetLog Instance = new();
    }

    public NodeGuardian(ActorKvSettings settings, LmdbMvccStore store, MvccEngine engine, ProposalWaiters waiters, StorageUsage usage, RaftStatus raftStatus, ApplyVisibility visibility, NodeMetrics metrics)
    {
        MvccMeta meta;
        using (var view = store.BeginRead())
        {
            meta = view.Meta;
        }

        var logName = settings.Cluster.Replicated ? "raft" : "log";
        var leases = Context.ActorOf(LeaseSweeper.Props(store, visibility, logName, settings.Cluster.NodeId, settings.Leases), "leases");
        var watchHub = Context.ActorOf(WatchHub.Props(store, visibility, settings.Watch.ProgressNotifyInterval, settings.Watch.SyncInterval, StorageDispatcher), "watch");
        var apply = Context.ActorOf(
            ApplyActor.Props(store, engine, waiters, usage, leases, watchHub, settings.BatchLimit, settings.BatchInterval, settings.CompactionBatchKeys, settings.Cluster.SnapshotTimeout, visibility, settings.Cluster.Replicated ? settings.ApplyCommitInterval : TimeSpan.Zero, StorageDispatcher),
            "apply");
        IActorRef log;
        if (settings.Cluster.Replicated)
        {
            var clusterId = ResponseHeaderStamp.ClusterIdFor(settings.ClusterToken);
            log = Context.ActorOf(RaftActor.Props(settings.Cluster, settings.WalOptions() with { SyncObserved = metrics.ObserveWalFsync }, clusterId, apply, leases, store, waiters, raftStatus, metrics.ObservePeerRoundTrip, StorageDispatcher), logName);
            Context.ActorOf(PeerProbeResponder.Props(settings.Cluster.NodeId, clusterId, raftStatus), PeerProbeResponder.Name);
        }
        else
        {
            log = Context.ActorOf(SingleNodeLogActor.Props(apply, meta.AppliedIndex, Math.Max(1, meta.AppliedTerm)), logName);
            // A single node always leads.
            leases.Tell(new LeaseProtocol.LeadershipChanged(IsLeader: true, LeaderSweeperPath: null));
        }

        var gateway = Context.ActorOf(GatewayActor.Props(log), "gateway");
        Receive<GetLeases>(_ => Sender.Tell(leases));
        Receive<GetWatchHub>(_ => Sender.Tell(watchHub));
        Receive<GetGateway>(_ => Sender.Tell(gateway));
        Receive<GetLog>(_ => Sender.Tell(log));
        // A restarted apply actor asks the log for what it lost.
        Receive<LogProtocol.ApplyRestarted>(restarted => log.Forward(restarted));
    }

    /// <summary>The path of a node's child named <paramref name="childName"/>, given the path of another of its children.</summary>
    public static string PathBeside(string siblingPath, string childName) => siblingPath[..siblingPath.LastIndexOf('/')] + "/" + childName;

    protected override SupervisorStrategy SupervisorStrategy() =>
        new OneForOneStrategy(maxNrOfRetries: 10, withinTimeRange: TimeSpan.FromMinutes(1), localOnlyDecider: _ => Directive.Restart);

    public static Props Props(ActorKvSettings settings, LmdbMvccStore store, MvccEngine engine, ProposalWaiters waiters, StorageUsage usage, RaftStatus raftStatus, ApplyVisibility visibility, NodeMetrics metrics) =>
        Akka.Actor.Props.Create(() => new NodeGuardian(settings, store, engine, waiters, usage, raftStatus, visibility, metrics));
}
