using System.Text;

namespace ActorKv.Mvcc.Tests;

public sealed class MvccEngineTests : IDisposable
{
    private readonly TempLmdbStore store = new();

    public void Dispose() => store.Dispose();

    private static byte[] B(string text) => Encoding.UTF8.GetBytes(text);

    private long Put(string key, string value) =>
        store.Write(view => store.Engine.Put(view, new PutCommand(B(key), B(value)))).Revision;

    private RangeResult Get(string key, long revision = 0) =>
        store.Read(view => store.Engine.Range(view, new RangeQuery(B(key), Revision: revision)));

    [Fact]
    public void Worked_example_of_the_engine_doc_comment_holds()
    {
        Assert.Equal(2, Put("a", "1"));
        Assert.Equal(3, Put("a", "2"));
        Assert.Equal(4, store.Write(view => store.Engine.Delete(view, new DeleteCommand(B("a")))).Revision);
        Assert.Equal(5, Put("a", "3"));

        var atThree = Assert.Single(Get("a", 3).Kvs);
        Assert.Equal((2L, 2L), (atThree.Version, atThree.CreateRevision));
        Assert.Empty(Get("a", 4).Kvs);
        var atFive = Assert.Single(Get("a", 5).Kvs);
        Assert.Equal((1L, 5L), (atFive.Version, atFive.CreateRevision));

        store.Write(view => store.Engine.Compact(view, 4));
        store.FinishCompaction(keysPerStep: 1);
        Assert.Empty(Get("a", 4).Kvs);
        Assert.Equal(B("3"), Assert.Single(Get("a", 5).Kvs).Value);
        var history = store.Read(view => view.ReadHistories([], 10));
        Assert.Equal([5L], Assert.Single(history).Entries.Select(e => e.Revision.Main));
        Assert.Equal(MvccError.Compacted, Assert.Throws<MvccException>(() => Get("a", 3)).Error);
    }

    [Fact]
    public void Nested_txn_guards_see_the_state_before_the_txn_writes()
    {
        Put("x", "old");
        // Outer success puts x; the nested guard "x == old" must still hold, as etcd evaluates
        // every guard on the chosen path before any operation runs.
        var nested = new TxnCommand(
            [new CompareCondition(B("x"), CompareTarget.Value, CompareResult.Equal, Value: B("old"))],
            [new TxnOperation.Put(new PutCommand(B("y"), B("nested")))],
            []);
        var txn = new TxnCommand([], [new TxnOperation.Put(new PutCommand(B("x"), B("new"))), new TxnOperation.Nested(nested)], []);
        var result = store.Write(view => store.Engine.Txn(view, txn));

        Assert.True(((TxnOperationResult.Nested)result.Responses[1]).Result.Succeeded);
        Assert.Equal(3, result.Revision);
        Assert.Equal(B("nested"), Assert.Single(Get("y").Kvs).Value);
        Assert.Equal(3, Assert.Single(Get("y").Kvs).ModRevision);
    }

    [Fact]
    public void A_txn_that_changes_nothing_keeps_the_revision()
    {
        Put("k", "v");
        var txn = new TxnCommand([], [new TxnOperation.Delete(new DeleteCommand(B("missing")))], []);
        Assert.Equal(2, store.Write(view => store.Engine.Txn(view, txn)).Revision);
        Assert.Equal(2, store.Read(view => view.Meta.CurrentRevision));
    }

    [Fact]
    public void A_refused_txn_writes_nothing()
    {
        var txn = new TxnCommand(
            [],
            [new TxnOperation.Put(new PutCommand(B("a"), B("1"))), new TxnOperation.Put(new PutCommand(B("b"), [], IgnoreValue: true))],
            []);
        var refused = Assert.Throws<MvccException>(() => store.Write(view => store.Engine.Txn(view, txn)));
        Assert.Equal(MvccError.KeyNotFound, refused.Error);
        Assert.Empty(Get("a").Kvs);
        Assert.Equal(1, store.Read(view => view.Meta.CurrentRevision));
    }

    [Fact]
    public void The_hash_of_a_revision_is_the_same_before_and_after_physical_compaction()
    {
        for (var i = 0; i < 20; i++)
        {
            Put("k" + (i % 7), "v" + i);
        }

        store.Write(view => store.Engine.Delete(view, new DeleteCommand(B("k3"))));
        store.Write(view => store.Engine.Compact(view, 15));
        var before = store.Read(view => MvccEngine.HashKV(view, 0));
        var beforeAt18 = store.Read(view => MvccEngine.HashKV(view, 18));
        store.FinishCompaction(keysPerStep: 2);

        Assert.Equal(before, store.Read(view => MvccEngine.HashKV(view, 0)));
        Assert.Equal(beforeAt18, store.Read(view => MvccEngine.HashKV(view, 18)));
        Assert.NotEqual(before.Hash, beforeAt18.Hash);
        Assert.Equal(15, before.CompactRevision);
        Assert.Equal(MvccError.Compacted, Assert.Throws<MvccException>(() => store.Read(view => MvccEngine.HashKV(view, 14))).Error);
    }
}
