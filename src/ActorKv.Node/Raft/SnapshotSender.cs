using ActorKv.Node.Membership;
using ActorKv.Protocol.Raft;
using ActorKv.Storage.Lmdb;
using Akka.Actor;
using Akka.Event;
using Akka.Remote;
using Google.Protobuf;

namespace ActorKv.Node.Raft;

/// <summary>
/// Sends this member's MVCC store to a member that is behind the compacted Raft log: the store
/// as of one read transaction, in chunks of bounded size with a bounded number unacknowledged,
/// then reports to its parent (the RaftActor) whether the receiver installed it. Runs on the
/// storage dispatcher: reading LMDB blocks.
/// A transfer fails at once when Akka.Remote loses its link to the receiver, as etcd's fails
/// when its HTTP stream breaks: a receiver that died mid-transfer would otherwise be sent
/// nothing new until snapshot-timeout had passed, and a chaos run saw a cluster without a
/// quorum for 10 s because of it (chaos/README #23). Raft then probes the receiver again, and
/// a new transfer starts once it answers.
/// </summary>
public sealed class SnapshotSender : ReceiveActor
{
    /// <summary>Told to the parent when the transfer ends, either way.</summary>
    public sealed record Finished(ulong Peer, bool Succeeded);

    private readonly ILoggingAdapter log = Context.GetLogger();
    private readonly LmdbMvccStore store;
    private readonly string peerPath;
    private readonly Address peerAddress;
    private readonly ulong clusterId;
    private readonly ulong transferId;
    private readonly ulong from;
    private readonly ulong to;
    private readonly ulong term;
    private readonly int chunkBytes;
    private readonly int window;
    private LmdbStoreExport? export;
    private RaftSnapshot? metadata;
    private ulong nextSequence;
    private ulong lastSequence = ulong.MaxValue;
    private readonly HashSet<ulong> unacknowledged = [];
    private long sentBytes;

    public SnapshotSender(LmdbMvccStore store, string peerPath, ulong clusterId, ulong transferId, ulong from, ulong to, ulong term, int chunkBytes, int window, TimeSpan timeout)
    {
        this.store = store;
        this.peerPath = peerPath;
        peerAddress = ActorPath.Parse(peerPath).Address;
        this.clusterId = clusterId;
        this.transferId = transferId;
        this.from = from;
        this.to = to;
        this.term = term;
        this.chunkBytes = chunkBytes;
        this.window = window;
        Context.SetReceiveTimeout(timeout);

        Receive<SnapshotChunkAck>(ack => ack.TransferId == transferId, ack =>
        {
            if (ack.Refused)
            {
                log.Info("Member {0:x} refused the snapshot at index {1}: it has applied as much", to, metadata!.Index);
                Finish(succeeded: false);
                return;
            }

            unacknowledged.Remove(ack.Sequence);
            if (ack.Sequence == lastSequence)
            {
                log.Info("Member {0:x} installed the snapshot at index {1} ({2} chunks, {3} bytes)", to, metadata!.Index, lastSequence + 1, sentBytes);
                Finish(succeeded: true);
                return;
            }

            SendWhileWindowAllows();
        });
        Receive<DisassociatedEvent>(lost => lost.RemoteAddress == peerAddress, lost => LinkLost(lost.ToString()));
        Receive<AssociationErrorEvent>(error => error.RemoteAddress == peerAddress, error => LinkLost(error.Cause?.Message ?? error.ToString()));
        Receive<ReceiveTimeout>(_ =>
        {
            log.Warning("Snapshot transfer {0:x} to member {1:x} heard nothing for {2}; it failed", transferId, to, timeout);
            Finish(succeeded: false);
        });
    }

    public static Props Props(LmdbMvccStore store, string peerPath, ulong clusterId, ulong transferId, ulong from, ulong to, ulong term, int chunkBytes, int window, TimeSpan timeout, string dispatcher) =>
        Akka.Actor.Props.Create(() => new SnapshotSender(store, peerPath, clusterId, transferId, from, to, term, chunkBytes, window, timeout)).WithDispatcher(dispatcher);

    protected override void PreStart()
    {
        // Before the first chunk goes: a link lost after it is heard of.
        Context.System.EventStream.Subscribe(Self, typeof(DisassociatedEvent));
        Context.System.EventStream.Subscribe(Self, typeof(AssociationErrorEvent));
        try
        {
            Start();
        }
        catch (Exception error)
        {
            log.Error(error, "Snapshot transfer {0:x} to member {1:x} could not start", transferId, to);
            Finish(succeeded: false);
        }
    }

    private void Start()
    {
        export = store.BeginExport();
        var meta = export.View.Meta;
        var membership = ClusterMembership.Read(export.View) ?? ClusterMembership.Empty;
        metadata = new ActorKv.Raft.Snapshot(new ActorKv.Raft.SnapshotMetadata(meta.AppliedIndex, meta.AppliedTerm, membership.ConfState), []).ToWire();
        log.Info("Sending the store at index {0} to member {1:x} (transfer {2:x})", meta.AppliedIndex, to, transferId);
        SendChunks();
    }

    protected override void PostStop()
    {
        Context.System.EventStream.Unsubscribe(Self);
        export?.Dispose();
    }

    private void LinkLost(string why)
    {
        log.Warning("Snapshot transfer {0:x} to member {1:x} lost its link to the member ({2}); it failed", transferId, to, why);
        Finish(succeeded: false);
    }

    private void SendWhileWindowAllows()
    {
        try
        {
            SendChunks();
        }
        catch (Exception error)
        {
            log.Error(error, "Snapshot transfer {0:x} to member {1:x} failed", transferId, to);
            Finish(succeeded: false);
        }
    }

    private void SendChunks()
    {
        var peer = Context.ActorSelection(peerPath);
        while (unacknowledged.Count < window && lastSequence == ulong.MaxValue)
        {
            var records = new List<StoreRecord>();
            export!.ReadChunk(records, chunkBytes);
            var chunk = new SnapshotChunk
            {
                ClusterId = clusterId,
                TransferId = transferId,
                Sequence = nextSequence,
                From = from,
                To = to,
                Term = term,
                Metadata = metadata,
                Last = export.Finished,
            };
            foreach (var record in records)
            {
                chunk.Records.Add(new SnapshotRecord { Database = (uint)record.Database, Key = ByteString.CopyFrom(record.Key), Value = ByteString.CopyFrom(record.Value) });
            }

            if (chunk.Last)
            {
                lastSequence = nextSequence;
            }

            sentBytes += chunk.CalculateSize();
            unacknowledged.Add(nextSequence++);
            CrashPoints.Reached(CrashPoints.SnapshotSend);
            peer.Tell(chunk, Self);
        }
    }

    private bool finished;

    private void Finish(bool succeeded)
    {
        if (!finished)
        {
            finished = true;
            Context.Parent.Tell(new Finished(to, succeeded));
            Context.Stop(Self);
        }
    }
}
