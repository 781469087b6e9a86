using ActorKv.Storage.Lmdb;

namespace ActorKv.Node.Tests;

/// <summary>An MVCC store on LMDB in a temp dir of its own, removed on dispose.</summary>
public sealed class TempStore : IDisposable
{
    private readonly string directory = Path.Combine(Path.GetTempPath(), "actorkv-node-test-" + Guid.NewGuid().ToString("N"));

    public TempStore()
    {
        Store = new LmdbMvccStore(new LmdbStoreOptions(directory, MapSizeBytes: 64L << 20));
    }

    public LmdbMvccStore Store { get; }

    public void Dispose()
    {
        Store.Dispose();
        Directory.Delete(directory, recursive: true);
    }
}
