using System.Buffers.Binary;
using ActorKv.Protocol.Raft;
using ActorKv.Storage.Lmdb.Wal;
using Google.Protobuf;

namespace ActorKv.Node.Raft;

/// <summary>
/// The Raft WAL of one member on a <see cref="SegmentLog"/>, as etcd's raft loop keeps its WAL:
/// each persisted Ready (hard state and entries) is one record, and log compaction writes one
/// snapshot record (hard state, Raft snapshot, the entries after it) and deletes every Ready
/// before it. A restart loads the latest snapshot and the Readys after it.
/// The Raft actor calls it on its own thread: each append returns once it is on disk.
/// </summary>
public sealed class RaftWal : IDisposable
{
    private const string Readys = "readys";
    private const string Snapshots = "snapshots";

    private readonly SegmentLog log;
    private long lastReady;

    private RaftWal(SegmentLog log)
    {
        this.log = log;
        lastReady = log.HighestSequenceNr(Readys);
    }

    /// <summary>Opens the WAL; one holding records of another kind (another build's layout) is refused.</summary>
    public static RaftWal Open(SegmentLogOptions options)
    {
        var log = SegmentLog.Open(options);
        if (log.StreamIds.FirstOrDefault(id => id is not Readys and not Snapshots) is { } foreign)
        {
            log.Dispose();
            throw new IOException($"the Raft WAL at {options.Directory} holds records of '{foreign}', a layout of another build: run the build that wrote it, or start on a new data dir");
        }

        return new RaftWal(log);
    }

    /// <summary>The latest snapshot, if any, and every Ready persisted after it, in order.</summary>
    public (RaftLogSnapshot? Snapshot, IReadOnlyList<RaftReadyPersisted> Readys) Load()
    {
        RaftLogSnapshot? snapshot = null;
        long covered = 0;
        if (log.Read(Snapshots, 0, long.MaxValue, long.MaxValue) is { Count: > 0 } snapshots)
        {
            var payload = snapshots[^1].Payload;
            covered = BinaryPrimitives.ReadInt64LittleEndian(payload);
            snapshot = RaftLogSnapshot.Parser.ParseFrom(payload.AsSpan(8));
        }

        var readys = log.Read(Readys, covered + 1, long.MaxValue, long.MaxValue)
            .Select(ready => RaftReadyPersisted.Parser.ParseFrom(ready.Payload))
            .ToList();
        return (snapshot, readys);
    }

    /// <summary>Appends one Ready; returns once it is durable.</summary>
    public void Append(RaftReadyPersisted ready)
    {
        log.Write([new SegmentLogWrite(Readys, [(lastReady + 1, ready.ToByteArray())])]);
        lastReady++;
    }

    /// <summary>
    /// Replaces everything appended so far by <paramref name="snapshot"/> (which holds the log
    /// that remains): the snapshot is made durable first, then the Readys and older snapshots go.
    /// </summary>
    public void SaveSnapshot(RaftLogSnapshot snapshot)
    {
        var payload = new byte[8 + snapshot.CalculateSize()];
        BinaryPrimitives.WriteInt64LittleEndian(payload, lastReady);
        snapshot.WriteTo(payload.AsSpan(8));
        var sequenceNr = log.HighestSequenceNr(Snapshots) + 1;
        log.Write([new SegmentLogWrite(Snapshots, [(sequenceNr, payload)])]);
        log.DeleteTo(Snapshots, sequenceNr - 1);
        log.DeleteTo(Readys, lastReady);
    }

    public void Dispose() => log.Dispose();
}
