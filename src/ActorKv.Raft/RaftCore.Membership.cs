namespace ActorKv.Raft;

public sealed partial class RaftCore
{
    private void HandleTransferLeader(Message message)
    {
        var transferee = message.From;
        if (!progress.TryGetValue(transferee, out var peer) || peer.IsLearner)
        {
            return;
        }

        if (leadTransferee != None)
        {
            if (leadTransferee == transferee)
            {
                return; // already under way
            }

            leadTransferee = None;
        }

        if (transferee == Id)
        {
            return;
        }

        // The transfer must finish within an election timeout (see TickHeartbeat).
        electionElapsed = 0;
        leadTransferee = transferee;
        if (peer.Match == log.LastIndex)
        {
            SendTimeoutNow(transferee);
        }
        else
        {
            SendAppend(transferee);
        }
    }

    private void SendTimeoutNow(ulong to) => Send(new Message { To = to, Type = MessageType.TimeoutNow });

    /// <summary>
    /// Applies a committed membership change (one at a time: a leader accepts no new change until
    /// the previous one is applied). AddNode on a learner promotes it; removing the last voter is
    /// ignored, since it would leave nobody to elect a leader (applications refuse it up front).
    /// Applying a change again is harmless, so a restarted node may replay changes its state
    /// machine already holds. Returns the new membership.
    /// </summary>
    public ConfState ApplyConfChange(ConfChange change)
    {
        switch (change.Type)
        {
            case ConfChangeType.AddNode:
                if (progress.TryGetValue(change.NodeId, out var existing))
                {
                    existing.IsLearner = false;
                }
                else
                {
                    AddProgress(change.NodeId, isLearner: false);
                }

                break;
            case ConfChangeType.AddLearnerNode:
                if (!progress.ContainsKey(change.NodeId))
                {
                    AddProgress(change.NodeId, isLearner: true);
                }

                break;
            case ConfChangeType.RemoveNode:
                if (progress.TryGetValue(change.NodeId, out var removed) && !removed.IsLearner && VoterCount == 1)
                {
                    break;
                }

                progress.Remove(change.NodeId);
                if (Role == RaftRole.Leader && change.NodeId == Id)
                {
                    // A leader that is no longer a member must not go on leading: its heartbeats
                    // would keep the members from electing one of their own.
                    BecomeFollower(Term, None);
                }
                else if (Role == RaftRole.Leader)
                {
                    if (leadTransferee == change.NodeId)
                    {
                        leadTransferee = None;
                    }

                    // A smaller quorum may commit more now.
                    if (progress.ContainsKey(Id) && MaybeCommit())
                    {
                        BroadcastAppend();
                    }
                }

                break;
            case ConfChangeType.UpdateNode:
                break;
        }

        return ConfState;
    }

    private void AddProgress(ulong id, bool isLearner)
    {
        var added = new Progress(log.LastIndex, config.MaxInflightAppends, isLearner) { RecentActive = true };
        progress[id] = added;
        if (Role == RaftRole.Leader && id != Id)
        {
            SendAppend(id);
        }
    }
}
