using ActorKv.Mvcc;
using ActorKv.Node.Apply;
using ActorKv.Node.Configuration;
using ActorKv.Node.Gateway;
using ActorKv.Node.Log;
using ActorKv.Node.Mapping;
using ActorKv.Node.Membership;
using ActorKv.Node.Raft;
using ActorKv.Storage.Lmdb;
using Akka.Actor;

namespace ActorKv.Node;

/// <summary>
/// The root of one node's actors (<c>/user/node</c>): apply, log and gateway. A child that fails
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

    /// <summary>Asks for the Raft actor (or the single-node log); the answer is its <see cref="IActorRef"/>.</summary>
    public sealed record GetLog
    {
        public static readonly GetLog Instance = new();
    }

    public NodeGuardian(ActorKvSettings settings, LmdbMvccStore store, MvccEngine engine, ProposalWaiters waiters, StorageUsage usage, RaftStatus raftStatus)
    {
        MvccMeta meta;
        ClusterMembership membership;
        using (var view = store.BeginRead())
        {
            meta = view.Meta;
            membership = ClusterMembership.Read(view) ?? ClusterMembership.Empty;
        }

        var apply = Context.ActorOf(
            ApplyActor.Props(store, engine, waiters, usage, settings.BatchLimit, settings.BatchInterval, settings.CompactionBatchKeys, settings.Cluster.SnapshotTimeout, StorageDispatcher),
            "apply");
        var log = settings.Cluster.Replicated
            ? Context.ActorOf(RaftActor.Props(settings.Cluster, ResponseHeaderStamp.ClusterIdFor(settings.ClusterToken), apply, store, waiters, raftStatus, meta.AppliedIndex, membership), "raft")
            : Context.ActorOf(SingleNodeLogActor.Props(apply, meta.AppliedIndex, Math.Max(1, meta.AppliedTerm)), "log");
        var gateway = Context.ActorOf(GatewayActor.Props(log), "gateway");
        Receive<GetGateway>(_ => Sender.Tell(gateway));
        Receive<GetLog>(_ => Sender.Tell(log));
    }

    protected override SupervisorStrategy SupervisorStrategy() =>
        new OneForOneStrategy(maxNrOfRetries: 10, withinTimeRange: TimeSpan.FromMinutes(1), localOnlyDecider: _ => Directive.Restart);

    public static Props Props(ActorKvSettings settings, LmdbMvccStore store, MvccEngine engine, ProposalWaiters waiters, StorageUsage usage, RaftStatus raftStatus) =>
        Akka.Actor.Props.Create(() => new NodeGuardian(settings, store, engine, waiters, usage, raftStatus));
}
