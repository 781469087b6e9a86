using ActorKv.Mvcc;
using Akka.Actor;
using Etcdserverpb;

namespace ActorKv.Node.Watch;

public static class WatchProtocol
{
    /// <summary>A batch the apply side committed: its events in revision order, and the store's revision after it.</summary>
    public sealed record Applied(IReadOnlyList<MvccEvent> Events, long Revision);

    /// <summary>The store was replaced by a leader's snapshot: every watcher catches up from the store.</summary>
    public sealed record StoreReplaced(long Revision);

    /// <summary>A watch to start; the hub answers the stream with the created response, then events.</summary>
    public sealed record Create(
        IActorRef Stream,
        long WatchId,
        byte[] Key,
        byte[]? RangeEnd,
        long StartRevision,
        bool NoPut,
        bool NoDelete,
        bool PrevKv,
        bool ProgressNotify,
        int Epoch = 0,
        bool Resumed = false);

    /// <summary>
    /// The hub was restarted and has no watchers: every stream creates its watches again
    /// (<see cref="Create.Resumed"/>: no second created response), from the first revision its
    /// client has not been sent.
    /// </summary>
    public sealed record HubRestarted
    {
        public static readonly HubRestarted Instance = new();
    }

    public sealed record Cancel(IActorRef Stream, long WatchId);

    /// <summary>The stream ended: its watches go.</summary>
    public sealed record StreamClosed(IActorRef Stream);

    /// <summary>
    /// The stream could not take a response of this watch (its client reads too slowly): send
    /// the watch nothing more until it is resynced (etcd's victim watchers).
    /// </summary>
    public sealed record Park(IActorRef Stream, long WatchId, int Epoch);

    /// <summary>
    /// The stream's client caught up: replay a parked watch from <paramref name="FromRevision"/>
    /// out of the store, in a new epoch.
    /// </summary>
    public sealed record Resync(IActorRef Stream, long WatchId, long FromRevision, int Epoch);

    /// <summary>A response for one watch of a stream; responses of an older epoch are stale.</summary>
    public sealed record Deliver(long WatchId, int Epoch, WatchResponse Response, long FirstRevision);

    /// <summary>
    /// The hub's responses for one stream from one step (a committed batch, a catch-up step),
    /// in order: one actor message per stream rather than one per watcher.
    /// </summary>
    public sealed record Deliveries(List<Deliver> Responses);

    /// <summary>Catch unsynced watchers up from the store.</summary>
    public sealed record SyncTick
    {
        public static readonly SyncTick Instance = new();
    }

    /// <summary>Time to send progress notifications to quiet watchers that asked for them.</summary>
    public sealed record ProgressTick
    {
        public static readonly ProgressTick Instance = new();
    }
}
