using ActorKv.Mvcc;
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
        public int Epoch { get; set; }
        public bool SentSinceProgress { get; set; }
    }

    private readonly LmdbMvccStore store;
    private readonly TimeSpan syncInterval;
    private readonly ILoggingAdapter log = Context.GetLogger();
    private readonly Dictionary<(IActorRef Stream, long Id), Watcher> watchers = [];
    private long revision;

    public WatchHub(LmdbMvccStore store, TimeSpan progressNotifyInterval, TimeSpan syncInterval)
    {
        this.store = store;
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
        Receive<WatchProtocol.Resync>(resync =>
        {
            if (watchers.TryGetValue((resync.Stream, resync.WatchId), out var watcher) && watcher.Epoch == resync.Epoch)
            {
                watcher.Epoch++;
                watcher.NextRevision = resync.FromRevision;
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

    public ITimerScheduler Timers { get; set; } = null!;

    public static Props Props(LmdbMvccStore store, TimeSpan progressNotifyInterval, TimeSpan syncInterval, string dispatcher) =>
        Akka.Actor.Props.Create(() => new WatchHub(store, progressNotifyInterval, syncInterval)).WithDispatcher(dispatcher);

    private void OnCreate(WatchProtocol.Create create)
    {
        var watcher = new Watcher(create)
        {
            NextRevision = create.StartRevision == 0 ? revision + 1 : create.StartRevision,
        };
        watcher.Synced = watcher.NextRevision > revision;
        watchers[(create.Stream, create.WatchId)] = watcher;
        Send(watcher, new WatchResponse { Header = new ResponseHeader { Revision = revision }, WatchId = create.WatchId, Created = true }, firstRevision: 0);
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

        LmdbReadView? view = null;
        var previousVersions = new Dictionary<MvccEvent, KeyValueEntry?>(ReferenceEqualityComparer.Instance);
        try
        {
            // One response per revision, as etcd notifies once per write transaction.
            foreach (var group in applied.Events.GroupBy(e => e.Revision.Main))
            {
                foreach (var watcher in watchers.Values.Where(w => w.Synced && w.NextRevision <= group.Key))
                {
                    List<Mvccpb.Event>? matched = null;
                    foreach (var change in group)
                    {
                        if (!Matches(watcher.Spec, change))
                        {
                            continue;
                        }

                        KeyValueEntry? previous = null;
                        if (watcher.Spec.PrevKv)
                        {
                            if (!previousVersions.TryGetValue(change, out previous))
                            {
                                view ??= store.BeginRead();
                                previous = MvccEngine.VersionBefore(view, change.Kv.Key, change.Revision.Main);
                                previousVersions[change] = previous;
                            }
                        }

                        (matched ??= []).Add(ToEvent(change, previous));
                    }

                    if (matched is not null)
                    {
                        var response = new WatchResponse { Header = new ResponseHeader { Revision = group.Key }, WatchId = watcher.Spec.WatchId };
                        response.Events.AddRange(matched);
                        Send(watcher, response, group.Key);
                    }
                }
            }
        }
        finally
        {
            view?.Dispose();
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
        var unsynced = watchers.Values.Where(w => !w.Synced).Take(WatchersPerSyncStep).ToList();
        if (unsynced.Count == 0)
        {
            return;
        }

        using (var view = store.BeginRead())
        {
            foreach (var watcher in unsynced)
            {
                CatchUp(view, watcher);
            }
        }

        if (watchers.Values.Any(w => !w.Synced))
        {
            ScheduleSync();
        }
    }

    private void CatchUp(LmdbReadView view, Watcher watcher)
    {
        HistoryChunk chunk;
        try
        {
            chunk = MvccEngine.History(view, watcher.Spec.Key, watcher.Spec.RangeEnd, watcher.NextRevision, revision, CatchUpEventsPerResponse);
        }
        catch (MvccException compacted) when (compacted.Error == MvccError.Compacted)
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

        var events = chunk.Events.Where(e => Matches(watcher.Spec, e)).ToList();
        if (events.Count > 0)
        {
            var response = new WatchResponse { Header = new ResponseHeader { Revision = revision }, WatchId = watcher.Spec.WatchId };
            response.Events.AddRange(events.Select(e => ToEvent(e, watcher.Spec.PrevKv ? MvccEngine.VersionBefore(view, e.Kv.Key, e.Revision.Main) : null)));
            Send(watcher, response, events[0].Revision.Main);
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

    private static void Send(Watcher watcher, WatchResponse response, long firstRevision)
    {
        watcher.SentSinceProgress = true;
        watcher.Spec.Stream.Tell(new WatchProtocol.Deliver(watcher.Spec.WatchId, watcher.Epoch, response, firstRevision));
    }

    private static bool Matches(WatchProtocol.Create spec, MvccEvent change) =>
        MvccEngine.InRange(change.Kv.Key, spec.Key, spec.RangeEnd)
        && !(spec.NoPut && change.Type == MvccEventType.Put)
        && !(spec.NoDelete && change.Type == MvccEventType.Delete);

    private static Mvccpb.Event ToEvent(MvccEvent change, KeyValueEntry? previous)
    {
        var converted = new Mvccpb.Event
        {
            Type = change.Type == MvccEventType.Put ? Mvccpb.Event.Types.EventType.Put : Mvccpb.Event.Types.EventType.Delete,
            Kv = change.Kv.ToProto(),
        };
        if (previous is not null)
        {
            converted.PrevKv = previous.ToProto();
        }

        return converted;
    }
}
