using ActorKv.Mvcc;
using Etcdserverpb;
using Google.Protobuf;

namespace ActorKv.Node.Mapping;

/// <summary>etcd v3 protobuf requests to the MVCC engine's commands.</summary>
public static class EtcdRequestMapping
{
    /// <summary>
    /// etcd's range-end convention: absent means the single key, a lone zero byte means "every key
    /// from the start key on" (<c>mkGteRange</c>), anything else is the exclusive end.
    /// </summary>
    public static byte[]? RangeEnd(ByteString rangeEnd) =>
        rangeEnd.Length switch
        {
            0 => null,
            1 when rangeEnd[0] == 0 => [],
            _ => rangeEnd.ToByteArray(),
        };

    public static RangeQuery ToQuery(this RangeRequest request) =>
        new(
            request.Key.ToByteArray(),
            RangeEnd(request.RangeEnd),
            request.Limit,
            request.Revision,
            (Mvcc.SortOrder)request.SortOrder,
            (Mvcc.SortTarget)request.SortTarget,
            request.KeysOnly,
            request.CountOnly,
            request.MinModRevision,
            request.MaxModRevision,
            request.MinCreateRevision,
            request.MaxCreateRevision);

    public static PutCommand ToCommand(this PutRequest request) =>
        new(request.Key.ToByteArray(), request.Value.ToByteArray(), request.Lease, request.PrevKv, request.IgnoreValue, request.IgnoreLease);

    public static DeleteCommand ToCommand(this DeleteRangeRequest request) =>
        new(request.Key.ToByteArray(), RangeEnd(request.RangeEnd), request.PrevKv);

    public static TxnCommand ToCommand(this TxnRequest request) =>
        new(
            request.Compare.Select(ToCondition).ToList(),
            request.Success.Select(ToOperation).ToList(),
            request.Failure.Select(ToOperation).ToList());

    private static CompareCondition ToCondition(Compare compare) =>
        new(
            compare.Key.ToByteArray(),
            (CompareTarget)compare.Target,
            (Mvcc.CompareResult)compare.Result,
            compare.TargetUnionCase switch
            {
                Compare.TargetUnionOneofCase.Version => compare.Version,
                Compare.TargetUnionOneofCase.CreateRevision => compare.CreateRevision,
                Compare.TargetUnionOneofCase.ModRevision => compare.ModRevision,
                Compare.TargetUnionOneofCase.Lease => compare.Lease,
                _ => 0,
            },
            compare.TargetUnionCase == Compare.TargetUnionOneofCase.Value ? compare.Value.ToByteArray() : [],
            RangeEnd(compare.RangeEnd));

    private static TxnOperation ToOperation(RequestOp op) =>
        op.RequestCase switch
        {
            RequestOp.RequestOneofCase.RequestRange => new TxnOperation.Range(op.RequestRange.ToQuery()),
            RequestOp.RequestOneofCase.RequestPut => new TxnOperation.Put(op.RequestPut.ToCommand()),
            RequestOp.RequestOneofCase.RequestDeleteRange => new TxnOperation.Delete(op.RequestDeleteRange.ToCommand()),
            RequestOp.RequestOneofCase.RequestTxn => new TxnOperation.Nested(op.RequestTxn.ToCommand()),
            // Validation refuses empty operations before they get here, as etcd does.
            _ => throw new ArgumentException("empty request operation", nameof(op)),
        };
}
