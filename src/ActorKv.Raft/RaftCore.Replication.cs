namespace ActorKv.Raft;

public sealed partial class RaftCore
{
    private void StepLeader(Message message)
    {
        switch (message.Type)
        {
            case MessageType.Beat:
                BroadcastHeartbeat(context: null);
                return;
            case MessageType.CheckQuorum:
                if (!QuorumActive())
                {
                    // Cut off from a majority: stop claiming leadership, so that reads served
                    // elsewhere stay linearizable and clients look for the real leader.
                    BecomeFollower(Term, None);
                }

                foreach (var (id, peer) in progress)
                {
                    peer.RecentActive = id == Id;
                }

                return;
            case MessageType.Propose:
                HandlePropose(message);
                return;
            case MessageType.ReadIndex:
                HandleReadIndexAtLeader(message);
                return;
            case MessageType.TransferLeader:
                HandleTransferLeader(message);
                return;
        }

        if (!progress.TryGetValue(message.From, out var peerProgress))
        {
            return; // a removed node
        }

        switch (message.Type)
        {
            case MessageType.AppendResponse:
                HandleAppendResponse(message, peerProgress);
                break;
            case MessageType.HeartbeatResponse:
                peerProgress.RecentActive = true;
                peerProgress.ProbeSent = false;
                if (peerProgress.State == ProgressState.Replicate && peerProgress.Inflights.Full)
                {
                    peerProgress.Inflights.FreeFirstOne();
                }

                if (peerProgress.Match < log.LastIndex)
                {
                    SendAppend(message.From);
                }

                if (message.Context is { Length: > 0 } context)
                {
                    HandleReadIndexAck(message.From, context, message.Index);
                }

                break;
            case MessageType.SnapshotStatus when peerProgress.State == ProgressState.Snapshot:
                // Either way, probe next; after a success wait for the follower's append answer.
                peerProgress.BecomeProbe();
                peerProgress.ProbeSent = !message.Reject;
                break;
            case MessageType.Unreachable when peerProgress.State == ProgressState.Replicate:
                // Whatever was in flight is likely lost.
                peerProgress.BecomeProbe();
                break;
        }
    }

    private void HandlePropose(Message message)
    {
        if (!progress.ContainsKey(Id))
        {
            throw new ProposalDroppedException("this node was removed from the cluster");
        }

        if (leadTransferee != None)
        {
            throw new ProposalDroppedException($"leadership is being transferred to {leadTransferee}");
        }

        var entries = message.Entries.ToList();
        for (var i = 0; i < entries.Count; i++)
        {
            if (entries[i].Type != EntryType.ConfChange)
            {
                continue;
            }

            if (pendingConfIndex > log.Applied)
            {
                throw new ProposalDroppedException("a previous membership change is not applied yet");
            }

            pendingConfIndex = log.LastIndex + (ulong)i + 1;
        }

        AppendEntries(entries);
        // Sent when the Ready is taken, so that every proposal stepped before it goes to a
        // follower in one append, acknowledged once (etcd sends an append per proposal).
        appendsOwed = true;
    }

    /// <summary>The appends that proposals stepped since the last Ready owe the followers.</summary>
    private void SendOwedAppends()
    {
        if (!appendsOwed)
        {
            return;
        }

        appendsOwed = false;
        Span<ulong> buffer = progress.Count <= MembersOnStack ? stackalloc ulong[MembersOnStack] : new ulong[progress.Count];
        foreach (var id in OtherMembersInIdOrder(buffer))
        {
            // Not if empty: pipelining on an acknowledgement may have sent a follower the new entries already.
            MaybeSendAppend(id, sendIfEmpty: false);
        }
    }

    private void AppendEntries(IReadOnlyList<Entry> entries)
    {
        var lastIndex = log.LastIndex;
        var stamped = entries.Select((e, i) => e with { Term = Term, Index = lastIndex + 1 + (ulong)i }).ToList();
        lastIndex = log.Append(stamped);
        progress[Id].MaybeUpdate(lastIndex);
        // A single voter commits at once.
        if (MaybeCommit())
        {
            ReleaseReadsAwaitingFirstCommit();
        }
    }

    private void HandleAppendResponse(Message message, Progress peer)
    {
        peer.RecentActive = true;
        if (message.Reject)
        {
            // Fast backtracking: the follower's hint skips every entry of a conflicting term.
            var nextProbe = message.RejectHint;
            if (message.LogTerm > 0)
            {
                nextProbe = log.FindConflictByTerm(message.RejectHint, message.LogTerm);
            }

            if (peer.MaybeDecreaseTo(message.Index, nextProbe))
            {
                if (peer.State == ProgressState.Replicate)
                {
                    peer.BecomeProbe();
                }

                SendAppend(message.From);
            }

            return;
        }

        var wasPaused = peer.IsPaused;
        if (!peer.MaybeUpdate(message.Index))
        {
            return;
        }

        switch (peer.State)
        {
            case ProgressState.Probe:
                peer.BecomeReplicate();
                break;
            case ProgressState.Snapshot when peer.Match >= peer.PendingSnapshot:
                peer.BecomeProbe();
                peer.BecomeReplicate();
                break;
            case ProgressState.Replicate:
                peer.Inflights.FreeLessOrEqual(message.Index);
                break;
        }

        if (MaybeCommit())
        {
            ReleaseReadsAwaitingFirstCommit();
            BroadcastAppend();
        }
        else if (wasPaused)
        {
            SendAppend(message.From);
        }

        // Pipelining: keep the window full while there is more to send.
        while (MaybeSendAppend(message.From, sendIfEmpty: false))
        {
        }

        if (message.From == leadTransferee && peer.Match == log.LastIndex)
        {
            SendTimeoutNow(message.From);
        }
    }

    /// <summary>Commits the highest index a quorum of voters holds, if it is of this term (Raft §5.4.2).</summary>
    private bool MaybeCommit()
    {
        // Runs on every acknowledgement: no LINQ, no allocation.
        Span<ulong> matches = progress.Count <= MembersOnStack ? stackalloc ulong[MembersOnStack] : new ulong[progress.Count];
        var voters = 0;
        foreach (var peer in progress.Values)
        {
            if (!peer.IsLearner)
            {
                matches[voters++] = peer.Match;
            }
        }

        if (voters == 0)
        {
            return false;
        }

        matches = matches[..voters];
        matches.Sort();
        // The highest index held by a quorum: ascending, the quorum-th from the top.
        var quorumIndex = matches[voters - QuorumOf(voters)];
        return log.MaybeCommit(quorumIndex, Term);
    }

    private bool QuorumActive()
    {
        var active = 0;
        foreach (var (id, peer) in progress)
        {
            active += !peer.IsLearner && (id == Id || peer.RecentActive) ? 1 : 0;
        }

        return active >= Quorum;
    }

    private void BroadcastAppend()
    {
        Span<ulong> buffer = progress.Count <= MembersOnStack ? stackalloc ulong[MembersOnStack] : new ulong[progress.Count];
        foreach (var id in OtherMembersInIdOrder(buffer))
        {
            SendAppend(id);
        }
    }

    private void SendAppend(ulong to) => MaybeSendAppend(to, sendIfEmpty: true);

    /// <summary>
    /// Sends the follower the entries it lacks (bounded by <see cref="RaftConfig.MaxAppendBytes"/>),
    /// or a snapshot when they are compacted away. False when nothing was sent.
    /// </summary>
    private bool MaybeSendAppend(ulong to, bool sendIfEmpty)
    {
        var peer = progress[to];
        if (peer.IsPaused)
        {
            return false;
        }

        ulong? previousTerm;
        IReadOnlyList<Entry> entries;
        try
        {
            previousTerm = log.Term(peer.Next - 1);
            entries = log.EntriesFrom(peer.Next, config.MaxAppendBytes);
        }
        catch (LogCompactedException)
        {
            previousTerm = null;
            entries = [];
        }

        if (previousTerm is null)
        {
            return SendSnapshot(to, peer);
        }

        if (entries.Count == 0 && !sendIfEmpty)
        {
            return false;
        }

        Send(new Message
        {
            To = to,
            Type = MessageType.Append,
            Index = peer.Next - 1,
            LogTerm = previousTerm.Value,
            Entries = entries,
            Commit = log.Committed,
        });
        if (entries.Count > 0)
        {
            switch (peer.State)
            {
                case ProgressState.Replicate:
                    var last = entries[^1].Index;
                    peer.OptimisticUpdate(last);
                    peer.Inflights.Add(last);
                    break;
                case ProgressState.Probe:
                    peer.ProbeSent = true;
                    break;
            }
        }

        return true;
    }

    private bool SendSnapshot(ulong to, Progress peer)
    {
        if (!peer.RecentActive)
        {
            // Not worth sending a snapshot to a node that may be down.
            return false;
        }

        var snapshot = log.Snapshot;
        if (snapshot.IsEmpty)
        {
            throw new InvalidOperationException($"entries for {to} are compacted but there is no snapshot");
        }

        peer.BecomeSnapshot(snapshot.Metadata.Index);
        Send(new Message { To = to, Type = MessageType.Snapshot, Snapshot = snapshot });
        return true;
    }

    /// <summary>Heartbeats to every other member; only <paramref name="readRequester"/>'s carries <paramref name="readIndex"/> (None: no one's).</summary>
    private void BroadcastHeartbeat(byte[]? context, ulong readRequester = None, ulong readIndex = 0)
    {
        Span<ulong> buffer = progress.Count <= MembersOnStack ? stackalloc ulong[MembersOnStack] : new ulong[progress.Count];
        foreach (var id in OtherMembersInIdOrder(buffer))
        {
            // Never tell a follower to commit past what it is known to have.
            var commit = Math.Min(progress[id].Match, log.Committed);
            Send(new Message { To = id, Type = MessageType.Heartbeat, Commit = commit, Context = context, Index = id == readRequester ? readIndex : 0 });
        }
    }

    private void StepFollower(Message message)
    {
        switch (message.Type)
        {
            case MessageType.Propose:
                if (Lead == None)
                {
                    throw new ProposalDroppedException("no leader");
                }

                Send(message with { To = Lead });
                break;
            case MessageType.Append:
                electionElapsed = 0;
                Lead = message.From;
                HandleAppend(message);
                break;
            case MessageType.Heartbeat:
                electionElapsed = 0;
                Lead = message.From;
                HandleHeartbeat(message);
                break;
            case MessageType.Snapshot:
                electionElapsed = 0;
                Lead = message.From;
                HandleSnapshot(message);
                break;
            case MessageType.LeaderDurable:
                HandleLeaderDurable(message);
                break;
            case MessageType.TransferLeader:
                if (Lead != None)
                {
                    Send(message with { To = Lead });
                }

                break;
            case MessageType.TimeoutNow:
                if (Promotable)
                {
                    // The leader hands over: campaign at once, without a pre-vote and past leases.
                    Hup(transfer: true);
                }

                break;
            case MessageType.ReadIndex:
                if (Lead == None)
                {
                    throw new ProposalDroppedException("no leader to serve a read index");
                }

                Send(message with { To = Lead });
                break;
            case MessageType.ReadIndexResponse:
                if (message.Entries.Count == 1)
                {
                    readStates.Add(new ReadState(message.Index, message.Entries[0].Data));
                }

                break;
        }
    }

    private void HandleAppend(Message message)
    {
        if (message.Index < log.Committed)
        {
            Send(new Message { To = message.From, Type = MessageType.AppendResponse, Index = log.Committed });
            return;
        }

        if (log.MaybeAppend(message.Index, message.LogTerm, message.Commit, message.Entries) is { } lastNewIndex)
        {
            Send(new Message { To = message.From, Type = MessageType.AppendResponse, Index = lastNewIndex });
            return;
        }

        // Reject, with a hint: the last index at or below the probe whose term could still match.
        var hint = log.FindConflictByTerm(Math.Min(message.Index, log.LastIndex), message.LogTerm);
        Send(new Message
        {
            To = message.From,
            Type = MessageType.AppendResponse,
            Index = message.Index,
            Reject = true,
            RejectHint = hint,
            LogTerm = log.TermOrZero(hint),
        });
    }

    private void HandleHeartbeat(Message message)
    {
        log.CommitTo(message.Commit);
        var indexTaken = 0UL;
        if (message.Index > 0 && message.Context is { Length: > 0 } context)
        {
            // Our own read request's index, sent after the leader received it, by a leader of the
            // term we are in (so we have voted for no newer one): with the leader, a quorum.
            readStates.Add(new ReadState(message.Index, context));
            indexTaken = message.Index;
        }

        Send(new Message { To = message.From, Type = MessageType.HeartbeatResponse, Context = message.Context, Index = indexTaken });
    }

    private void HandleSnapshot(Message message)
    {
        var snapshot = message.Snapshot ?? throw new InvalidOperationException("a snapshot message without a snapshot");
        if (Restore(snapshot))
        {
            Send(new Message { To = message.From, Type = MessageType.AppendResponse, Index = log.LastIndex });
        }
        else
        {
            Send(new Message { To = message.From, Type = MessageType.AppendResponse, Index = log.Committed });
        }
    }

    /// <summary>Replaces our log and membership by the snapshot, unless we already have what it covers.</summary>
    private bool Restore(Snapshot snapshot)
    {
        var metadata = snapshot.Metadata;
        if (metadata.Index <= log.Committed)
        {
            return false;
        }

        if (log.MatchTerm(metadata.Index, metadata.Term))
        {
            // We hold the snapshot's last entry: just commit up to it.
            log.CommitTo(metadata.Index);
            return false;
        }

        log.Restore(snapshot);
        progress.Clear();
        foreach (var voter in metadata.ConfState.Voters)
        {
            progress[voter] = NewProgress(isLearner: false);
        }

        foreach (var learner in metadata.ConfState.Learners)
        {
            progress[learner] = NewProgress(isLearner: true);
        }

        return true;
    }
}
