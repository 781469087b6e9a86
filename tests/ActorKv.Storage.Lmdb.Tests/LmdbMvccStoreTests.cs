using System.Text;
using ActorKv.Mvcc;

namespace ActorKv.Storage.Lmdb.Tests;

/// <summary>The LMDB backend's contract, as the MVCC engine relies on it.</summary>
public sealed class LmdbMvccStoreTests : IDisposable
{
    private readonly string directory = Path.Combine(Path.GetTempPath(), "actorkv-lmdb-" + Guid.NewGuid().ToString("N"));
    private LmdbMvccStore store;

    public LmdbMvccStoreTests()
    {
        store = Open();
    }

    private LmdbMvccStore Open() => new(new LmdbStoreOptions(directory, MapSizeBytes: 64L << 20));

    public void Dispose()
    {
        store.Dispose();
        Directory.Delete(directory, recursive: true);
    }

    private static byte[] B(string text) => Encoding.UTF8.GetBytes(text);

    private static KeyValueEntry Entry(string key, long revision, string value) => new(B(key), revision, revision, 1, B(value), 0);

    private void Write(params (KeyValueEntry Entry, bool Tombstone)[] versions)
    {
        using var view = store.BeginWrite();
        foreach (var (entry, tombstone) in versions)
        {
            view.WriteVersion(entry, new Revision(entry.ModRevision, 0), tombstone);
        }

        view.WriteMeta(view.Meta with { CurrentRevision = versions.Max(v => v.Entry.ModRevision), AppliedIndex = 7 });
        view.Commit();
    }

    [Fact]
    public void A_reopened_store_has_the_same_versions_and_meta()
    {
        Write((Entry("a", 2, "one"), false), (Entry("b", 3, "two"), false));
        store.Dispose();
        store = Open();

        using var view = store.BeginRead();
        Assert.Equal((3L, 7UL), (view.Meta.CurrentRevision, view.Meta.AppliedIndex));
        var latest = view.ScanLatest(B("a"), [], 3).ToList();
        Assert.Equal(["a", "b"], latest.Select(e => Encoding.UTF8.GetString(e.Key)));
        Assert.Equal(B("two"), view.ReadVersion(latest[1].Revision).Value);
    }

    [Fact]
    public void A_write_not_committed_leaves_nothing()
    {
        using (var view = store.BeginWrite())
        {
            view.WriteVersion(Entry("a", 2, "lost"), new Revision(2, 0), tombstone: false);
            view.WriteMeta(view.Meta with { CurrentRevision = 2 });
        }

        using var reader = store.BeginRead();
        Assert.Equal(MvccMeta.Empty, reader.Meta);
        Assert.Empty(reader.ScanLatest(B("a"), null, 10));
    }

    [Fact]
    public void A_reader_keeps_its_snapshot_while_the_writer_commits()
    {
        Write((Entry("a", 2, "old"), false));
        using var before = store.BeginRead();

        // The writer commits while a reader is open: neither waits for the other.
        Write((Entry("a", 3, "new"), false));

        Assert.Equal(2, before.Meta.CurrentRevision);
        Assert.Equal(2, Assert.Single(before.ScanLatest(B("a"), null, long.MaxValue)).Revision.Main);
        using var after = store.BeginRead();
        Assert.Equal(3, Assert.Single(after.ScanLatest(B("a"), null, long.MaxValue)).Revision.Main);
    }

    [Fact]
    public void History_reads_find_the_newest_entry_at_or_below_the_revision()
    {
        Write((Entry("k", 2, "v2"), false));
        Write((Entry("k", 5, ""), true));
        Write((Entry("k", 9, "v9"), false));

        using var view = store.BeginRead();
        Assert.Empty(view.ScanLatest(B("k"), null, 1));
        Assert.Equal((2L, false), Latest(view, 4));
        Assert.Equal((5L, true), Latest(view, 5));
        Assert.Equal((5L, true), Latest(view, 8));
        Assert.Equal((9L, false), Latest(view, 9));
        Assert.Equal([2L, 5L, 9L], Assert.Single(view.ReadHistories([], 10)).Entries.Select(e => e.Revision.Main));
    }

    private static (long, bool) Latest(IMvccReadView view, long revision)
    {
        var entry = Assert.Single(view.ScanLatest(B("k"), null, revision));
        return (entry.Revision.Main, entry.Tombstone);
    }

    [Fact]
    public void Keys_longer_than_lmdb_allows_are_refused_and_ranges_seek_past_them()
    {
        var longKey = new string('m', LmdbMvccStore.MaxKeyBytes + 1);
        using (var view = store.BeginWrite())
        {
            Assert.Throws<ArgumentException>(() => view.WriteVersion(Entry(longKey, 2, "x"), new Revision(2, 0), tombstone: false));
        }

        Write((Entry("a", 2, "1"), false), (Entry("n", 3, "2"), false));
        using var reader = store.BeginRead();
        Assert.Equal(["n"], reader.ScanLatest(B(longKey), [], 3).Select(e => Encoding.UTF8.GetString(e.Key)));
    }
}
