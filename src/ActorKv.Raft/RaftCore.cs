namespace ActorKv.Raft;

/// <summary>A proposal the core would not take (no leader, a transfer under way, a conf change pending).</summary>
public sealed class ProposalDroppedException(string reason) : Exception("raft proposal dropped: " + reason);

/// <summary>
/// The Raft algorithm and nothing else, after etcd's raft library: input is <see cref="Tick"/> and
/// <see cref="Step"/> (messages from peers, local requests); output is a <see cref="Ready"/> that
/// the owner persists, sends and applies before calling <see cref="Advance"/>. No I/O, no clock,
/// no threads; randomness comes from the configured <see cref="Random"/>. One thread owns it.
/// Invariant violations throw in every build: a core that broke one must not go on.
/// </summary>
public sealed partial class RaftCore
{
    public const ulong None = 0;

    // Scratch space for member ids and match indexes on the hot paths: on the stack up to this
    // many members (any real cluster), on the heap beyond.
    private const int MembersOnStack = 32;

    private static readonly byte[] CampaignTransfer = "CampaignTransfer"u8.ToArray();

    private readonly RaftConfig config;
    private readonly RaftLog log;
    private readonly Dictionary<ulong, Progress> progress = [];
    private readonly HashSet<ulong> votesGranted = [];
    private readonly HashSet<ulong> votesRejected = [];
    private readonly List<Message> outbox = [];
    private readonly List<ReadState> readStates = [];

    private int electionElapsed;
    private int heartbeatElapsed;
    private int randomizedElectionTimeout;
    private ulong pendingConfIndex;
    private ulong leadTransferee;
    // A leader's proposals since the last Ready, not yet sent to the followers (SendOwedAppends).
    private bool appendsOwed;
    private SoftState previousSoftState;
    private HardState previousHardState;

    public RaftCore(RaftConfig config)
    {
        config.Validate();
        this.config = config;
        log = new RaftLog(config.Storage, config.MaxCommittedBytesPerReady);
        var snapshotConf = config.Storage.Snapshot.Metadata.ConfState;
        var confState = config.AppliedConfState ?? (config.Storage.Snapshot.IsEmpty ? config.InitialConfState : snapshotConf);
        foreach (var voter in confState.Voters)
        {
            progress[voter] = NewProgress(isLearner: false);
        }

        foreach (var learner in confState.Learners)
        {
            progress[learner] = NewProgress(isLearner: true);
        }

        var hardState = config.Storage.HardState;
        if (!hardState.IsEmpty)
        {
            Term = hardState.Term;
            Vote = hardState.Vote;
            log.CommitTo(hardState.Commit);
        }

        if (config.Applied > 0)
        {
            log.AppliedTo(config.Applied);
        }

        BecomeFollower(Term, None);
        previousSoftState = SoftState;
        previousHardState = HardState;
    }

    public ulong Id => config.Id;

    public ulong Term { get; private set; }

    public ulong Vote { get; private set; }

    public ulong Lead { get; private set; }

    public RaftRole Role { get; private set; }

    public ulong Committed => log.Committed;

    public ulong Applied => log.Applied;

    public ulong LastIndex => log.LastIndex;

    public ulong LeadTransferee => leadTransferee;

    /// <summary>
    /// On a leader, the index of the last membership change it may have in its log: until the
    /// application has applied that far, its view of the membership may miss a change.
    /// </summary>
    public ulong PendingConfIndex => pendingConfIndex;

    public SoftState SoftState => new(Lead, Role);

    public HardState HardState => new(Term, Vote, log.Committed);

    public ConfState ConfState => new(
        progress.Where(p => !p.Value.IsLearner).Select(p => p.Key).Order().ToList(),
        progress.Where(p => p.Value.IsLearner).Select(p => p.Key).Order().ToList());

    /// <summary>The leader's view of its followers (empty on other nodes); for status and tests.</summary>
    public IReadOnlyDictionary<ulong, Progress> Progress => progress;

    private Progress NewProgress(bool isLearner) => new(log.LastIndex + 1, config.MaxInflightAppends, isLearner);

    // Counted without LINQ: a leader asks on every acknowledgement and read.
    private int VoterCount
    {
        get
        {
            var count = 0;
            foreach (var peer in progress.Values)
            {
                count += peer.IsLearner ? 0 : 1;
            }

            return count;
        }
    }

    private int Quorum => QuorumOf(VoterCount);

    /// <summary>A majority of <paramref name="voters"/>.</summary>
    private static int QuorumOf(int voters) => (voters / 2) + 1;

    /// <summary>How many of <paramref name="ids"/> (votes, read acknowledgements) are voters now.</summary>
    private int VotersAmong(HashSet<ulong> ids)
    {
        var count = 0;
        foreach (var id in ids)
        {
            count += progress.TryGetValue(id, out var peer) && !peer.IsLearner ? 1 : 0;
        }

        return count;
    }

    /// <summary>
    /// The other members' ids in ascending order (so that a seeded run sends in the same order),
    /// written into <paramref name="buffer"/>, which holds at least <c>progress.Count</c> ids.
    /// </summary>
    private Span<ulong> OtherMembersInIdOrder(Span<ulong> buffer, bool votersOnly = false)
    {
        var count = 0;
        foreach (var (id, peer) in progress)
        {
            if (id != Id && !(votersOnly && peer.IsLearner))
            {
                buffer[count++] = id;
            }
        }

        var members = buffer[..count];
        members.Sort();
        return members;
    }

    /// <summary>A voter that is still a member may campaign; learners and removed nodes may not.</summary>
    private bool Promotable => progress.TryGetValue(Id, out var self) && !self.IsLearner;

    private void Send(Message message)
    {
        var isVote = message.Type is MessageType.Vote or MessageType.VoteResponse or MessageType.PreVote or MessageType.PreVoteResponse;
        if (isVote && message.Term == 0)
        {
            throw new InvalidOperationException($"a {message.Type} must carry a term");
        }

        // Votes carry the term they are for; proposals and read-index requests forwarded to the
        // leader keep term 0: they are local requests there. One copy either way.
        outbox.Add(isVote || message.Type is MessageType.Propose or MessageType.ReadIndex
            ? message with { From = Id }
            : message with { From = Id, Term = Term });
    }

    /// <summary>Advances the clock by one tick: election timeout on followers, heartbeats on the leader.</summary>
    public void Tick()
    {
        if (Role == RaftRole.Leader)
        {
            TickHeartbeat();
        }
        else
        {
            TickElection();
        }
    }

    private void TickElection()
    {
        electionElapsed++;
        if (Promotable && electionElapsed >= randomizedElectionTimeout)
        {
            electionElapsed = 0;
            Step(new Message { Type = MessageType.Hup, From = Id });
        }
    }

    private void TickHeartbeat()
    {
        heartbeatElapsed++;
        electionElapsed++;
        if (electionElapsed >= config.ElectionTicks)
        {
            electionElapsed = 0;
            if (config.CheckQuorum)
            {
                Step(new Message { Type = MessageType.CheckQuorum, From = Id });
            }

            // A transfer that did not finish within an election timeout is abandoned.
            if (Role == RaftRole.Leader && leadTransferee != None)
            {
                leadTransferee = None;
            }
        }

        if (Role != RaftRole.Leader)
        {
            return;
        }

        if (heartbeatElapsed >= config.HeartbeatTicks)
        {
            heartbeatElapsed = 0;
            Step(new Message { Type = MessageType.Beat, From = Id });
        }
    }

    private void Reset(ulong term)
    {
        if (Term != term)
        {
            Term = term;
            Vote = None;
        }

        Lead = None;
        electionElapsed = 0;
        heartbeatElapsed = 0;
        randomizedElectionTimeout = config.ElectionTicks + config.Random.Next(config.ElectionTicks);
        leadTransferee = None;
        appendsOwed = false;
        leaderDurable = 0;
        durableAnnounced = 0;
        votesGranted.Clear();
        votesRejected.Clear();
        foreach (var (id, peer) in progress.ToList())
        {
            var fresh = NewProgress(peer.IsLearner);
            if (id == Id)
            {
                fresh.MaybeUpdate(log.LastIndex);
            }

            progress[id] = fresh;
        }

        pendingConfIndex = 0;
        ResetReadOnly();
    }

    private void BecomeFollower(ulong term, ulong lead)
    {
        Reset(term);
        Lead = lead;
        Role = RaftRole.Follower;
    }

    private void BecomePreCandidate()
    {
        if (Role == RaftRole.Leader)
        {
            throw new InvalidOperationException("a leader cannot become a pre-candidate");
        }

        // The term stays: a pre-election changes nothing another node could notice.
        votesGranted.Clear();
        votesRejected.Clear();
        Lead = None;
        Role = RaftRole.PreCandidate;
    }

    private void BecomeCandidate()
    {
        if (Role == RaftRole.Leader)
        {
            throw new InvalidOperationException("a leader cannot become a candidate");
        }

        Reset(Term + 1);
        Vote = Id;
        Role = RaftRole.Candidate;
    }

    private void BecomeLeader()
    {
        if (Role == RaftRole.Follower)
        {
            throw new InvalidOperationException("a follower cannot become leader without an election");
        }

        Reset(Term);
        Lead = Id;
        Role = RaftRole.Leader;
        progress[Id].BecomeReplicate();
        // Conf changes in the log may not be applied yet: allow no new one before them.
        pendingConfIndex = log.LastIndex;
        // An entry of its own term, so that earlier entries can commit (Raft §5.4.2).
        AppendEntries([new Entry(0, 0)]);
    }

    /// <summary>The state changes the owner must act on. Take it only when <see cref="HasReady"/>.</summary>
    public Ready GetReady()
    {
        SendOwedAppends();
        var softState = SoftState;
        var hardState = HardState;
        var ready = new Ready(
            softState != previousSoftState ? softState : null,
            hardState != previousHardState ? hardState : null,
            log.UnstableEntries,
            log.UnstableSnapshot,
            log.NextCommittedEntries(),
            outbox.ToList(),
            readStates.ToList());
        outbox.Clear();
        readStates.Clear();
        previousSoftState = softState;
        previousHardState = hardState;
        return ready;
    }

    public bool HasReady =>
        SoftState != previousSoftState
        || HardState != previousHardState
        || outbox.Count > 0
        || appendsOwed
        || readStates.Count > 0
        || log.HasUnstableEntries
        || log.UnstableSnapshot is not null
        || log.HasNextCommittedEntries;

    /// <summary>The owner has persisted, sent and applied what <paramref name="ready"/> asked.</summary>
    public void Advance(Ready ready)
    {
        // Applied up to the last committed entry handed out, or to a snapshot that replaced them.
        var appliedCursor = ready.CommittedEntries.Count > 0 ? ready.CommittedEntries[^1].Index
            : ready.Snapshot?.Metadata.Index ?? 0;
        if (appliedCursor > log.Applied)
        {
            log.AppliedTo(appliedCursor);
        }

        if (ready.Entries.Count > 0)
        {
            var last = ready.Entries[^1];
            log.StableTo(last.Index, last.Term);
        }

        if (ready.Snapshot is { } snapshot)
        {
            log.StableSnapshotTo(snapshot.Metadata.Index);
        }

        if (ready.Entries.Count > 0 || ready.Snapshot is not null)
        {
            // The durable log grew (RaftCore.DurableCommit).
            if (Role == RaftRole.Leader)
            {
                SendDurableNotices();
            }
            else if (Role == RaftRole.Follower)
            {
                CommitDurablyHeldEntries();
            }
        }
    }
}
