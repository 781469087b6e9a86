using CsCheck;

namespace ActorKv.Mvcc.Tests;

/// <summary>
/// Random sequences of Put / DeleteRange / Txn / Compact / physical compaction / Range against the
/// engine on LMDB and against <see cref="MvccModel"/>; every answer, and afterwards every key at
/// every readable revision, must agree. A failure prints CsCheck's seed, which replays it.
/// </summary>
public sealed class MvccModelPropertyTests
{
    private static readonly string[] Keys = ["a", "aa", "ab", "b", "b\0", "ba", "c", "zz"];

    private abstract record Op;
    private sealed record PutOp(string Key, string Value) : Op;
    private sealed record DeleteOp(string Key, string? End) : Op;
    private sealed record RangeOp(string Key, string? End, int RevisionsBack, int Limit) : Op;
    private sealed record CompactOp(int RevisionsBack) : Op;
    private sealed record PhysicalCompactionOp(int KeysPerStep) : Op;
    private sealed record TxnOp(string CompareKey, long Version, string PutKey, string Value, string DeleteKey) : Op;

    private static readonly Gen<string> GenKey = Gen.Int[0, Keys.Length - 1].Select(i => Keys[i]);

    /// <summary>null: the single key; "": every key from the start; otherwise an end key.</summary>
    private static readonly Gen<string?> GenEnd = Gen.Frequency(
        (3, Gen.Const((string?)null)),
        (1, Gen.Const((string?)"")),
        (2, GenKey.Select(k => (string?)k)));

    private static readonly Gen<Op> GenOp = Gen.Frequency(
        (6, Gen.Select(GenKey, Gen.Int[0, 99]).Select((k, v) => (Op)new PutOp(k, "v" + v))),
        (2, Gen.Select(GenKey, GenEnd).Select((k, e) => (Op)new DeleteOp(k, e))),
        (4, Gen.Select(GenKey, GenEnd, Gen.Int[-1, 6], Gen.Int[0, 3]).Select((k, e, back, limit) => (Op)new RangeOp(k, e, back, limit))),
        (1, Gen.Int[-1, 4].Select(back => (Op)new CompactOp(back))),
        (1, Gen.Int[1, 3].Select(n => (Op)new PhysicalCompactionOp(n))),
        (2, Gen.Select(GenKey, Gen.Long[0, 3], GenKey, Gen.Int[0, 99], GenKey)
            .Select((ck, version, pk, v, dk) => (Op)new TxnOp(ck, version, pk, "t" + v, dk))));

    private static byte[] B(string text) => MvccModel.Bytes(text);

    private static byte[]? End(string? end) => end is null ? null : B(end);

    [Fact]
    public void Engine_on_lmdb_agrees_with_the_model()
    {
        GenOp.Array[1, 60].Sample(ops =>
        {
            using var store = new TempLmdbStore();
            var model = new MvccModel();
            foreach (var op in ops)
            {
                Run(store, model, op);
            }

            AssertSameHistory(store, model);
        }, iter: 150, threads: 1);
    }

    private static void Run(TempLmdbStore store, MvccModel model, Op op)
    {
        switch (op)
        {
            case PutOp put:
            {
                var result = store.Write(view => store.Engine.Put(view, new PutCommand(B(put.Key), B(put.Value))));
                Assert.Equal(model.Write([(B(put.Key), B(put.Value), null, false)]), result.Revision);
                break;
            }

            case DeleteOp delete:
            {
                var expectedDeleted = model.Live(B(delete.Key), End(delete.End), model.Current).Count;
                var result = store.Write(view => store.Engine.Delete(view, new DeleteCommand(B(delete.Key), End(delete.End))));
                Assert.Equal(model.Write([(B(delete.Key), null, End(delete.End), true)]), result.Revision);
                Assert.Equal(expectedDeleted, result.Deleted);
                break;
            }

            case RangeOp range:
            {
                var revision = range.RevisionsBack < 0 ? model.Current + 1 : Math.Max(0, model.Current - range.RevisionsBack);
                var query = new RangeQuery(B(range.Key), End(range.End), Limit: range.Limit, Revision: revision);
                var expected = Outcome(() => model.Range(query.Key, query.RangeEnd, revision, range.Limit));
                var actual = Outcome(() => store.Read(view => store.Engine.Range(view, query)) is var r ? (Kvs: r.Kvs.ToList(), r.Count, r.More) : default);
                Assert.Equal(expected.Error, actual.Error);
                if (expected.Error is null)
                {
                    Assert.Equal(expected.Value.Count, actual.Value.Count);
                    Assert.Equal(expected.Value.More, actual.Value.More);
                    AssertSameKvs(expected.Value.Kvs, actual.Value.Kvs);
                }

                break;
            }

            case CompactOp compact:
            {
                var revision = compact.RevisionsBack < 0 ? model.Current + 1 : model.Current - compact.RevisionsBack;
                var expected = Outcome(() => { model.Compact(revision); return 0; });
                var actual = Outcome(() => store.Write(view => store.Engine.Compact(view, revision)) is not null ? 0 : 0);
                Assert.Equal(expected.Error, actual.Error);
                break;
            }

            case PhysicalCompactionOp physical:
                store.FinishCompaction(physical.KeysPerStep);
                break;

            case TxnOp txn:
            {
                var current = model.Live(B(txn.CompareKey), null, model.Current).SingleOrDefault();
                var succeeds = (current?.Version ?? 0) == txn.Version;
                var expectedRevision = succeeds
                    ? model.Write([(B(txn.PutKey), B(txn.Value), null, false)])
                    : model.Write([(B(txn.DeleteKey), null, null, true)]);
                var command = new TxnCommand(
                    [new CompareCondition(B(txn.CompareKey), CompareTarget.Version, CompareResult.Equal, Number: txn.Version)],
                    [new TxnOperation.Put(new PutCommand(B(txn.PutKey), B(txn.Value)))],
                    [new TxnOperation.Delete(new DeleteCommand(B(txn.DeleteKey)))]);
                var result = store.Write(view => store.Engine.Txn(view, command));
                Assert.Equal(succeeds, result.Succeeded);
                Assert.Equal(expectedRevision, result.Revision);
                break;
            }
        }
    }

    /// <summary>Every key, at every revision still readable, reads the same in both.</summary>
    private static void AssertSameHistory(TempLmdbStore store, MvccModel model)
    {
        for (var revision = Math.Max(1, model.Compacted); revision <= model.Current; revision++)
        {
            var at = revision;
            var actual = store.Read(view => store.Engine.Range(view, new RangeQuery([0], [], Revision: at)));
            AssertSameKvs(model.Live([0], [], at), actual.Kvs.ToList());
        }
    }

    private static void AssertSameKvs(List<KeyValueEntry> expected, List<KeyValueEntry> actual)
    {
        Assert.Equal(expected.Count, actual.Count);
        for (var i = 0; i < expected.Count; i++)
        {
            Assert.Equal(expected[i].Key, actual[i].Key);
            Assert.Equal(expected[i].Value, actual[i].Value);
            Assert.Equal(expected[i].CreateRevision, actual[i].CreateRevision);
            Assert.Equal(expected[i].ModRevision, actual[i].ModRevision);
            Assert.Equal(expected[i].Version, actual[i].Version);
        }
    }

    private static (T Value, MvccError? Error) Outcome<T>(Func<T> run)
    {
        try
        {
            return (run(), null);
        }
        catch (MvccException refused)
        {
            return (default!, refused.Error);
        }
    }
}
