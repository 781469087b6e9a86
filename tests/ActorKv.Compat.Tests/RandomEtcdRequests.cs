using Etcdserverpb;
using Google.Protobuf;

namespace ActorKv.Compat.Tests;

/// <summary>
/// Seeded random etcd KV requests over a small key space, bad input included. The generator
/// knows only the current revision (from the responses), so both servers get identical input.
/// </summary>
public sealed class RandomEtcdRequests(int seed)
{
    private static readonly string[] Keys = ["a", "a/1", "a/2", "a/3", "b", "b/1", "c", "k\0", "k", "z"];

    private readonly Random random = new(seed);

    /// <summary>A request: a RangeRequest, PutRequest, DeleteRangeRequest, TxnRequest or CompactionRequest.</summary>
    public IMessage Next(long currentRevision)
    {
        var roll = random.Next(100);
        return roll switch
        {
            < 38 => Put(),
            < 62 => Range(currentRevision),
            < 72 => Delete(),
            < 88 => Txn(currentRevision, depth: 0),
            < 92 => new CompactionRequest { Revision = random.Next(1, (int)currentRevision + 2), Physical = random.Next(2) == 0 },
            _ => BadRequest(),
        };
    }

    private ByteString Key() => ByteString.CopyFromUtf8(Keys[random.Next(Keys.Length)]);

    private ByteString Value() => ByteString.CopyFromUtf8("v" + random.Next(1000));

    /// <summary>Absent (single key), "\0" (from key), a prefix end, or another key.</summary>
    private ByteString RangeEnd(ByteString key) =>
        random.Next(5) switch
        {
            0 => ByteString.CopyFrom(0),
            1 => PrefixEnd(key),
            2 => Key(),
            _ => ByteString.Empty,
        };

    private static ByteString PrefixEnd(ByteString key)
    {
        var end = key.ToByteArray();
        end[^1]++;
        return ByteString.CopyFrom(end);
    }

    private PutRequest Put()
    {
        var put = new PutRequest { Key = Key(), Value = Value(), PrevKv = random.Next(3) == 0 };
        switch (random.Next(20))
        {
            case 0:
                put.IgnoreValue = true;
                put.Value = random.Next(2) == 0 ? ByteString.Empty : put.Value;
                break;
            case 1:
                put.IgnoreLease = true;
                break;
            case 2:
                put.Lease = random.Next(1, 1000);
                break;
        }

        return put;
    }

    private RangeRequest Range(long currentRevision)
    {
        var key = Key();
        var range = new RangeRequest
        {
            Key = key,
            RangeEnd = RangeEnd(key),
            Limit = random.Next(4) == 0 ? random.Next(0, 4) : 0,
            Serializable = random.Next(2) == 0,
            KeysOnly = random.Next(10) == 0,
            CountOnly = random.Next(10) == 0,
        };
        if (random.Next(4) == 0)
        {
            range.Revision = random.Next(-1, (int)currentRevision + 3);
        }

        if (random.Next(3) == 0)
        {
            range.SortOrder = (RangeRequest.Types.SortOrder)random.Next(3);
            range.SortTarget = (RangeRequest.Types.SortTarget)random.Next(5);
        }

        if (random.Next(6) == 0)
        {
            range.MinModRevision = random.Next(0, (int)currentRevision + 1);
            range.MaxCreateRevision = random.Next(0, (int)currentRevision + 1);
        }

        if (random.Next(6) == 0)
        {
            range.MaxModRevision = random.Next(0, (int)currentRevision + 1);
            range.MinCreateRevision = random.Next(0, (int)currentRevision + 1);
        }

        return range;
    }

    private DeleteRangeRequest Delete()
    {
        var key = Key();
        return new DeleteRangeRequest { Key = key, RangeEnd = RangeEnd(key), PrevKv = random.Next(2) == 0 };
    }

    private TxnRequest Txn(long currentRevision, int depth)
    {
        var txn = new TxnRequest();
        for (var i = random.Next(3); i > 0; i--)
        {
            txn.Compare.Add(Compare(currentRevision));
        }

        // Distinct keys per branch keep most txns valid; the duplicate-key check has its own cases.
        var usedKeys = new HashSet<ByteString>();
        AddOps(txn.Success, random.Next(4), currentRevision, depth, usedKeys);
        usedKeys.Clear();
        AddOps(txn.Failure, random.Next(3), currentRevision, depth, usedKeys);
        return txn;
    }

    private void AddOps(Google.Protobuf.Collections.RepeatedField<RequestOp> ops, int count, long currentRevision, int depth, HashSet<ByteString> usedKeys)
    {
        for (var i = 0; i < count; i++)
        {
            switch (random.Next(depth == 0 ? 10 : 9))
            {
                case < 4:
                    var put = Put();
                    if (usedKeys.Add(put.Key))
                    {
                        ops.Add(new RequestOp { RequestPut = put });
                    }

                    break;
                case < 7:
                    var range = Range(currentRevision);
                    range.Revision = Math.Min(range.Revision, currentRevision);
                    ops.Add(new RequestOp { RequestRange = range });
                    break;
                case 7:
                case 8:
                    var key = Key();
                    if (usedKeys.Add(key))
                    {
                        ops.Add(new RequestOp { RequestDeleteRange = new DeleteRangeRequest { Key = key, PrevKv = random.Next(2) == 0 } });
                    }

                    break;
                default:
                    ops.Add(new RequestOp { RequestTxn = Txn(currentRevision, depth + 1) });
                    break;
            }
        }
    }

    private Compare Compare(long currentRevision)
    {
        var key = Key();
        var compare = new Compare
        {
            Key = key,
            Result = (Compare.Types.CompareResult)random.Next(4),
            Target = (Compare.Types.CompareTarget)random.Next(5),
            RangeEnd = random.Next(5) == 0 ? PrefixEnd(key) : ByteString.Empty,
        };
        switch (compare.Target)
        {
            case Etcdserverpb.Compare.Types.CompareTarget.Version:
                compare.Version = random.Next(0, 4);
                break;
            case Etcdserverpb.Compare.Types.CompareTarget.Create:
                compare.CreateRevision = random.Next(0, (int)currentRevision + 1);
                break;
            case Etcdserverpb.Compare.Types.CompareTarget.Mod:
                compare.ModRevision = random.Next(0, (int)currentRevision + 1);
                break;
            case Etcdserverpb.Compare.Types.CompareTarget.Value:
                compare.Value = Value();
                break;
            case Etcdserverpb.Compare.Types.CompareTarget.Lease:
                compare.Lease = 0;
                break;
        }

        return compare;
    }

    private IMessage BadRequest()
    {
        switch (random.Next(6))
        {
            case 0:
                return new PutRequest { Value = Value() };
            case 1:
                return new RangeRequest { RangeEnd = ByteString.CopyFromUtf8("z") };
            case 2:
            {
                var txn = new TxnRequest();
                for (var i = 0; i < 129; i++)
                {
                    txn.Success.Add(new RequestOp { RequestRange = new RangeRequest { Key = Key() } });
                }

                return txn;
            }

            case 3:
            {
                var key = Key();
                var txn = new TxnRequest();
                txn.Success.Add(new RequestOp { RequestPut = new PutRequest { Key = key, Value = Value() } });
                txn.Success.Add(random.Next(2) == 0
                    ? new RequestOp { RequestPut = new PutRequest { Key = key, Value = Value() } }
                    : new RequestOp { RequestDeleteRange = new DeleteRangeRequest { Key = key } });
                return txn;
            }

            case 4:
                // Over the 1.5 MiB request limit, under gRPC's own limit (limit + 512 KiB).
                return new PutRequest { Key = Key(), Value = ByteString.CopyFrom(new byte[(int)(1.6 * 1024 * 1024)]) };
            default:
                return new TxnRequest { Success = { new RequestOp() } };
        }
    }
}
