namespace ActorKv.Raft;

/// <summary>
/// Where the leader and one follower are a quorum (two or three voters), the follower commits an
/// entry as soon as it holds it durably itself and the leader has said that its own log holds it
/// durably: it does not wait for its acknowledgement to reach the leader and the commit index to
/// come back, one network crossing fewer before it applies (and answers a write asked of it).
/// The leader still commits on acknowledgements, as before. Safety: the entry is of the leader's
/// term, so Log Matching gives both logs the same prefix, and it is durable on two voters, which
/// meet every quorum of this configuration and of the next one (a change needs the next entry
/// committed); the leader decides whether they are a quorum, as when it counts acknowledgements.
/// </summary>
public sealed partial class RaftCore
{
    /// <summary>Follower: how far the leader of this term said its log is durable (0: not said).</summary>
    private ulong leaderDurable;

    /// <summary>Leader: the furthest it said its log is durable, in this term; a follower may have committed that far.</summary>
    private ulong durableAnnounced;

    /// <summary>
    /// What a read index must cover: every entry committed anywhere. A follower may have committed
    /// (and answered) entries up to what this leader announced before this leader heard of them.
    /// </summary>
    private ulong CommittedAnywhere => Math.Max(log.Committed, durableAnnounced);

    /// <summary>Leader, after a write of its own log: tell the followers that lag behind it.</summary>
    private void SendDurableNotices()
    {
        if (Quorum != 2 || !Promotable)
        {
            return;
        }

        var durable = log.StableLastIndex;
        if (durable <= log.Committed || log.TermOrZero(durable) != Term)
        {
            return; // nothing a follower could commit before the commit index reaches it
        }

        Span<ulong> buffer = progress.Count <= MembersOnStack ? stackalloc ulong[MembersOnStack] : new ulong[progress.Count];
        foreach (var id in OtherMembersInIdOrder(buffer, votersOnly: true))
        {
            var peer = progress[id];
            if (peer.State == ProgressState.Replicate && peer.Match < durable)
            {
                durableAnnounced = durable;
                Send(new Message { To = id, Type = MessageType.LeaderDurable, Index = durable });
            }
        }
    }

    private void HandleLeaderDurable(Message message)
    {
        if (message.From != Lead)
        {
            return;
        }

        leaderDurable = Math.Max(leaderDurable, message.Index);
        CommitDurablyHeldEntries();
    }

    /// <summary>Follower: commit what both this log and the leader's hold durably, if it is of the leader's term.</summary>
    private void CommitDurablyHeldEntries()
    {
        if (leaderDurable > 0)
        {
            log.MaybeCommit(Math.Min(leaderDurable, log.StableLastIndex), Term);
        }
    }
}
