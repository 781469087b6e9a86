using System.Text;
using ActorKv.Mvcc;
using ActorKv.Storage.Lmdb;
using BenchmarkDotNet.Attributes;

namespace ActorKv.MicroBenchmarks;

/// <summary>The MVCC engine on LMDB: puts in one batch or in nested batches, point reads, range reads.</summary>
[MemoryDiagnoser]
public class MvccBenchmarks
{
    private const int Keys = 10_000;
    private string directory = "";
    private LmdbMvccStore store = null!;
    private MvccEngine engine = null!;
    private byte[] value = [];
    private long next;

    /// <summary>True: every batch commit waits for the disk, as the server does by default.</summary>
    [Params(false, true)]
    public bool Fsync { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        directory = Path.Combine(Path.GetTempPath(), "actorkv-micro-" + Guid.NewGuid().ToString("N"));
        store = new LmdbMvccStore(new LmdbStoreOptions(directory, MapSizeBytes: 4L << 30, Fsync: Fsync));
        engine = new MvccEngine();
        value = new byte[256];
        using var view = store.BeginWrite();
        for (var i = 0; i < Keys; i++)
        {
            engine.Put(view, new PutCommand(Key(i), value));
        }

        view.Commit();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        store.Dispose();
        Directory.Delete(directory, recursive: true);
    }

    private static byte[] Key(long i) => Encoding.ASCII.GetBytes($"key/{i:D8}");

    /// <summary>One group-commit batch of 100 puts of 256 bytes to new keys.</summary>
    [Benchmark(OperationsPerInvoke = 100)]
    public void PutBatchOf100()
    {
        using var view = store.BeginWrite();
        for (var i = 0; i < 100; i++)
        {
            engine.Put(view, new PutCommand(Key(Keys + next++), value));
        }

        view.Commit();
    }

    /// <summary>
    /// 100 puts as a Raft member applies them one batch at a time: each in a nested transaction
    /// of one open transaction, which then commits once (ApplyActor).
    /// </summary>
    [Benchmark(OperationsPerInvoke = 100)]
    public void PutNestedBatchesOf1()
    {
        using var open = store.BeginWrite();
        for (var i = 0; i < 100; i++)
        {
            using var batch = open.BeginNested();
            engine.Put(batch, new PutCommand(Key(Keys + next++), value));
            batch.Commit();
        }

        open.Commit();
    }

    [Benchmark]
    public int GetOneKey()
    {
        using var view = store.BeginRead();
        return engine.Range(view, new RangeQuery(Key(4242))).Kvs.Count;
    }

    [Benchmark]
    public int RangeOf100Keys()
    {
        using var view = store.BeginRead();
        return engine.Range(view, new RangeQuery(Key(1000), Key(1100))).Kvs.Count;
    }
}
