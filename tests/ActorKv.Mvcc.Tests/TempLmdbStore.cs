using ActorKv.Mvcc;
using ActorKv.Storage.Lmdb;

namespace ActorKv.Mvcc.Tests;

/// <summary>An MVCC engine over a real LMDB store in a temp dir, removed on dispose.</summary>
public sealed class TempLmdbStore : IDisposable
{
    public TempLmdbStore()
    {
        Directory = Path.Combine(Path.GetTempPath(), "actorkv-mvcc-" + Guid.NewGuid().ToString("N"));
        // Semantics tests: durability is tested elsewhere, fsync would only slow them.
        Store = new LmdbMvccStore(new LmdbStoreOptions(Directory, MapSizeBytes: 64L << 20, Fsync: false));
        Engine = new MvccEngine();
    }

    public string Directory { get; }

    public LmdbMvccStore Store { get; }

    public MvccEngine Engine { get; }

    public T Write<T>(Func<LmdbWriteView, T> write)
    {
        using var view = Store.BeginWrite();
        var result = write(view);
        view.Commit();
        return result;
    }

    public T Read<T>(Func<IMvccReadView, T> read)
    {
        using var view = Store.BeginRead();
        return read(view);
    }

    /// <summary>Runs physical compaction to the end in steps of <paramref name="keysPerStep"/>.</summary>
    public void FinishCompaction(int keysPerStep)
    {
        byte[]? resume = [];
        while (resume is not null)
        {
            resume = Write(view => MvccEngine.CompactStep(view, resume, keysPerStep));
        }
    }

    public void Dispose()
    {
        Store.Dispose();
        System.IO.Directory.Delete(Directory, recursive: true);
    }
}
