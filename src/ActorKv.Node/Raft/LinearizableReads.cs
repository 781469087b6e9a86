namespace ActorKv.Node.Raft;

/// <summary>
/// The linearizable reads waiting at one member: first for a read index, then for the member to
/// apply up to it. As etcd's read loop does, a member has one read-index request out at a time,
/// and the reads that arrive meanwhile go together in the next: under many readers it sends one
/// request, and its leader one heartbeat round, per round trip rather than per read. A read joins
/// only a request asked after it arrived, so the index covers every write acknowledged before
/// the read began.
/// </summary>
public sealed class LinearizableReads(ulong nodeId)
{
    // A leader takes a request it holds already as the same one, so contexts must not repeat
    // across this member's restarts (a restarted Raft actor counts from 1 again).
    private readonly string contextPrefix = $"{nodeId}-{Random.Shared.NextInt64():x}-";

    private sealed class Batch(List<TaskCompletionSource> completions, long askedAtTick)
    {
        public List<TaskCompletionSource> Completions { get; } = completions;

        public long AskedAtTick { get; set; } = askedAtTick;
    }

    private List<TaskCompletionSource> unasked = [];
    private readonly Dictionary<string, Batch> awaitingIndex = [];
    private readonly List<(ulong Index, TaskCompletionSource Completion)> awaitingApply = [];
    private long sequence;

    public void Add(TaskCompletionSource completion) => unasked.Add(completion);

    /// <summary>Reads wait to be asked for, and no request is out.</summary>
    public bool CanAsk => unasked.Count > 0 && awaitingIndex.Count == 0;

    /// <summary>Reads waiting for an index, by the request that asked it.</summary>
    public IEnumerable<string> ContextsAwaitingIndex => awaitingIndex.Keys;

    /// <summary>Every read not yet asked for, under one new request context; null unless <see cref="CanAsk"/>.</summary>
    public string? TakeBatch(long tick)
    {
        if (!CanAsk)
        {
            return null;
        }

        var context = contextPrefix + ++sequence;
        awaitingIndex[context] = new Batch(unasked, tick);
        unasked = [];
        return context;
    }

    /// <summary>The requests unanswered for <paramref name="retryTicks"/> ticks, each counted as asked again now.</summary>
    public List<string> TakeUnanswered(long tick, int retryTicks)
    {
        var unanswered = awaitingIndex.Where(pair => tick - pair.Value.AskedAtTick >= retryTicks).Select(pair => pair.Key).ToList();
        foreach (var context in unanswered)
        {
            awaitingIndex[context].AskedAtTick = tick;
        }

        return unanswered;
    }

    /// <summary>The request could not be asked: its reads fail with <paramref name="error"/>.</summary>
    public void Fail(string context, Exception error)
    {
        if (awaitingIndex.Remove(context, out var batch))
        {
            foreach (var completion in batch.Completions)
            {
                completion.TrySetException(error);
            }
        }
    }

    /// <summary>The leader answered <paramref name="context"/>: its reads wait until <paramref name="index"/> is applied. A second answer to it finds nothing.</summary>
    public void IndexKnown(string context, ulong index)
    {
        if (awaitingIndex.Remove(context, out var batch))
        {
            awaitingApply.AddRange(batch.Completions.Select(completion => (index, completion)));
        }
    }

    /// <summary>Completes the reads whose index is applied, and forgets those whose clients gave up (the node's request timeout).</summary>
    public void Release(ulong appliedIndex)
    {
        awaitingApply.RemoveAll(read =>
        {
            if (read.Index > appliedIndex && !read.Completion.Task.IsCompleted)
            {
                return false;
            }

            read.Completion.TrySetResult();
            return true;
        });

        foreach (var context in awaitingIndex.Where(pair => pair.Value.Completions.TrueForAll(c => c.Task.IsCompleted)).Select(pair => pair.Key).ToList())
        {
            awaitingIndex.Remove(context);
        }
    }
}
