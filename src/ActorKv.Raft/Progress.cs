namespace ActorKv.Raft;

public enum ProgressState
{
    /// <summary>One append at a time until the follower's match is found.</summary>
    Probe,
    /// <summary>Appends are pipelined, up to the in-flight window.</summary>
    Replicate,
    /// <summary>A snapshot is on its way; appends wait.</summary>
    Snapshot,
}

/// <summary>The leader's view of one follower (etcd's tracker.Progress).</summary>
public sealed class Progress(ulong next, int maxInflight, bool isLearner)
{
    public ulong Match { get; private set; }

    public ulong Next { get; private set; } = next;

    public ProgressState State { get; private set; } = ProgressState.Probe;

    /// <summary>In Snapshot state: the index of the snapshot being sent.</summary>
    public ulong PendingSnapshot { get; private set; }

    /// <summary>Heard from since the last quorum check.</summary>
    public bool RecentActive { get; set; }

    /// <summary>In Probe state: an append is out and unanswered.</summary>
    public bool ProbeSent { get; set; }

    public bool IsLearner { get; set; } = isLearner;

    public Inflights Inflights { get; } = new(maxInflight);

    public void ResetState(ProgressState state)
    {
        ProbeSent = false;
        PendingSnapshot = 0;
        State = state;
        Inflights.Reset();
    }

    public void BecomeProbe()
    {
        // After a snapshot, probe from just past it.
        if (State == ProgressState.Snapshot)
        {
            var pending = PendingSnapshot;
            ResetState(ProgressState.Probe);
            Next = Math.Max(Match + 1, pending + 1);
        }
        else
        {
            ResetState(ProgressState.Probe);
            Next = Match + 1;
        }
    }

    public void BecomeReplicate()
    {
        ResetState(ProgressState.Replicate);
        Next = Match + 1;
    }

    public void BecomeSnapshot(ulong snapshotIndex)
    {
        ResetState(ProgressState.Snapshot);
        PendingSnapshot = snapshotIndex;
    }

    /// <summary>The follower acknowledged up to <paramref name="index"/>; false if that is old news.</summary>
    public bool MaybeUpdate(ulong index)
    {
        var updated = false;
        if (Match < index)
        {
            Match = index;
            updated = true;
            ProbeSent = false;
        }

        Next = Math.Max(Next, index + 1);
        return updated;
    }

    /// <summary>Pipelining: entries up to <paramref name="lastSent"/> are on their way.</summary>
    public void OptimisticUpdate(ulong lastSent) => Next = lastSent + 1;

    /// <summary>
    /// The follower rejected an append after <paramref name="rejected"/>; moves Next back to just
    /// past <paramref name="matchHint"/>. False when the rejection is stale.
    /// </summary>
    public bool MaybeDecreaseTo(ulong rejected, ulong matchHint)
    {
        if (State == ProgressState.Replicate)
        {
            if (rejected <= Match)
            {
                return false;
            }

            Next = Match + 1;
            return true;
        }

        if (Next - 1 != rejected)
        {
            return false;
        }

        Next = Math.Max(Math.Min(rejected, matchHint + 1), 1);
        ProbeSent = false;
        return true;
    }

    public bool IsPaused =>
        State switch
        {
            ProgressState.Probe => ProbeSent,
            ProgressState.Replicate => Inflights.Full,
            _ => true,
        };

    public override string ToString() => $"{State} match={Match} next={Next}{(IsLearner ? " learner" : "")}";
}

/// <summary>The last index of each append in flight to one follower, oldest first; bounded.</summary>
public sealed class Inflights(int capacity)
{
    private readonly Queue<ulong> lastIndexes = new();

    public int Capacity { get; } = capacity;

    public int Count => lastIndexes.Count;

    public bool Full => lastIndexes.Count >= Capacity;

    public void Add(ulong lastIndex)
    {
        if (Full)
        {
            throw new InvalidOperationException("the in-flight window is full");
        }

        lastIndexes.Enqueue(lastIndex);
    }

    /// <summary>Frees every append acknowledged by an acknowledgement of <paramref name="index"/>.</summary>
    public void FreeLessOrEqual(ulong index)
    {
        while (lastIndexes.Count > 0 && lastIndexes.Peek() <= index)
        {
            lastIndexes.Dequeue();
        }
    }

    /// <summary>Frees the oldest: a heartbeat response proves the follower is alive, so one more append may go.</summary>
    public void FreeFirstOne()
    {
        lastIndexes.TryDequeue(out _);
    }

    public void Reset() => lastIndexes.Clear();
}
