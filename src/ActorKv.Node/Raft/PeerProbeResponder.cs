using ActorKv.Protocol.Raft;
using Akka.Actor;
using Akka.Event;

namespace ActorKv.Node.Raft;

/// <summary>
/// Answers the peers' link probes (<see cref="PeerSender"/>) with the probe itself, at once and
/// off the Raft actor's thread, so that a probe's round trip is the link's and not the time this
/// member's Raft actor spends in an fsync (etcd answers its probes in its peer HTTP handler).
/// A probe from a member of this cluster that the applied membership has removed is answered
/// with <see cref="MemberRemoved"/> instead: that member stops (etcd's stream handler answers a
/// removed member 410 Gone, and it stops on that).
/// </summary>
public sealed class PeerProbeResponder : ReceiveActor
{
    public const string Name = "peer-probe";

    public PeerProbeResponder(ulong selfId, ulong clusterId, RaftStatus status)
    {
        var log = Context.GetLogger();
        Receive<PeerProbe>(probe =>
        {
            if (probe.ClusterId == clusterId && status.IsRemoved(probe.From))
            {
                log.Warning("Rejected the link probe of member {0:x}: it was removed from the cluster", probe.From);
                Sender.Tell(new MemberRemoved { Member = probe.From, By = selfId }, Self);
                return;
            }

            Sender.Tell(probe, Self);
        });
    }

    public static Props Props(ulong selfId, ulong clusterId, RaftStatus status) =>
        Akka.Actor.Props.Create(() => new PeerProbeResponder(selfId, clusterId, status));

    /// <summary>The responder beside a member's Raft actor (both are children of its node guardian).</summary>
    public static string PathBeside(string raftActorPath) => NodeGuardian.PathBeside(raftActorPath, Name);
}
