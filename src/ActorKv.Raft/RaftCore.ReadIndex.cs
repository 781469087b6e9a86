namespace ActorKv.Raft;

public sealed partial class RaftCore
{
    /// <summary>A read-index request waiting for a quorum to confirm this leader.</summary>
    private sealed record PendingRead(Message Request, ulong Index, HashSet<ulong> Acks);

    private readonly List<PendingRead> pendingReads = [];

    /// <summary>Requests that came before this leader committed an entry of its term: its commit index may be stale until then.</summary>
    private readonly List<Message> readsAwaitingFirstCommit = [];

    private void ResetReadOnly()
    {
        pendingReads.Clear();
        readsAwaitingFirstCommit.Clear();
    }

    private bool CommittedEntryInCurrentTerm => log.TermOrZero(log.Committed) == Term;

    private void HandleReadIndexAtLeader(Message request)
    {
        if (VoterCount == 1)
        {
            AnswerRead(request, log.Committed);
            return;
        }

        if (pendingReads.Count + readsAwaitingFirstCommit.Count >= config.MaxPendingReadIndexRequests)
        {
            if (request.From == Id || request.From == None)
            {
                throw new ProposalDroppedException("too many read-index requests pending");
            }

            return; // the follower's client times out and retries
        }

        if (!CommittedEntryInCurrentTerm)
        {
            readsAwaitingFirstCommit.Add(request);
            return;
        }

        AddPendingRead(request);
    }

    private void AddPendingRead(Message request)
    {
        var context = request.Entries[0].Data;
        if (pendingReads.Any(p => p.Request.Entries[0].Data.AsSpan().SequenceEqual(context)))
        {
            return;
        }

        pendingReads.Add(new PendingRead(request, log.Committed, [Id]));
        // The heartbeat round proves that no newer leader has committed anything we lack.
        BroadcastHeartbeat(context);
    }

    /// <summary>Called when the commit index moves: reads that waited for this term's first commit may go.</summary>
    private void ReleaseReadsAwaitingFirstCommit()
    {
        if (readsAwaitingFirstCommit.Count == 0 || !CommittedEntryInCurrentTerm)
        {
            return;
        }

        var waiting = readsAwaitingFirstCommit.ToList();
        readsAwaitingFirstCommit.Clear();
        foreach (var request in waiting)
        {
            AddPendingRead(request);
        }
    }

    private void HandleReadIndexAck(ulong from, byte[] context)
    {
        var position = pendingReads.FindIndex(p => p.Request.Entries[0].Data.AsSpan().SequenceEqual(context));
        if (position < 0)
        {
            return;
        }

        pendingReads[position].Acks.Add(from);
        if (VotersAmong(pendingReads[position].Acks) < Quorum)
        {
            return;
        }

        // A quorum confirms this request, and so every earlier one too.
        var released = pendingReads.GetRange(0, position + 1);
        pendingReads.RemoveRange(0, position + 1);
        foreach (var read in released)
        {
            AnswerRead(read.Request, read.Index);
        }
    }

    private void AnswerRead(Message request, ulong index)
    {
        if (request.From == None || request.From == Id)
        {
            readStates.Add(new ReadState(index, request.Entries[0].Data));
        }
        else
        {
            Send(new Message { To = request.From, Type = MessageType.ReadIndexResponse, Index = index, Entries = request.Entries });
        }
    }
}
