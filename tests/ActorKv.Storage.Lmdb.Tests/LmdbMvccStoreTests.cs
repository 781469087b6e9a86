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
    public void A_version_reads_back_field_for_field_at_the_edges_of_its_varints()
    {
        KeyValueEntry[] entries =
        [
            new(B("k"), CreateRevision: 2, ModRevision: 2, Version: 1, Value: [], Lease: 0),
            new(B("k"), CreateRevision: 2, ModRevision: 3, Version: 127, Value: B("v"), Lease: long.MaxValue),
            new(new byte[300], CreateRevision: 128, ModRevision: 4, Version: 128, Value: new byte[5000], Lease: 1L << 56),
            new(B("z"), CreateRevision: (1L << 35) - 1, ModRevision: 5, Version: long.MaxValue, Value: B("w"), Lease: 16_383),
        ];
        using (var view = store.BeginWrite())
        {
            foreach (var entry in entries)
            {
                view.WriteVersion(entry, new Revision(entry.ModRevision, 0), tombstone: false);
            }

            view.Commit();
        }

        using var reader = store.BeginRead();
        foreach (var entry in entries)
        {
            var read = reader.ReadVersion(new Revision(entry.ModRevision, 0));
            Assert.Equal(
                (Convert.ToHexString(entry.Key), entry.CreateRevision, entry.ModRevision, entry.Version, Convert.ToHexString(entry.Value), entry.Lease),
                (Convert.ToHexString(read.Key), read.CreateRevision, read.ModRevision, read.Version, Convert.ToHexString(read.Value), read.Lease));
        }
    }

    [Fact]
    public void A_revision_not_above_the_newest_is_refused_and_the_stored_one_stays()
    {
        Write((Entry("a", 2, "one"), false), (Entry("b", 3, "two"), false));
        using (var view = store.BeginWrite())
        {
            Assert.Throws<IOException>(() => view.WriteVersion(Entry("c", 3, "over"), new Revision(3, 0), tombstone: false));
            Assert.Throws<IOException>(() => view.WriteVersion(Entry("c", 2, "under"), new Revision(2, 5), tombstone: false));
            view.WriteVersion(Entry("c", 3, "after"), new Revision(3, 1), tombstone: false);
            view.Commit();
        }

        using var reader = store.BeginRead();
        Assert.Equal(B("two"), reader.ReadVersion(new Revision(3, 0)).Value);
        Assert.Equal(B("after"), reader.ReadVersion(new Revision(3, 1)).Value);
    }

    [Fact]
    public void A_store_of_another_format_is_refused_with_its_format_named()
    {
        Write((Entry("a", 2, "one"), false));
        store.Dispose();
        using (var environment = new LightningDB.LightningEnvironment(directory, new LightningDB.EnvironmentConfiguration { MaxDatabases = 8, MapSize = 64L << 20 }))
        {
            // Format 1 stored a version's fields fixed-width: its records would be misread.
            environment.Open();
            using var txn = environment.BeginTransaction();
            using var meta = txn.OpenDatabase("meta");
            var (_, _, value) = txn.Get(meta, B("m"));
            var record = value.CopyToNewArray();
            BitConverter.GetBytes(1).CopyTo(record, 0);
            txn.Put(meta, B("m"), record);
            txn.Commit();
        }

        store = Open();
        var refused = Assert.Throws<InvalidDataException>(() => store.BeginRead());
        Assert.Contains("MVCC store format 1", refused.Message);

        // The refused read left no transaction open: one would throw when finalized after its
        // environment closed, and take the process with it.
        store.Dispose();
        GC.Collect();
        GC.WaitForPendingFinalizers();
        store = Open();
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

    [Fact]
    public void An_export_imported_into_another_store_replaces_it_whole_in_small_chunks()
    {
        Write((Entry("a", 2, "one"), false), (Entry("a", 3, "two"), false), (Entry("b", 4, "three"), true));
        using (var view = store.BeginWrite())
        {
            view.WriteRecord("members", B("m1"));
            view.Commit();
        }

        var otherDirectory = directory + "-other";
        using var other = new LmdbMvccStore(new LmdbStoreOptions(otherDirectory, MapSizeBytes: 64L << 20));
        try
        {
            using (var stale = other.BeginWrite())
            {
                stale.WriteVersion(Entry("stale", 9, "gone"), new Revision(9, 0), tombstone: false);
                stale.WriteRecord("old", B("gone"));
                stale.Commit();
            }

            using var export = store.BeginExport();
            Assert.Equal(7UL, export.View.Meta.AppliedIndex);
            var chunks = 0;
            using (var import = other.BeginImport())
            {
                var records = new List<StoreRecord>();
                while (export.ReadChunk(records, maxBytes: 1))
                {
                    chunks++;
                    records.ForEach(import.Write);
                    records.Clear();
                }

                // A reader during the import still sees the old store.
                using (var before = other.BeginRead())
                {
                    Assert.Single(before.ScanLatest(B("stale"), null, 9));
                }

                import.Commit();
            }

            // 3 index entries (a twice), 3 versions, the meta record and the owner record: one each.
            Assert.Equal(8, chunks);
            using var after = other.BeginRead();
            using var original = store.BeginRead();
            Assert.Equal((4L, 7UL), (after.Meta.CurrentRevision, after.Meta.AppliedIndex));
            Assert.Empty(after.ScanLatest(B("stale"), null, 9));
            Assert.Null(after.ReadRecord("old"));
            Assert.Equal(B("m1"), after.ReadRecord("members"));
            Assert.Equal(MvccEngine.HashKV(original, 0), MvccEngine.HashKV(after, 0));
        }
        finally
        {
            other.Dispose();
            Directory.Delete(otherDirectory, recursive: true);
        }
    }
}
