using ActorKv.Protocol;
using ActorKv.Storage.Lmdb;
using Etcdserverpb;
using Google.Protobuf;
using Grpc.Core;

namespace ActorKv.Node;

/// <summary>
/// The checks etcd's gRPC layer makes before a request reaches the server (<c>v3rpc/key.go</c>),
/// in the same order, so that bad input gets etcd's exact error. Throws <see cref="RpcException"/>.
/// </summary>
public sealed class RequestValidation(int maxTxnOps)
{
    public void Check(RangeRequest request)
    {
        CheckKey(request.Key, writes: false);
    }

    public void Check(PutRequest request)
    {
        CheckKey(request.Key, writes: true);
        if (request.IgnoreValue && request.Value.Length != 0)
        {
            throw EtcdErrors.ValueProvided;
        }

        if (request.IgnoreLease && request.Lease != 0)
        {
            throw EtcdErrors.LeaseProvided;
        }
    }

    public void Check(DeleteRangeRequest request)
    {
        CheckKey(request.Key, writes: false);
    }

    public void Check(TxnRequest request)
    {
        CheckTxn(request, maxTxnOps);
        // After the cheap checks, as etcd, to bound the work of the overlap check.
        CheckIntervals(request.Success);
        CheckIntervals(request.Failure);
    }

    private static void CheckKey(ByteString key, bool writes)
    {
        if (key.Length == 0)
        {
            throw EtcdErrors.EmptyKey;
        }

        if (writes && key.Length > LmdbMvccStore.MaxKeyBytes)
        {
            throw EtcdErrors.KeyTooLong(LmdbMvccStore.MaxKeyBytes);
        }
    }

    private void CheckTxn(TxnRequest request, int opsAllowed)
    {
        var ops = Math.Max(request.Compare.Count, Math.Max(request.Success.Count, request.Failure.Count));
        if (ops > opsAllowed)
        {
            throw EtcdErrors.TooManyOps;
        }

        foreach (var compare in request.Compare)
        {
            if (compare.Key.Length == 0)
            {
                throw EtcdErrors.EmptyKey;
            }
        }

        foreach (var op in request.Success.Concat(request.Failure))
        {
            CheckOp(op, opsAllowed - ops);
        }
    }

    private void CheckOp(RequestOp op, int opsAllowed)
    {
        switch (op.RequestCase)
        {
            case RequestOp.RequestOneofCase.RequestRange:
                Check(op.RequestRange);
                break;
            case RequestOp.RequestOneofCase.RequestPut:
                Check(op.RequestPut);
                break;
            case RequestOp.RequestOneofCase.RequestDeleteRange:
                Check(op.RequestDeleteRange);
                break;
            case RequestOp.RequestOneofCase.RequestTxn:
                CheckTxn(op.RequestTxn, opsAllowed);
                break;
            default:
                // etcd answers an empty operation so.
                throw EtcdErrors.KeyNotFound;
        }
    }

    /// <summary>A deleted key or range, as etcd's interval tree holds it: [Begin, End), or the point Begin.</summary>
    private readonly record struct DeletedInterval(ByteString Begin, ByteString? End)
    {
        /// <summary>
        /// As etcd's affine intervals: a point matches itself; a range [b, e) matches b &lt;= k &lt; e, so
        /// the "from key" end "\0" matches nothing (an etcd quirk kept for compatibility).
        /// </summary>
        public bool Contains(ByteString key) =>
            End is null
                ? Begin.Span.SequenceEqual(key.Span)
                : Begin.Span.SequenceCompareTo(key.Span) <= 0 && key.Span.SequenceCompareTo(End.Span) < 0;
    }

    /// <summary>etcd's <c>checkIntervals</c>: no key may be put twice, or both put and deleted, along any path.</summary>
    private static (HashSet<ByteString> Puts, List<DeletedInterval> Deletes) CheckIntervals(IEnumerable<RequestOp> ops)
    {
        var opList = ops as IList<RequestOp> ?? ops.ToList();
        var deletes = new List<DeletedInterval>();
        foreach (var op in opList)
        {
            if (op.RequestCase == RequestOp.RequestOneofCase.RequestDeleteRange)
            {
                var delete = op.RequestDeleteRange;
                deletes.Add(new DeletedInterval(delete.Key, delete.RangeEnd.Length != 0 ? delete.RangeEnd : null));
            }
        }

        var puts = new HashSet<ByteString>();
        foreach (var op in opList)
        {
            if (op.RequestCase != RequestOp.RequestOneofCase.RequestTxn)
            {
                continue;
            }

            var (putsThen, deletesThen) = CheckIntervals(op.RequestTxn.Success);
            var (putsElse, deletesElse) = CheckIntervals(op.RequestTxn.Failure);
            foreach (var key in putsThen)
            {
                if (puts.Contains(key) || deletes.Any(d => d.Contains(key)))
                {
                    throw EtcdErrors.DuplicateKey;
                }

                puts.Add(key);
            }

            foreach (var key in putsElse)
            {
                // The same key in both branches is fine: only one of them runs.
                if ((puts.Contains(key) && !putsThen.Contains(key)) || deletes.Any(d => d.Contains(key)))
                {
                    throw EtcdErrors.DuplicateKey;
                }

                puts.Add(key);
            }

            deletes.AddRange(deletesThen);
            deletes.AddRange(deletesElse);
        }

        foreach (var op in opList)
        {
            if (op.RequestCase != RequestOp.RequestOneofCase.RequestPut)
            {
                continue;
            }

            var key = op.RequestPut.Key;
            if (!puts.Add(key) || deletes.Any(d => d.Contains(key)))
            {
                throw EtcdErrors.DuplicateKey;
            }
        }

        return (puts, deletes);
    }
}
