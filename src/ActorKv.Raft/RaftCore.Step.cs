namespace ActorKv.Raft;

public sealed partial class RaftCore
{
    /// <summary>
    /// Feeds one message to the core: from a peer (Term &gt; 0) or a local request (Term 0).
    /// Throws <see cref="ProposalDroppedException"/> for a proposal that cannot be taken.
    /// </summary>
    public void Step(Message message)
    {
        if (message.Term == 0)
        {
            // Local message.
        }
        else if (message.Term > Term)
        {
            if (message.Type is MessageType.Vote or MessageType.PreVote)
            {
                var force = message.Context is { } context && context.AsSpan().SequenceEqual(CampaignTransfer);
                var inLease = config.CheckQuorum && Lead != None && electionElapsed < config.ElectionTicks;
                if (!force && inLease)
                {
                    // We heard from a leader within the election timeout: a disruptive
                    // candidate (say, one rejoining from a partition) gets no vote and
                    // does not make us bump our term.
                    return;
                }
            }

            if (message.Type == MessageType.PreVote)
            {
                // A pre-vote never changes our term.
            }
            else if (message.Type == MessageType.PreVoteResponse && !message.Reject)
            {
                // The term we asked about: we move to it only when a quorum grants.
            }
            else if (message.Type is MessageType.Append or MessageType.Heartbeat or MessageType.Snapshot)
            {
                BecomeFollower(message.Term, message.From);
            }
            else
            {
                BecomeFollower(message.Term, None);
            }
        }
        else if (message.Term < Term)
        {
            if ((config.CheckQuorum || config.PreVote) && message.Type is MessageType.Heartbeat or MessageType.Append)
            {
                // A stale leader (say, one cut off by a partition) learns our higher term
                // from this answer and steps down; without it, it would never hear of it.
                Send(new Message { To = message.From, Type = MessageType.AppendResponse });
            }
            else if (message.Type == MessageType.PreVote)
            {
                Send(new Message { To = message.From, Term = Term, Type = MessageType.PreVoteResponse, Reject = true });
            }

            return;
        }

        switch (message.Type)
        {
            case MessageType.Hup:
                Hup(transfer: false);
                break;
            case MessageType.Vote or MessageType.PreVote:
                HandleVoteRequest(message);
                break;
            default:
                switch (Role)
                {
                    case RaftRole.Leader:
                        StepLeader(message);
                        break;
                    case RaftRole.Candidate or RaftRole.PreCandidate:
                        StepCandidate(message);
                        break;
                    default:
                        StepFollower(message);
                        break;
                }

                break;
        }
    }

    public void Propose(byte[] data) =>
        Step(new Message { Type = MessageType.Propose, From = Id, Entries = [new Entry(0, 0, EntryType.Normal, data)] });

    public void ProposeConfChange(ConfChange change) =>
        Step(new Message { Type = MessageType.Propose, From = Id, Entries = [new Entry(0, 0, EntryType.ConfChange, change.Encode())] });

    /// <summary>Starts an election now (as an election timeout would).</summary>
    public void Campaign() => Step(new Message { Type = MessageType.Hup, From = Id });

    /// <summary>Asks for a read index; the answer comes as a <see cref="ReadState"/> with this context.</summary>
    public void ReadIndex(byte[] requestContext) =>
        Step(new Message { Type = MessageType.ReadIndex, From = Id, Entries = [new Entry(0, 0, EntryType.Normal, requestContext)] });

    /// <summary>Asks the leader to hand leadership to <paramref name="transferee"/>.</summary>
    public void TransferLeader(ulong transferee) =>
        Step(new Message { Type = MessageType.TransferLeader, From = transferee });

    public void ReportUnreachable(ulong peer) => Step(new Message { Type = MessageType.Unreachable, From = peer });

    public void ReportSnapshot(ulong peer, bool succeeded) =>
        Step(new Message { Type = MessageType.SnapshotStatus, From = peer, Reject = !succeeded });

    private void Hup(bool transfer)
    {
        if (Role == RaftRole.Leader || !Promotable)
        {
            return;
        }

        // Conf changes committed but not applied could change who may vote: wait for them.
        var pendingConfChanges = log.Slice(log.Applied + 1, log.Committed + 1, long.MaxValue).Any(e => e.Type == EntryType.ConfChange);
        if (pendingConfChanges && log.Committed > log.Applied)
        {
            return;
        }

        if (config.PreVote && !transfer)
        {
            StartElection(preVote: true, transfer: false);
        }
        else
        {
            StartElection(preVote: false, transfer);
        }
    }

    private void StartElection(bool preVote, bool transfer)
    {
        ulong term;
        MessageType request;
        if (preVote)
        {
            BecomePreCandidate();
            request = MessageType.PreVote;
            // Asks about the next term without moving to it.
            term = Term + 1;
        }
        else
        {
            BecomeCandidate();
            request = MessageType.Vote;
            term = Term;
        }

        if (Poll(Id, granted: true) == ElectionResult.Won)
        {
            // A single voter: no one to ask.
            if (preVote)
            {
                StartElection(preVote: false, transfer);
            }
            else
            {
                BecomeLeader();
            }

            return;
        }

        Span<ulong> buffer = progress.Count <= MembersOnStack ? stackalloc ulong[MembersOnStack] : new ulong[progress.Count];
        foreach (var voter in OtherMembersInIdOrder(buffer, votersOnly: true))
        {
            Send(new Message
            {
                To = voter,
                Term = term,
                Type = request,
                Index = log.LastIndex,
                LogTerm = log.LastTerm,
                Context = transfer ? CampaignTransfer : null,
            });
        }
    }

    private enum ElectionResult { Pending, Won, Lost }

    private ElectionResult Poll(ulong voter, bool granted)
    {
        if (granted)
        {
            votesGranted.Add(voter);
        }
        else
        {
            votesRejected.Add(voter);
        }

        var quorum = Quorum;
        if (VotersAmong(votesGranted) >= quorum)
        {
            return ElectionResult.Won;
        }

        return VotersAmong(votesRejected) >= quorum ? ElectionResult.Lost : ElectionResult.Pending;
    }

    private void HandleVoteRequest(Message message)
    {
        // We can vote for whom we already voted for, for anyone if we have neither voted nor a
        // leader in this term, and in a pre-vote for anyone asking about a later term.
        var canVote = Vote == message.From
            || (Vote == None && Lead == None)
            || (message.Type == MessageType.PreVote && message.Term > Term);
        var response = message.Type == MessageType.Vote ? MessageType.VoteResponse : MessageType.PreVoteResponse;
        if (canVote && log.IsUpToDate(message.Index, message.LogTerm))
        {
            // The response carries the term asked about, so a pre-candidate can count it.
            Send(new Message { To = message.From, Term = message.Term, Type = response });
            if (message.Type == MessageType.Vote)
            {
                electionElapsed = 0;
                Vote = message.From;
            }
        }
        else
        {
            Send(new Message { To = message.From, Term = Term, Type = response, Reject = true });
        }
    }

    private void StepCandidate(Message message)
    {
        var expectedResponse = Role == RaftRole.PreCandidate ? MessageType.PreVoteResponse : MessageType.VoteResponse;
        switch (message.Type)
        {
            case MessageType.Propose:
                throw new ProposalDroppedException("no leader");
            case MessageType.Append:
                BecomeFollower(message.Term, message.From);
                HandleAppend(message);
                break;
            case MessageType.Heartbeat:
                BecomeFollower(message.Term, message.From);
                HandleHeartbeat(message);
                break;
            case MessageType.Snapshot:
                BecomeFollower(message.Term, message.From);
                HandleSnapshot(message);
                break;
            case MessageType.VoteResponse or MessageType.PreVoteResponse when message.Type == expectedResponse:
                switch (Poll(message.From, !message.Reject))
                {
                    case ElectionResult.Won when Role == RaftRole.PreCandidate:
                        StartElection(preVote: false, transfer: false);
                        break;
                    case ElectionResult.Won:
                        BecomeLeader();
                        BroadcastAppend();
                        break;
                    case ElectionResult.Lost:
                        // A pre-candidate's term never moved; a candidate keeps its new one.
                        BecomeFollower(Term, None);
                        break;
                }

                break;
            case MessageType.ReadIndex:
                throw new ProposalDroppedException("no leader to serve a read index");
        }
    }
}
