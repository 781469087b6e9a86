using ActorKv.Node.Log;
using Akka.Actor;

namespace ActorKv.Node.Gateway;

/// <summary>
/// Fronts client writes: gives each an id its answer will come back by, and proposes it to the log.
/// </summary>
public sealed class GatewayActor : ReceiveActor
{
    public GatewayActor(IActorRef log, ProposalWaiters waiters)
    {
        Receive<GatewayProtocol.ProposeWrite>(write =>
        {
            write.Request.Id = waiters.Register(write.Completion);
            log.Tell(new LogProtocol.Propose(write.Request));
        });
    }

    public static Props Props(IActorRef log, ProposalWaiters waiters) =>
        Akka.Actor.Props.Create(() => new GatewayActor(log, waiters));
}
