using System.Diagnostics;
using ActorKv.Mvcc;
using ActorKv.Node.Apply;
using ActorKv.Node.Mapping;
using ActorKv.Storage.Lmdb;
using Akka.Actor;
using Akka.Event;
using Etcdserverpb;
using Google.Protobuf;

namespace ActorKv.Node.Watch;

/// <summary>
/// Every watcher of this member (etcd's watchableStore). Synced watchers get events straight
/// from the apply path, one response per revision; unsynced ones (a start revision in the past,
/// or a stream that could not keep up) catch up from the store in bounded chunks, and become
/// synced when they reach the hub's revision. The hub alone decides what each watcher has been
/// sent, so events arrive in revision order, without gaps or duplicates. Runs on the storage
/// dispatcher: catching up reads LMDB.
/// </summary>
public sealed class WatchHub : ReceiveActor, IWithTimers
{
    /// <summary>Revisions' events in one catch-up response at most (etcd: 1000 revisions).</summary>
    private const int CatchUpEventsPerResponse = 1000;

    /// <summary>
    /// Unsynced watchers served per sync step, so that one step stays short. 100 made 10,000
    /// watchers replayed after a client lagged wait up to 10 s (docs/benchmarks.md).
    /// </summary>
    private const int WatchersPerSyncStep = 1000;

    private sealed class Watcher(WatchProtocol.Create create)
    {
        public WatchProtocol.Create Spec { get; } = create;
        public long NextRevision { get; set; }
        public bool Synced { get; set; }

        /// <summary>Its stream's client is behind: nothing is sent to it until its stream resyncs it.</summary>
        public bool Parked { get; set; }

        public bool WaitsForCatchUp => !Synced && !Parked;
        public int Epoch { get; set; }
        public bool SentSinceProgress { get; set; }
    }

    private readonly LmdbMvccStore store;
    private readonly ApplyVisibility visibility;
    private readonly TimeSpan syncInterval;
    private readonly ILoggingAdapter log = Context.GetLogger();
    private readonly Dictionary<(IActorRef Stream, long Id), Watcher> watchers = [];
    private readonly Dictionary<IActorRef, List<WatchProtocol.Deliver>> outgoing = [];
    private long revision;

    public WatchHub(LmdbMvccStore store, ApplyVisibility visibility, TimeSpan progressNotifyInterval, TimeSpan syncInterval)
    {
        this.store = store;
        this.visibility = visibility;
        this.syncInterval = syncInterval;
        using (var view = store.BeginRead())
        {
            revision = view.Meta.CurrentRevision;
        }

        Receive<WatchProtocol.Create>(OnCreate);
        Receive<WatchProtocol.Cancel>(cancel => watchers.Remove((cancel.Stream, cancel.WatchId)));
        Receive<WatchProtocol.StreamClosed>(closed =>
        {
            foreach (var key in watchers.Keys.Where(k => k.Stream.Equals(closed.Stream)).ToList())
            {
                watchers.Remove(key);
            }
        });
        Receive<WatchProtocol.Applied>(OnApplied);
        Receive<WatchProtocol.StoreReplaced>(replaced =>
        {
            revision = replaced.Revision;
            foreach (var watcher in watchers.Values)
            {
                watcher.Synced = false;
            }

            ScheduleSync();
        });
        Receive<WatchProtocol.Park>(park =>
        {
            if (watchers.TryGetValue((park.Stream, park.WatchId), out var watcher) && watcher.Epoch == park.Epoch)
            {
                watcher.Parked = true;
                watcher.Synced = false;
            }
        });
        Receive<WatchProtocol.Resync>(resync =>
        {
            if (watchers.TryGetValue((resync.Stream, resync.WatchId), out var watcher) && watcher.Epoch == resync.Epoch)
            {
                watcher.Epoch++;
                watcher.NextRevision = resync.FromRevision;
                watcher.Parked = false;
                watcher.Synced = false;
                ScheduleSync();
            }
        });
        Receive<WatchProtocol.SyncTick>(_ => SyncStep());
        Receive<WatchProtocol.ProgressTick>(_ => NotifyProgress());
        this.progressNotifyInterval = progressNotifyInterval;
    }

    private readonly TimeSpan progressNotifyInterval;

    protected override void PreStart() =>
        Timers.StartPeriodicTimer(WatchProtocol.ProgressTick.Instance, WatchProtocol.ProgressTick.Instance, progressNotifyInterval);

    /// <summary>Watchers live only in this actor: after a restart the streams must create them again.</summary>
    protected override void PostRestart(Exception reason)
    {
        base.PostRestart(reason);
        log.Warning("Watch hub restarted after {0}: streams create their watches again", reason.GetType().Name);
        Context.System.EventStream.Publish(WatchProtocol.HubRestarted.Instance);
    }

    public ITimerScheduler Timers { get; set; } = null!;

    /// <summary>
    /// After each message: what it queued goes out, and the apply actor learns whether there are
    /// watchers (their events wait for the batch's commit, so with watchers it commits every batch
    /// at once: see <see cref="ApplyVisibility"/>).
    /// </summary>
    protected override bool AroundReceive(Receive receive, object message)
    {
        var handled = base.AroundReceive(receive, message);
        Flush();
        visibility.SetWatchers(watchers.Count);
        return handled;
    }

    public static Props Props(LmdbMvccStore store, ApplyVisibility visibility, TimeSpan progressNotifyInterval, TimeSpan syncInterval, string dispatcher) =>
        Akka.Actor.Props.Create(() => new WatchHub(store, visibility, progressNotifyInterval, syncInterval)).WithDispatcher(dispatcher);

    private void OnCreate(WatchProtocol.Create create)
    {
        var watcher = new Watcher(create)
        {
            NextRevision = create.StartRevision == 0 ? revision + 1 : create.StartRevision,
            Epoch = create.Epoch,
        };
        watcher.Synced = watcher.NextRevision > revision;
        watchers[(create.Stream, create.WatchId)] = watcher;
        if (!create.Resumed)
        {
            Send(watcher, new WatchResponse { Header = new ResponseHeader { Revision = revision }, WatchId = create.WatchId, Created = true }, firstRevision: 0);
        }

        if (!watcher.Synced)
        {
            ScheduleSync();
        }
    }

    private void OnApplied(WatchProtocol.Applied applied)
    {
        revision = applied.Revision;
        if (applied.Events.Count == 0 || watchers.Count == 0)
        {
            AdvanceSynced(applied.Revision);
            return;
        }

        using var events = new EventConverter(store);

        // One response per revision, as etcd notifies once per write transaction.
        foreach (var group in applied.Events.GroupBy(e => e.Revision.Main))
        {
            foreach (var watcher in watchers.Values.Where(w => w.Synced && w.NextRevision <= group.Key))
            {
                List<Mvccpb.Event>? matched = null;
                foreach (var change in group)
                {
                    if (Matches(watcher.Spec, change))
                    {
                        (matched ??= []).Add(events.Convert(change, watcher.Spec.PrevKv));
                    }
                }

                if (matched is not null)
                {
                    var response = new WatchResponse { Header = new ResponseHeader { Revision = group.Key }, WatchId = watcher.Spec.WatchId };
                    response.Events.AddRange(matched);
                    Send(watcher, response, group.Key);
                }
            }
        }

        AdvanceSynced(applied.Revision);
    }

    private void AdvanceSynced(long through)
    {
        foreach (var watcher in watchers.Values.Where(w => w.Synced && w.NextRevision <= through))
        {
            watcher.NextRevision = through + 1;
        }
    }

    private void ScheduleSync()
    {
        if (!Timers.IsTimerActive(WatchProtocol.SyncTick.Instance))
        {
            Timers.StartSingleTimer(WatchProtocol.SyncTick.Instance, WatchProtocol.SyncTick.Instance, syncInterval);
        }
    }

    /// <summary>Catches a bounded number of unsynced watchers up by one chunk each.</summary>
    private void SyncStep()
    {
        var unsynced = watchers.Values.Where(w => w.WaitsForCatchUp).Take(WatchersPerSyncStep).ToList();
        if (unsynced.Count == 0)
        {
            return;
        }

        var started = Stopwatch.GetTimestamp();
        var waitingBefore = watchers.Values.Count(w => w.WaitsForCatchUp);
        using (var view = store.BeginRead())
        using (var events = new EventConverter(view))
        {
            // Watchers of one range behind by the same amount (a stream's watches replayed
            // together, many clients on one prefix) share one read of the history.
            var chunks = new Dictionary<(string Key, string? RangeEnd, long From), HistoryChunk?>();
            foreach (var watcher in unsynced)
            {
                var spec = watcher.Spec;
                var chunkKey = (Convert.ToHexString(spec.Key), spec.RangeEnd is null ? null : Convert.ToHexString(spec.RangeEnd), watcher.NextRevision);
                if (!chunks.TryGetValue(chunkKey, out var chunk))
                {
                    chunks[chunkKey] = chunk = ReadHistory(view, watcher);
                }

                CatchUp(view, events, watcher, chunk);
            }
        }

        var waitingAfter = watchers.Values.Count(w => w.WaitsForCatchUp);
        if (waitingAfter > 0)
        {
            // As etcd's sync loop: while steps make progress, the next follows after as long as
            // this one took (fair to the apply path); otherwise after the sync interval.
            var wait = waitingAfter < waitingBefore ? Stopwatch.GetElapsedTime(started) : syncInterval;
            Timers.StartSingleTimer(WatchProtocol.SyncTick.Instance, WatchProtocol.SyncTick.Instance, wait);
        }
    }

    /// <summary>The watcher's next chunk of history, or null when it is compacted.</summary>
    private HistoryChunk? ReadHistory(LmdbReadView view, Watcher watcher)
    {
        try
        {
            return MvccEngine.History(view, watcher.Spec.Key, watcher.Spec.RangeEnd, watcher.NextRevision, revision, CatchUpEventsPerResponse);
        }
        catch (MvccException compacted) when (compacted.Error == MvccError.Compacted)
        {
            return null;
        }
    }

    private void CatchUp(LmdbReadView view, EventConverter events, Watcher watcher, HistoryChunk? chunk)
    {
        if (chunk is null)
        {
            // etcd cancels a watcher whose history is compacted, naming the compaction revision.
            Send(watcher, new WatchResponse
            {
                Header = new ResponseHeader { Revision = revision },
                WatchId = watcher.Spec.WatchId,
                Canceled = true,
                CompactRevision = view.Meta.CompactedRevision,
            }, firstRevision: 0);
            watchers.Remove((watcher.Spec.Stream, watcher.Spec.WatchId));
            return;
        }

        var matched = chunk.Events.Where(e => Matches(watcher.Spec, e)).ToList();
        if (matched.Count > 0)
        {
            var response = new WatchResponse { Header = new ResponseHeader { Revision = revision }, WatchId = watcher.Spec.WatchId };
            response.Events.AddRange(matched.Select(e => events.Convert(e, watcher.Spec.PrevKv)));
            Send(watcher, response, matched[0].Revision.Main);
        }

        watcher.NextRevision = chunk.ReadThrough + 1;
        watcher.Synced = watcher.NextRevision > revision;
    }

    /// <summary>etcd's progress notification: an empty response to quiet watchers that asked for it.</summary>
    private void NotifyProgress()
    {
        foreach (var watcher in watchers.Values.Where(w => w.Spec.ProgressNotify && w.Synced))
        {
            if (!watcher.SentSinceProgress)
            {
                Send(watcher, new WatchResponse { Header = new ResponseHeader { Revision = revision }, WatchId = watcher.Spec.WatchId }, firstRevision: 0);
            }

            watcher.SentSinceProgress = false;
        }
    }

    /// <summary>Queues a response for the watcher's stream; <see cref="Flush"/> sends them.</summary>
    private void Send(Watcher watcher, WatchResponse response, long firstRevision)
    {
        watcher.SentSinceProgress = true;
        if (!outgoing.TryGetValue(watcher.Spec.Stream, out var responses))
        {
            outgoing[watcher.Spec.Stream] = responses = [];
        }

        responses.Add(new WatchProtocol.Deliver(watcher.Spec.WatchId, watcher.Epoch, response, firstRevision));
    }

    /// <summary>Sends each stream what this step queued for it, as one message.</summary>
    private void Flush()
    {
        foreach (var (stream, responses) in outgoing)
        {
            stream.Tell(new WatchProtocol.Deliveries(responses));
        }

        outgoing.Clear();
    }

    private static bool Matches(WatchProtocol.Create spec, MvccEvent change) =>
        MvccEngine.InRange(change.Kv.Key, spec.Key, spec.RangeEnd)
        && !(spec.NoPut && change.Type == MvccEventType.Put)
        && !(spec.NoDelete && change.Type == MvccEventType.Delete);

    /// <summary>
    /// Converts store events to wire events once per step, however many watchers get them (the
    /// messages are only serialized, never changed), reading a previous version only for
    /// watchers that asked for prev_kv.
    /// </summary>
    private sealed class EventConverter : IDisposable
    {
        private readonly LmdbMvccStore? store;
        private readonly bool ownsView;
        private readonly Dictionary<MvccEvent, Mvccpb.Event> plain = new(ReferenceEqualityComparer.Instance);
        private readonly Dictionary<MvccEvent, Mvccpb.Event> withPrevious = new(ReferenceEqualityComparer.Instance);
        private LmdbReadView? view;

        /// <summary>Opens a read transaction of its own, and only when a previous version is needed.</summary>
        public EventConverter(LmdbMvccStore store)
        {
            this.store = store;
            ownsView = true;
        }

        public EventConverter(LmdbReadView view) => this.view = view;

        public Mvccpb.Event Convert(MvccEvent change, bool prevKv)
        {
            var cache = prevKv ? withPrevious : plain;
            if (cache.TryGetValue(change, out var converted))
            {
                return converted;
            }

            converted = new Mvccpb.Event
            {
                Type = change.Type == MvccEventType.Put ? Mvccpb.Event.Types.EventType.Put : Mvccpb.Event.Types.EventType.Delete,
                Kv = change.Kv.ToProto(),
            };
            if (prevKv)
            {
                view ??= store!.BeginRead();
                var previous = MvccEngine.VersionBefore(view, change.Kv.Key, change.Revision.Main);
                if (previous is not null)
                {
                    converted.PrevKv = previous.ToProto();
                }
            }

            cache[change] = converted;
            return converted;
        }

        public void Dispose()
        {
            if (ownsView)
            {
                view?.Dispose();
            }
        }
    }
}
