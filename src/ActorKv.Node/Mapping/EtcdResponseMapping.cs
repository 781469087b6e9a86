using ActorKv.Mvcc;
using Etcdserverpb;
using Google.Protobuf;
using Mvccpb;

namespace ActorKv.Node.Mapping;

/// <summary>
/// MVCC results to etcd v3 protobuf responses. Headers carry only the revision here; the node
/// stamps cluster, member and term on the top-level header (<see cref="ResponseHeaderStamp"/>),
/// and leaves nested ones as etcd does.
/// </summary>
public static class EtcdResponseMapping
{
    public static KeyValue ToProto(this KeyValueEntry entry) =>
        new()
        {
            // Entries are immutable, so their arrays can back the message without a copy.
            Key = UnsafeByteOperations.UnsafeWrap(entry.Key),
            CreateRevision = entry.CreateRevision,
            ModRevision = entry.ModRevision,
            Version = entry.Version,
            Value = UnsafeByteOperations.UnsafeWrap(entry.Value),
            Lease = entry.Lease,
        };

    public static RangeResponse ToProto(this RangeResult result)
    {
        var response = new RangeResponse
        {
            Header = new ResponseHeader { Revision = result.Revision },
            More = result.More,
            Count = result.Count,
        };
        foreach (var kv in result.Kvs)
        {
            response.Kvs.Add(kv.ToProto());
        }

        return response;
    }

    public static PutResponse ToProto(this PutResult result) =>
        new()
        {
            Header = new ResponseHeader { Revision = result.Revision },
            PrevKv = result.PrevKv?.ToProto(),
        };

    public static DeleteRangeResponse ToProto(this DeleteResult result)
    {
        var response = new DeleteRangeResponse
        {
            Header = new ResponseHeader { Revision = result.Revision },
            Deleted = result.Deleted,
        };
        foreach (var kv in result.PrevKvs)
        {
            response.PrevKvs.Add(kv.ToProto());
        }

        return response;
    }

    public static TxnResponse ToProto(this TxnResult result)
    {
        var response = new TxnResponse
        {
            Header = new ResponseHeader { Revision = result.Revision },
            Succeeded = result.Succeeded,
        };
        foreach (var op in result.Responses)
        {
            response.Responses.Add(op switch
            {
                TxnOperationResult.Range range => new ResponseOp { ResponseRange = range.Result.ToProto() },
                TxnOperationResult.Put put => new ResponseOp { ResponsePut = put.Result.ToProto() },
                TxnOperationResult.Delete delete => new ResponseOp { ResponseDeleteRange = delete.Result.ToProto() },
                TxnOperationResult.Nested nested => new ResponseOp { ResponseTxn = nested.Result.ToProto() },
                _ => throw new ArgumentException("unknown operation result " + op, nameof(result)),
            });
        }

        return response;
    }
}
