namespace ActorKv.Raft;

public sealed partial class RaftCore
{
    /// <summary>A read-index request waiting for a quorum to confirm this leader.</summary>
    private sealed record PendingRead(Message Request, ulong Index, HashSet<ulong> Acks)
    {
        /// <summary>The requesting follower answered the heartbeat that gave it the index itself: no response is owed.</summary>
        public bool RequesterTookIndex { get; set; }
    }

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
            AnswerRead(request, CommittedAnywhere);
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
        // A request asked again (its heartbeats or their answers were lost) keeps its index and
        // gets a new heartbeat round, as etcd's leader sends one for every read-index message:
        // without it, a member that asks one request at a time would wait for it forever.
        var read = pendingReads.Find(p => p.Request.Entries[0].Data.AsSpan().SequenceEqual(context));
        if (read is null)
        {
            read = new PendingRead(request, CommittedAnywhere, [Id]);
            pendingReads.Add(read);
        }

        // The heartbeat round proves that no newer leader has committed anything we lack. Where
        // this leader and the requesting follower are a quorum, the requester's heartbeat carries
        // the index: the follower's being in this term when it arrives is the second confirmation,
        // so it reads without waiting for a response (two crossings of the network, not four).
        var requesterConfirms = Quorum == 2 && Promotable && request.From != Id && request.From != None
            && progress.TryGetValue(request.From, out var requester) && !requester.IsLearner;
        BroadcastHeartbeat(context, requesterConfirms ? request.From : None, read.Index);
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

    /// <summary>A heartbeat answered with a read request's context; <paramref name="indexTaken"/>: the index the follower took from it (0: none).</summary>
    private void HandleReadIndexAck(ulong from, byte[] context, ulong indexTaken)
    {
        var position = pendingReads.FindIndex(p => p.Request.Entries[0].Data.AsSpan().SequenceEqual(context));
        if (position < 0)
        {
            return;
        }

        var read = pendingReads[position];
        read.Acks.Add(from);
        read.RequesterTookIndex |= from == read.Request.From && indexTaken == read.Index;
        if (VotersAmong(read.Acks) < Quorum)
        {
            return;
        }

        // A quorum confirms this request, and so every earlier one too.
        var released = pendingReads.GetRange(0, position + 1);
        pendingReads.RemoveRange(0, position + 1);
        foreach (var done in released)
        {
            if (!done.RequesterTookIndex)
            {
                AnswerRead(done.Request, done.Index);
            }
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
