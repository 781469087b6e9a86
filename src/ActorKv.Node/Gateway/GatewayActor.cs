using ActorKv.Node.Log;
using Akka.Actor;

namespace ActorKv.Node.Gateway;

/// <summary>
/// Fronts client writes: proposes each to this node's log (the Raft actor forwards it to the
/// leader inside Raft). The answer comes back through <see cref="ProposalWaiters"/> by the id.
/// </summary>
public sealed class GatewayActor : ReceiveActor
{
    public GatewayActor(IActorRef log)
    {
        Receive<GatewayProtocol.ProposeWrite>(write => log.Tell(new LogProtocol.Propose(write.Request)));
    }

    public static Props Props(IActorRef log) =>
        Akka.Actor.Props.Create(() => new GatewayActor(log));
}
