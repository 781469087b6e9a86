using Akka.Actor;

namespace ActorKv.Node.Apply;

/// <summary>
/// How far this member's applied writes are visible to readers of the store. On a Raft member
/// the apply actor answers a batch once it is applied in the store's open write transaction:
/// the Raft log already holds those entries durably on a majority, and a crash before the
/// transaction commits replays them from there. The transaction commits (one sync for many
/// batches) when the commit interval has passed, or at once when a reader or a watcher needs it.
/// etcd does the same (its backend commits every 100 ms) and lets readers see uncommitted
/// writes through a read buffer; here a reader calls <see cref="WaitVisibleAsync"/> first, so
/// that it sees every write answered before it started. On a single node every batch commits
/// before it is answered, and the wait never waits.
/// </summary>
public sealed class ApplyVisibility
{
    private long answered;
    private long visible;
    private int watchers;
    private IActorRef applier = ActorRefs.Nobody;

    /// <summary>The highest log index whose write has been answered.</summary>
    public ulong Answered => (ulong)Interlocked.Read(ref answered);

    /// <summary>The highest log index committed in the store, which new read transactions see.</summary>
    public ulong Visible => (ulong)Interlocked.Read(ref visible);

    /// <summary>Whether the watch hub has watchers: their events wait for the commit, which then happens at once.</summary>
    public bool HasWatchers => Volatile.Read(ref watchers) > 0;

    internal void Attach(IActorRef apply) => Volatile.Write(ref applier, apply);

    internal void PublishAnswered(ulong index) => RaiseTo(ref answered, index);

    internal void PublishVisible(ulong index)
    {
        RaiseTo(ref visible, index);
        RaiseTo(ref answered, index);
    }

    /// <summary>The watch hub's count of watchers.</summary>
    public void SetWatchers(int count) => Volatile.Write(ref watchers, count);

    /// <summary>
    /// Completes once everything answered so far is visible; at once when it already is.
    /// Otherwise asks the apply actor to commit now.
    /// </summary>
    public Task WaitVisibleAsync()
    {
        var target = Answered;
        if (Visible >= target)
        {
            return Task.CompletedTask;
        }

        var completion = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Volatile.Read(ref applier).Tell(new ApplyProtocol.MakeVisible(target, completion));
        return completion.Task;
    }

    private static void RaiseTo(ref long field, ulong index)
    {
        var value = (long)index;
        var current = Interlocked.Read(ref field);
        while (current < value)
        {
            var seen = Interlocked.CompareExchange(ref field, value, current);
            if (seen == current)
            {
                return;
            }

            current = seen;
        }
    }
}
