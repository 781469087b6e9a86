using ActorKv.Node.Raft;
using ActorKv.Protocol.Raft;
using ActorKv.Storage.Lmdb.Wal;
using Google.Protobuf;

namespace ActorKv.Node.Tests;

/// <summary>
/// The Raft WAL's records: Readys load back in order after a reopen; a snapshot replaces every
/// Ready before it, and a reopen loads the snapshot and only the Readys after it; a WAL holding
/// records of another layout is refused.
/// </summary>
public sealed class RaftWalTests : IDisposable
{
    private readonly string directory = Path.Combine(Path.GetTempPath(), "actorkv-raftwal-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(directory))
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    private RaftWal Open() => RaftWal.Open(new SegmentLogOptions(directory, 4096, 1 << 20, Fsync: false));

    private static RaftReadyPersisted Ready(ulong index) => new()
    {
        HardState = new RaftHardState { Term = 2, Commit = index - 1 },
        Entries = { new RaftEntry { Term = 2, Index = index, Data = ByteString.CopyFrom(new byte[300]) } },
    };

    private static List<ulong> Indexes(IReadOnlyList<RaftReadyPersisted> readys) => readys.Select(r => r.Entries[0].Index).ToList();

    [Fact]
    public void Readys_load_back_and_a_snapshot_replaces_those_before_it()
    {
        using (var wal = Open())
        {
            for (ulong i = 1; i <= 20; i++)
            {
                wal.Append(Ready(i));
            }
        }

        using (var wal = Open())
        {
            var (snapshot, readys) = wal.Load();
            Assert.Null(snapshot);
            Assert.Equal(Enumerable.Range(1, 20).Select(i => (ulong)i), Indexes(readys));
            wal.SaveSnapshot(new RaftLogSnapshot { HardState = new RaftHardState { Term = 2, Commit = 19 }, Snapshot = new RaftSnapshot { Index = 15, Term = 2 } });
            wal.Append(Ready(21));
            wal.Append(Ready(22));
            wal.SaveSnapshot(new RaftLogSnapshot { HardState = new RaftHardState { Term = 2, Commit = 21 }, Snapshot = new RaftSnapshot { Index = 20, Term = 2 } });
            wal.Append(Ready(23));
        }

        using (var wal = Open())
        {
            var (snapshot, readys) = wal.Load();
            Assert.Equal(20UL, snapshot!.Snapshot.Index);
            Assert.Equal([23UL], Indexes(readys));
        }

        // Old segments went with the Readys they held.
        Assert.True(Directory.GetFiles(directory).Length <= 2, string.Join(", ", Directory.GetFiles(directory)));
    }

    /// <summary>A crash between writing a snapshot and deleting the Readys it covers leaves both on disk.</summary>
    [Fact]
    public void A_snapshot_whose_readys_were_not_yet_deleted_loads_with_only_the_readys_after_it()
    {
        using (var log = SegmentLog.Open(new SegmentLogOptions(directory, 4096, 1 << 20, Fsync: false)))
        {
            log.Write([new SegmentLogWrite("readys", [(1, Ready(1).ToByteArray()), (2, Ready(2).ToByteArray())])]);
            var snapshot = new RaftLogSnapshot { HardState = new RaftHardState { Term = 2, Commit = 2 }, Snapshot = new RaftSnapshot { Index = 2, Term = 2 } };
            var payload = new byte[8 + snapshot.CalculateSize()];
            BitConverter.GetBytes(2L).CopyTo(payload, 0);
            snapshot.WriteTo(payload.AsSpan(8));
            log.Write([new SegmentLogWrite("snapshots", [(1, payload)])]);
            log.Write([new SegmentLogWrite("readys", [(3, Ready(3).ToByteArray())])]);
        }

        using var wal = Open();
        var (loaded, readys) = wal.Load();
        Assert.Equal(2UL, loaded!.Snapshot.Index);
        Assert.Equal([3UL], Indexes(readys));
    }

    [Fact]
    public void A_wal_of_another_layout_is_refused()
    {
        using (var log = SegmentLog.Open(new SegmentLogOptions(directory, 4096, 1 << 20, Fsync: false)))
        {
            log.Write([new SegmentLogWrite("raft-1", [(1, new byte[10])])]);
        }

        var error = Assert.Throws<IOException>(Open);
        Assert.Contains("holds records of 'raft-1'", error.Message);
    }
}
