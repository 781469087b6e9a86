using System.Collections.Concurrent;
using Google.Protobuf;

namespace ActorKv.Node;

/// <summary>
/// Client writes waiting for their log entry to be applied, by proposal id (etcd's <c>wait.Wait</c>).
/// The gateway registers, the apply side completes; both run on different threads. Every member
/// applies every entry, and answers only the entries it proposed (<see cref="IsMine"/>).
/// </summary>
public sealed class ProposalWaiters(ulong memberId)
{
    private readonly ConcurrentDictionary<ulong, TaskCompletionSource<IMessage>> waiting = new();
    // Seeded from the clock so that ids of a restarted node do not repeat those of its last run.
    private long lastId = DateTime.UtcNow.Ticks;

    public int Count => waiting.Count;

    /// <summary>The member whose proposals these are: entries name it as their proposer.</summary>
    public ulong MemberId => memberId;

    public bool IsMine(ulong proposer) => proposer == memberId;

    public ulong Register(TaskCompletionSource<IMessage> completion)
    {
        var id = (ulong)Interlocked.Increment(ref lastId);
        waiting[id] = completion;
        return id;
    }

    /// <summary>Answers a waiter; entries proposed by another incarnation or node have none here.</summary>
    public void Complete(ulong id, IMessage response)
    {
        if (waiting.TryRemove(id, out var completion))
        {
            completion.TrySetResult(response);
        }
    }

    public void Fail(ulong id, Exception error)
    {
        if (waiting.TryRemove(id, out var completion))
        {
            completion.TrySetException(error);
        }
    }

    /// <summary>Drops a waiter whose client has stopped waiting (its request timed out).</summary>
    public void Forget(ulong id) => waiting.TryRemove(id, out _);

    public void FailAll(Exception error)
    {
        foreach (var id in waiting.Keys)
        {
            Fail(id, error);
        }
    }
}
