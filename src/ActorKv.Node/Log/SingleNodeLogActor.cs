using Akka.Actor;

namespace ActorKv.Node.Log;

/// <summary>
/// The log of a one-member cluster: a proposal is committed the moment it is ordered, because the
/// only member's durable record of it is the apply transaction itself (data and applied index
/// in one fsynced LMDB commit). The Raft actor takes this place when a node has peers.
/// </summary>
public sealed class SingleNodeLogActor : ReceiveActor
{
    /// <summary>
    /// The last index given out. It lives outside the actor (the same object for every
    /// incarnation) so that a restarted log never hands out an index that an entry still on its
    /// way to the apply actor already has.
    /// </summary>
    public sealed class Position(ulong lastIndex)
    {
        public ulong LastIndex { get; set; } = lastIndex;
    }

    /// <summary>Entries handed to apply and not yet reported applied: a restarted apply actor gets them again.</summary>
    private readonly Queue<LogProtocol.LogEntry> unapplied = new();

    public SingleNodeLogActor(IActorRef apply, Position position, ulong term)
    {
        Receive<LogProtocol.Propose>(propose =>
        {
            position.LastIndex++;
            Diagnostics.WritePathEvents.Log.ProposalAppended(0, (long)propose.Request.Id, (long)position.LastIndex);
            var entry = new LogProtocol.LogEntry(position.LastIndex, term, propose.Request);
            unapplied.Enqueue(entry);
            apply.Tell(new LogProtocol.CommittedEntries([entry]));
        });
        Receive<Raft.RaftProtocol.Applied>(applied =>
        {
            while (unapplied.TryPeek(out var entry) && entry.Index <= applied.Index)
            {
                unapplied.Dequeue();
            }
        });
        // A single node always leads (a restarted lease sweeper asks).
        Receive<Leases.LeaseProtocol.LeadershipQuery>(_ => Sender.Tell(new Leases.LeaseProtocol.LeadershipChanged(IsLeader: true, LeaderSweeperPath: null)));
        Receive<LogProtocol.ApplyRestarted>(restarted =>
            Sender.Tell(new LogProtocol.Redelivered(unapplied.Where(e => e.Index > restarted.AppliedIndex).ToList())));
    }

    public static Props Props(IActorRef apply, ulong appliedIndex, ulong term)
    {
        var position = new Position(appliedIndex);
        return Akka.Actor.Props.Create(() => new SingleNodeLogActor(apply, position, term));
    }
}
