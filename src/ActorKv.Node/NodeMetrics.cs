using ActorKv.Node.Raft;
using ActorKv.Storage.Lmdb;
using Prometheus;

namespace ActorKv.Node;

/// <summary>
/// This node's Prometheus metrics, under etcd's names, types and buckets, so that dashboards
/// and alerts written for etcd read them unchanged: the disk latencies etcd's operators watch
/// first (WAL fsync, backend commit) and whether there is a leader. One registry per node (tests
/// run several nodes in one process). Served at /metrics by the server.
/// </summary>
public sealed class NodeMetrics
{
    // etcd's buckets for both disk histograms: 1 ms to 8 s, doubling.
    private static readonly double[] DiskBuckets = Histogram.ExponentialBuckets(0.001, 2, 14);

    // etcd's buckets for the peer round trip: 100 us to about 0.8 s, doubling.
    private static readonly double[] PeerRoundTripBuckets = Histogram.ExponentialBuckets(0.0001, 2, 14);

    private readonly Histogram walFsync;
    private readonly Histogram backendCommit;
    // Made at the first probe answered: as etcd's, a member without peers does not export it.
    private readonly Lazy<Histogram> peerRoundTrip;

    public NodeMetrics()
    {
        var metrics = Metrics.WithCustomRegistry(Registry);
        walFsync = metrics.CreateHistogram(
            "etcd_disk_wal_fsync_duration_seconds",
            "The latency distributions of fsync called by WAL.",
            new HistogramConfiguration { Buckets = DiskBuckets });
        backendCommit = metrics.CreateHistogram(
            "etcd_disk_backend_commit_duration_seconds",
            "The latency distributions of commit called by backend.",
            new HistogramConfiguration { Buckets = DiskBuckets });
        peerRoundTrip = new(() => metrics.CreateHistogram(
            "etcd_network_peer_round_trip_time_seconds",
            "Round-Trip-Time histogram between peers.",
            new HistogramConfiguration { Buckets = PeerRoundTripBuckets, LabelNames = ["To"] }));
    }

    public CollectorRegistry Registry { get; } = Metrics.NewCustomRegistry();

    public void ObserveWalFsync(TimeSpan duration) => walFsync.Observe(duration.TotalSeconds);

    public void ObserveBackendCommit(TimeSpan duration) => backendCommit.Observe(duration.TotalSeconds);

    /// <summary>One probe's round trip to a peer, labelled as etcd labels it (the peer's id in hex).</summary>
    public void ObservePeerRoundTrip(ulong peerId, TimeSpan duration) =>
        peerRoundTrip.Value.WithLabels(peerId.ToString("x", System.Globalization.CultureInfo.InvariantCulture)).Observe(duration.TotalSeconds);

    /// <summary>
    /// The leader and log gauges, read when scraped (nothing on the write path). A single node
    /// is its own leader, and its log is what it applied.
    /// </summary>
    public void TrackState(bool replicated, ulong memberId, RaftStatus raft, LmdbMvccStore store)
    {
        var metrics = Metrics.WithCustomRegistry(Registry);
        var hasLeader = metrics.CreateGauge("etcd_server_has_leader", "Whether or not a leader exists. 1 is existence, 0 is not.");
        var isLeader = metrics.CreateGauge("etcd_server_is_leader", "Whether or not this member is a leader. 1 if is, 0 otherwise.");
        var committed = metrics.CreateGauge("etcd_server_proposals_committed_total", "The total number of consensus proposals committed.");
        var applied = metrics.CreateGauge("etcd_server_proposals_applied_total", "The total number of consensus proposals applied.");
        Registry.AddBeforeCollectCallback(() =>
        {
            if (replicated)
            {
                hasLeader.Set(raft.Lead != 0 ? 1 : 0);
                isLeader.Set(raft.Lead == memberId ? 1 : 0);
                committed.Set(raft.Committed);
                applied.Set(raft.Applied);
                return;
            }

            using var view = store.BeginRead();
            hasLeader.Set(1);
            isLeader.Set(1);
            committed.Set(view.Meta.AppliedIndex);
            applied.Set(view.Meta.AppliedIndex);
        });
    }
}
