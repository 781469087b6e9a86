using ActorKv.Protocol.Raft;
using Akka.Actor;

namespace ActorKv.Node.Raft;

/// <summary>
/// Answers the peers' link probes (<see cref="PeerSender"/>) with the probe itself, at once and
/// off the Raft actor's thread, so that a probe's round trip is the link's and not the time this
/// member's Raft actor spends in an fsync (etcd answers its probes in its peer HTTP handler).
/// </summary>
public sealed class PeerProbeResponder : ReceiveActor
{
    public const string Name = "peer-probe";

    public PeerProbeResponder()
    {
        Receive<PeerProbe>(probe => Sender.Tell(probe, Self));
    }

    public static Props Props() => Akka.Actor.Props.Create(() => new PeerProbeResponder());

    /// <summary>The responder beside a member's Raft actor (both are children of its node guardian).</summary>
    public static string PathBeside(string raftActorPath) => NodeGuardian.PathBeside(raftActorPath, Name);
}
