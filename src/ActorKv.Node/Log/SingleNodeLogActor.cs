using Akka.Actor;

namespace ActorKv.Node.Log;

/// <summary>
/// The log of a one-member cluster: a proposal is committed the moment it is ordered, because the
/// only member's durable record of it is the apply transaction itself (data and applied index
/// in one fsynced LMDB commit). The Raft actor takes this place when a node has peers.
/// </summary>
public sealed class SingleNodeLogActor : ReceiveActor
{
    private ulong lastIndex;

    public SingleNodeLogActor(IActorRef apply, ulong appliedIndex, ulong term)
    {
        lastIndex = appliedIndex;
        Receive<LogProtocol.Propose>(propose =>
        {
            lastIndex++;
            apply.Tell(new LogProtocol.CommittedEntries([new LogProtocol.LogEntry(lastIndex, term, propose.Request)]));
        });
        // Apply's progress matters to Raft (read index); this log commits on ordering and needs none.
        Receive<Raft.RaftProtocol.Applied>(_ => { });
    }

    public static Props Props(IActorRef apply, ulong appliedIndex, ulong term) =>
        Akka.Actor.Props.Create(() => new SingleNodeLogActor(apply, appliedIndex, term));
}
