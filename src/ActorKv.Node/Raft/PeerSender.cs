using ActorKv.Protocol.Raft;
using Akka.Actor;

namespace ActorKv.Node.Raft;

/// <summary>
/// Delivers this node's Raft messages to one peer's RaftActor over Akka.Remote, by actor
/// selection: no remote DeathWatch, since a quarantine after a partition would cut the link
/// for good. Raft itself retransmits what is lost.
/// </summary>
public sealed class PeerSender : ReceiveActor
{
    public PeerSender(string peerRaftPath)
    {
        var peer = Context.ActorSelection(peerRaftPath);
        Receive<RaftMessage>(message => peer.Tell(message, ActorRefs.NoSender));
    }

    public static Props Props(string peerRaftPath) => Akka.Actor.Props.Create(() => new PeerSender(peerRaftPath));
}
