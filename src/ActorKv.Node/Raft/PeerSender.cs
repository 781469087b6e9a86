using System.Diagnostics;
using ActorKv.Node.Diagnostics;
using ActorKv.Protocol.Raft;
using Akka.Actor;

namespace ActorKv.Node.Raft;

/// <summary>
/// Delivers this node's Raft messages to one peer's RaftActor over Akka.Remote, batched: what
/// reaches it before it gets to send (one Ready's messages for the peer, and any Readys queued
/// behind them while the thread pool was busy) travels as one <see cref="RaftMessageBatch"/>,
/// one remote envelope and socket write instead of one per message. The peer is addressed by a
/// ref resolved from its path (no network round trip, no remote DeathWatch: a quarantine after a
/// partition would cut the link for good); a restarted peer is reached at the same path.
/// Raft itself retransmits what is lost. It also probes the link every probe interval: a
/// <see cref="PeerProbe"/> to the peer's <see cref="PeerProbeResponder"/> and back, on the same
/// association, whose round trip goes to etcd_network_peer_round_trip_time_seconds. A peer that
/// answers the probe with <see cref="MemberRemoved"/> has removed this member: the Raft actor
/// (the parent) is told.
/// </summary>
public sealed class PeerSender : ReceiveActor, IWithTimers
{
    /// <summary>A batch is sent before it would pass this size, well under Akka.Remote's frame size (4 MiB).</summary>
    private const int MaxBatchBytes = 1 << 20;

    private readonly IActorRef peer;
    private readonly TimeSpan probeInterval;
    private RaftMessageBatch queued = new();
    private int queuedBytes;
    private bool flushScheduled;

    public PeerSender(string peerRaftPath, ulong peerId, ulong selfId, ulong clusterId, TimeSpan probeInterval, Action<ulong, TimeSpan> observeRoundTrip)
    {
        var provider = ((ExtendedActorSystem)Context.System).Provider;
        peer = provider.ResolveActorRef(peerRaftPath);
        var peerProber = provider.ResolveActorRef(PeerProbeResponder.PathBeside(peerRaftPath));
        this.probeInterval = probeInterval;
        Receive<ProbeTick>(_ => peerProber.Tell(new PeerProbe { SentTimestamp = Stopwatch.GetTimestamp(), From = selfId, ClusterId = clusterId }, Self));
        Receive<MemberRemoved>(removed => Context.Parent.Tell(removed));
        // An answer comes back to the sender that asked, in this process: its timestamp is ours
        // (one from the future is not, and is not timed).
        Receive<PeerProbe>(answer =>
        {
            var roundTrip = Stopwatch.GetElapsedTime(answer.SentTimestamp);
            if (roundTrip >= TimeSpan.Zero)
            {
                observeRoundTrip(peerId, roundTrip);
            }
        });
        Receive<Send>(send =>
        {
            foreach (var message in send.Messages)
            {
                var size = message.CalculateSize();
                if (queuedBytes + size > MaxBatchBytes)
                {
                    SendQueued();
                }

                queued.Messages.Add(message);
                queuedBytes += size;
            }

            // Behind whatever is already in the mailbox: that is batched too.
            if (!flushScheduled && queued.Messages.Count > 0)
            {
                flushScheduled = true;
                Self.Tell(Flush.Instance);
            }
        });
        Receive<Flush>(_ =>
        {
            flushScheduled = false;
            SendQueued();
        });
    }

    public ITimerScheduler Timers { get; set; } = null!;

    protected override void PreStart() => Timers.StartPeriodicTimer(ProbeTick.Instance, ProbeTick.Instance, probeInterval);

    public static Props Props(string peerRaftPath, ulong peerId, ulong selfId, ulong clusterId, TimeSpan probeInterval, Action<ulong, TimeSpan> observeRoundTrip) =>
        Akka.Actor.Props.Create(() => new PeerSender(peerRaftPath, peerId, selfId, clusterId, probeInterval, observeRoundTrip));

    private void SendQueued()
    {
        if (WritePathEvents.Log.IsEnabled())
        {
            foreach (var message in queued.Messages)
            {
                WritePathEvents.Log.RaftMessageSent(message);
            }
        }

        switch (queued.Messages.Count)
        {
            case 0:
                return;
            case 1:
                peer.Tell(queued.Messages[0], ActorRefs.NoSender);
                queued.Messages.Clear();
                break;
            default:
                // Handed over as it is (serialized later, on the remoting side): a new one queues.
                peer.Tell(queued, ActorRefs.NoSender);
                queued = new RaftMessageBatch();
                break;
        }

        queuedBytes = 0;
    }

    /// <summary>Messages for this peer, in the order Raft produced them.</summary>
    public sealed record Send(IReadOnlyList<RaftMessage> Messages);

    private sealed class Flush
    {
        public static readonly Flush Instance = new();
    }

    private sealed class ProbeTick
    {
        public static readonly ProbeTick Instance = new();
    }
}
