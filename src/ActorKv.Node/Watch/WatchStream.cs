using System.Threading.Channels;
using ActorKv.Node.Mapping;
using Akka.Actor;
using Etcdserverpb;

namespace ActorKv.Node.Watch;

/// <summary>
/// One gRPC Watch stream (etcd's serverWatchStream): takes the client's create, cancel and
/// progress requests, gives watch ids, and writes the hub's responses to the stream's outbox,
/// which the gRPC call drains. Event responses waiting in the outbox are bounded; when the client
/// reads too slowly, its watches are parked and replayed from the store once it has caught up,
/// so a slow reader holds no more than the bound and never blocks writes or other watchers.
/// </summary>
public sealed class WatchStream : ReceiveActor, IWithTimers
{
    private sealed class ResumeCheck
    {
        public static readonly ResumeCheck Instance = new();
    }

    public ITimerScheduler Timers { get; set; } = null!;

    /// <summary>A client request, as read from the gRPC stream.</summary>
    public sealed record ClientRequest(WatchRequest Request);

    private readonly IActorRef hub;
    private readonly ChannelWriter<WatchResponse> outbox;
    private readonly WatchOutboxCounter pending;
    private readonly int maxPendingEventResponses;
    private readonly int fragmentBytes;
    private readonly Func<ulong> raftTerm;
    private readonly Func<long> currentRevision;
    private readonly ResponseHeaderStamp stamp;

    /// <summary>How often a stream with parked watches checks whether its client caught up (etcd retries victims every 10 ms).</summary>
    private static readonly TimeSpan ResumeCheckInterval = TimeSpan.FromMilliseconds(10);

    /// <summary>One live watch of this stream.</summary>
    private sealed class LiveWatch(WatchProtocol.Create spec, bool fragment)
    {
        /// <summary>The watch as sent to the hub (to create it again if the hub restarts).</summary>
        public WatchProtocol.Create Spec { get; } = spec;

        /// <summary>The client asked for large responses in fragments.</summary>
        public bool Fragment { get; } = fragment;

        /// <summary>Responses of an older epoch are stale (sent before a park or a hub restart).</summary>
        public int Epoch { get; set; }

        /// <summary>The first revision the client has not been sent; 0: from the revision its created response names.</summary>
        public long ResumeFrom { get; set; } = spec.StartRevision;

        /// <summary>Parked: the epoch the hub parked it in (the watch resumes from <see cref="ResumeFrom"/>).</summary>
        public int? ParkedEpoch { get; set; }
    }

    /// <summary>Live watches by id.</summary>
    private readonly Dictionary<long, LiveWatch> watches = [];

    private long nextId;

    /// <summary>
    /// <paramref name="currentRevision"/> reads the store (a read transaction): only control
    /// answers need it; event responses carry their revision from the hub.
    /// <paramref name="fragmentBytes"/> is the size above which a fragmenting watch's response
    /// is split (etcd: the server's max request bytes plus gRPC overhead).
    /// </summary>
    public WatchStream(IActorRef hub, ChannelWriter<WatchResponse> outbox, WatchOutboxCounter pending, int maxPendingEventResponses, int fragmentBytes, ResponseHeaderStamp stamp, Func<ulong> raftTerm, Func<long> currentRevision)
    {
        this.hub = hub;
        this.outbox = outbox;
        this.pending = pending;
        this.maxPendingEventResponses = maxPendingEventResponses;
        this.fragmentBytes = fragmentBytes;
        this.stamp = stamp;
        this.raftTerm = raftTerm;
        this.currentRevision = currentRevision;
        Receive<ClientRequest>(request => OnRequest(request.Request));
        Receive<ResumeCheck>(_ => ResumeParked());
        Receive<WatchProtocol.HubRestarted>(_ => ResumeAfterHubRestart());
        Receive<WatchProtocol.Deliveries>(deliveries =>
        {
            foreach (var deliver in deliveries.Responses)
            {
                OnDeliver(deliver);
            }
        });
    }

    public static Props Props(IActorRef hub, ChannelWriter<WatchResponse> outbox, WatchOutboxCounter pending, int maxPendingEventResponses, int fragmentBytes, ResponseHeaderStamp stamp, Func<ulong> raftTerm, Func<long> currentRevision) =>
        Akka.Actor.Props.Create(() => new WatchStream(hub, outbox, pending, maxPendingEventResponses, fragmentBytes, stamp, raftTerm, currentRevision));

    protected override void PreStart() => Context.System.EventStream.Subscribe(Self, typeof(WatchProtocol.HubRestarted));

    protected override void PostStop()
    {
        Context.System.EventStream.Unsubscribe(Self);
        hub.Tell(new WatchProtocol.StreamClosed(Self));
        outbox.TryComplete();
    }

    private void OnRequest(WatchRequest request)
    {
        switch (request.RequestUnionCase)
        {
            case WatchRequest.RequestUnionOneofCase.CreateRequest:
                Create(request.CreateRequest);
                break;
            case WatchRequest.RequestUnionOneofCase.CancelRequest:
                // etcd answers only the cancel of a watch it has; others are ignored.
                if (watches.Remove(request.CancelRequest.WatchId))
                {
                    hub.Tell(new WatchProtocol.Cancel(Self, request.CancelRequest.WatchId));
                    Write(new WatchResponse { Header = Header(), WatchId = request.CancelRequest.WatchId, Canceled = true });
                }

                break;
            case WatchRequest.RequestUnionOneofCase.ProgressRequest:
                // Not tied to a watch: etcd 3.4 answers with watch id -1 and the current revision.
                Write(new WatchResponse { Header = Header(), WatchId = -1 });
                break;
        }
    }

    private void Create(WatchCreateRequest create)
    {
        // etcd's normalisation: an empty key is "\0"; a range end of "\0" means every key from the key on.
        var key = create.Key.IsEmpty ? [0] : create.Key.ToByteArray();
        byte[]? rangeEnd = create.RangeEnd.IsEmpty ? null : create.RangeEnd.ToByteArray();
        if (rangeEnd is [0])
        {
            rangeEnd = [];
        }

        string? refusal = null;
        var id = create.WatchId;
        if (rangeEnd is { Length: > 0 } && key.AsSpan().SequenceCompareTo(rangeEnd) >= 0)
        {
            refusal = "mvcc: watcher range is empty";
        }
        else if (id == 0)
        {
            while (watches.ContainsKey(nextId))
            {
                nextId++;
            }

            id = nextId++;
        }
        else if (watches.ContainsKey(id))
        {
            refusal = "mvcc: duplicate watch ID provided on the WatchStream";
        }

        if (refusal is not null)
        {
            Write(new WatchResponse { Header = Header(), WatchId = -1, Created = true, Canceled = true, CancelReason = refusal });
            return;
        }

        var filters = create.Filters;
        var spec = new WatchProtocol.Create(
            Self,
            id,
            key,
            rangeEnd,
            create.StartRevision,
            NoPut: filters.Contains(WatchCreateRequest.Types.FilterType.Noput),
            NoDelete: filters.Contains(WatchCreateRequest.Types.FilterType.Nodelete),
            create.PrevKv,
            create.ProgressNotify);
        watches[id] = new LiveWatch(spec, create.Fragment);
        hub.Tell(spec);
    }

    /// <summary>
    /// The hub lost its watchers: create each watch again in a new epoch, from the first
    /// revision not yet sent to the client (parked ones from where they were parked).
    /// </summary>
    private void ResumeAfterHubRestart()
    {
        foreach (var watch in watches.Values)
        {
            // A watch "from now" whose created response had not come yet still starts from now.
            watch.Epoch++;
            watch.ParkedEpoch = null;
            hub.Tell(watch.Spec with { StartRevision = watch.ResumeFrom, Epoch = watch.Epoch, Resumed = true });
        }

        Timers.Cancel(ResumeCheck.Instance);
    }

    private void OnDeliver(WatchProtocol.Deliver deliver)
    {
        if (!watches.TryGetValue(deliver.WatchId, out var watch) || deliver.Epoch < watch.Epoch)
        {
            return; // cancelled, or sent before the watch was parked or recreated
        }

        var response = deliver.Response;
        if (response.Canceled)
        {
            watches.Remove(deliver.WatchId);
        }

        if (response.Events.Count > 0 && pending.Count >= maxPendingEventResponses)
        {
            // The client is behind: the watch is parked, and once the client has read what is
            // queued, this and later events come again from the store. A client that never reads
            // costs a counter check, not a store read.
            watch.ParkedEpoch = deliver.Epoch;
            watch.Epoch = deliver.Epoch + 1;
            watch.ResumeFrom = deliver.FirstRevision;
            hub.Tell(new WatchProtocol.Park(Self, deliver.WatchId, deliver.Epoch));
            if (!Timers.IsTimerActive(ResumeCheck.Instance))
            {
                Timers.StartPeriodicTimer(ResumeCheck.Instance, ResumeCheck.Instance, ResumeCheckInterval);
            }

            return;
        }

        if (response.Events.Count > 0)
        {
            watch.ResumeFrom = response.Events[^1].Kv.ModRevision + 1;
        }
        else if (response.Created && watch.ResumeFrom == 0)
        {
            watch.ResumeFrom = response.Header.Revision + 1;
        }

        stamp.Fill(response.Header, raftTerm(), response.Header.Revision);
        if (response.Events.Count > 1 && watch.Fragment && response.CalculateSize() >= fragmentBytes)
        {
            foreach (var fragment in Fragments(response, fragmentBytes))
            {
                pending.Increment();
                outbox.TryWrite(fragment);
            }

            return;
        }

        if (response.Events.Count > 0)
        {
            pending.Increment();
        }

        outbox.TryWrite(response);
    }

    /// <summary>
    /// etcd's sendFragments: consecutive responses of as many events as stay under the size
    /// (at least one each), all marked fragment but the last.
    /// </summary>
    internal static IEnumerable<WatchResponse> Fragments(WatchResponse response, int fragmentBytes)
    {
        var next = 0;
        while (next < response.Events.Count)
        {
            var fragment = new WatchResponse { Header = response.Header, WatchId = response.WatchId, Fragment = true };
            var size = fragment.CalculateSize();
            while (next < response.Events.Count)
            {
                var eventSize = response.Events[next].CalculateSize();
                // A repeated message field costs its tag, a length prefix and the message.
                var added = 1 + Google.Protobuf.CodedOutputStream.ComputeLengthSize(eventSize) + eventSize;
                if (fragment.Events.Count > 0 && size + added >= fragmentBytes)
                {
                    break;
                }

                fragment.Events.Add(response.Events[next++]);
                size += added;
            }

            fragment.Fragment = next < response.Events.Count;
            yield return fragment;
        }
    }

    /// <summary>
    /// Resyncs the parked watches once the client has read half of the bound, so that a client
    /// just at the bound does not park and replay on every response.
    /// </summary>
    private void ResumeParked()
    {
        if (pending.Count > maxPendingEventResponses / 2)
        {
            return;
        }

        foreach (var (watchId, watch) in watches)
        {
            if (watch.ParkedEpoch is { } epoch)
            {
                hub.Tell(new WatchProtocol.Resync(Self, watchId, watch.ResumeFrom, epoch));
                watch.ParkedEpoch = null;
            }
        }

        Timers.Cancel(ResumeCheck.Instance);
    }

    private ResponseHeader Header()
    {
        return stamp.Fill(new ResponseHeader(), raftTerm(), currentRevision());
    }

    private void Write(WatchResponse response) => outbox.TryWrite(response);
}

/// <summary>Event responses written to a stream's outbox and not yet sent to the client.</summary>
public sealed class WatchOutboxCounter
{
    private int count;

    public int Count => Volatile.Read(ref count);

    public void Increment() => Interlocked.Increment(ref count);

    /// <summary>Called by the sender once it has written an event response to the client.</summary>
    public void Decrement() => Interlocked.Decrement(ref count);
}
