using ActorKv.Storage.Lmdb.Wal;

namespace ActorKv.Storage.Lmdb.Tests;

/// <summary>
/// The WAL's segment files: what was written reads back, before and after a reopen, across segments; a torn
/// tail is dropped, and a stale frame past it never comes back after newer writes; old segments
/// go whole once their events are deleted, highest sequence numbers survive; corruption and
/// foreign formats are refused.
/// </summary>
public sealed class SegmentLogTests : IDisposable
{
    private readonly string directory = Path.Combine(Path.GetTempPath(), "actorkv-segments-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(directory))
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    private SegmentLog Open(long segmentBytes = 4096, long maxBytes = 1 << 20) =>
        SegmentLog.Open(new SegmentLogOptions(directory, segmentBytes, maxBytes, Fsync: false));

    private static byte[] Payload(long sequenceNr, int length = 300, byte salt = 0) =>
        Enumerable.Range(0, length).Select(i => (byte)(sequenceNr * 31 + i + salt)).ToArray();

    private static void Put(SegmentLog log, string id, long sequenceNr, int length = 300, byte salt = 0) =>
        log.Write([new SegmentLogWrite(id, [(sequenceNr, Payload(sequenceNr, length, salt))])]);

    private static List<long> SequenceNrs(SegmentLog log, string id) =>
        log.Read(id, 0, long.MaxValue, long.MaxValue).Select(e => e.SequenceNr).ToList();

    [Fact]
    public void Batches_of_several_ids_read_back_before_and_after_a_reopen_across_segments()
    {
        using (var log = Open())
        {
            for (long i = 1; i <= 80; i += 2)
            {
                log.Write([
                    new SegmentLogWrite("a", [(i, Payload(i)), (i + 1, Payload(i + 1, 17))]),
                    new SegmentLogWrite("b", [(i, Payload(i, 5))]),
                ]);
            }

            Assert.True(log.SegmentFiles.Count > 3, $"{log.SegmentFiles.Count} segments");
            // Before the reopen the index is the one the writes built, not the one recovery reads.
            Assert.All(log.Read("a", 0, long.MaxValue, long.MaxValue), e => Assert.Equal(Payload(e.SequenceNr, e.SequenceNr % 2 == 1 ? 300 : 17), e.Payload));
            Assert.All(log.Read("b", 0, long.MaxValue, long.MaxValue), e => Assert.Equal(Payload(e.SequenceNr, 5), e.Payload));
        }

        using var reopened = Open();
        var a = reopened.Read("a", 0, long.MaxValue, long.MaxValue).ToList();
        Assert.Equal(Enumerable.Range(1, 80).Select(i => (long)i), a.Select(e => e.SequenceNr));
        Assert.All(a, e => Assert.Equal(Payload(e.SequenceNr, e.SequenceNr % 2 == 1 ? 300 : 17), e.Payload));
        Assert.Equal(40, reopened.Read("b", 0, long.MaxValue, long.MaxValue).Count());
        Assert.Equal(80, reopened.HighestSequenceNr("a"));
        Assert.Equal(79, reopened.HighestSequenceNr("b"));
        Assert.Equal([5L, 6L, 7L], reopened.Read("a", 5, 30, 3).Select(e => e.SequenceNr));
    }

    [Fact]
    public void A_torn_frame_ends_the_log_and_a_stale_frame_past_it_never_returns_after_newer_writes()
    {
        string file;
        byte[] before;
        using (var log = Open(segmentBytes: 1 << 16))
        {
            Put(log, "a", 1);
            Put(log, "a", 2);
            file = log.SegmentFiles.Single();
            before = File.ReadAllBytes(file);
            Put(log, "a", 3);
            Put(log, "a", 4);
        }

        // Tear frame 3 (as a crash mid-write leaves it), frame 4 after it intact.
        var after = File.ReadAllBytes(file);
        var frame3 = Enumerable.Range(0, after.Length).First(i => after[i] != before[i]);
        after[frame3 + 20] ^= 0xFF;
        File.WriteAllBytes(file, after);
        using (var log = Open(segmentBytes: 1 << 16))
        {
            Assert.Equal([1L, 2L], SequenceNrs(log, "a"));
            Assert.Equal(2, log.HighestSequenceNr("a"));
            // Same length as the torn frame, so the stale frame 4 sits right after it.
            Put(log, "a", 3, salt: 7);
        }

        using var reopened = Open(segmentBytes: 1 << 16);
        Assert.Equal([1L, 2L, 3L], SequenceNrs(reopened, "a"));
        Assert.Equal(Payload(3, salt: 7), reopened.Read("a", 3, 3, 1).Single().Payload);
        Assert.Equal(3, reopened.HighestSequenceNr("a"));
    }

    [Fact]
    public void Old_segments_go_whole_once_their_events_are_deleted_and_highest_numbers_survive()
    {
        using (var log = Open())
        {
            Put(log, "b", 1);
            for (long i = 1; i <= 30; i++)
            {
                Put(log, "a", i, length: 500);
            }

            var segments = log.SegmentFiles.Count;
            Assert.True(segments > 3, $"{segments} segments");
            log.DeleteTo("a", 30);
            // The oldest segment still holds b's event: nothing goes before it does.
            Assert.Equal(segments, log.SegmentFiles.Count);
            log.DeleteTo("b", 1);
            Assert.Single(log.SegmentFiles);
            Assert.True(log.SegmentFiles.All(File.Exists));
        }

        Assert.Single(Directory.GetFiles(directory));
        using (var log = Open())
        {
            Assert.Empty(SequenceNrs(log, "a"));
            Assert.Empty(SequenceNrs(log, "b"));
            Assert.Equal(30, log.HighestSequenceNr("a"));
            Assert.Equal(1, log.HighestSequenceNr("b"));
            Put(log, "a", 31);
            log.DeleteTo("a", 20);
        }

        using var reopened = Open();
        Assert.Equal([31L], SequenceNrs(reopened, "a"));
    }

    [Fact]
    public void A_segment_that_ends_short_of_where_its_successor_says_is_reported_corrupt()
    {
        string first;
        using (var log = Open())
        {
            for (long i = 1; i <= 20; i++)
            {
                Put(log, "a", i);
            }

            first = log.SegmentFiles[0];
            Assert.True(log.SegmentFiles.Count > 1);
        }

        var bytes = File.ReadAllBytes(first);
        bytes[1000] ^= 0xFF;
        File.WriteAllBytes(first, bytes);
        var error = Assert.Throws<IOException>(() => Open());
        Assert.Contains("the Raft WAL is corrupt", error.Message);
    }

    [Fact]
    public void A_full_log_fails_the_write_and_takes_no_more_but_keeps_what_it_acknowledged()
    {
        long acknowledged = 0;
        using (var log = Open(segmentBytes: 4096, maxBytes: 8192))
        {
            var error = Assert.Throws<IOException>(() =>
            {
                for (long i = 1; i <= 100; i++)
                {
                    Put(log, "a", i);
                    acknowledged = i;
                }
            });
            Assert.Contains("is full", error.Message);
            var after = Assert.Throws<IOException>(() => Put(log, "a", acknowledged + 1));
            Assert.Contains("failed earlier", after.Message);
        }

        Assert.True(acknowledged > 10, $"{acknowledged} acknowledged");
        using var reopened = Open(segmentBytes: 4096, maxBytes: 1 << 20);
        Assert.Equal(Enumerable.Range(1, (int)acknowledged).Select(i => (long)i), SequenceNrs(reopened, "a"));
    }

    [Fact]
    public void A_wal_directory_of_the_older_lmdb_journal_is_refused()
    {
        Directory.CreateDirectory(directory);
        File.WriteAllBytes(Path.Combine(directory, "data.mdb"), new byte[4096]);
        var error = Assert.Throws<IOException>(() => Open());
        Assert.Contains("is an LMDB journal (an older build)", error.Message);
    }
}
