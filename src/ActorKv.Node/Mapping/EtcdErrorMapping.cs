using ActorKv.Mvcc;
using ActorKv.Protocol;
using Grpc.Core;

namespace ActorKv.Node.Mapping;

public static class EtcdErrorMapping
{
    public static RpcException ToRpc(this MvccError error) =>
        error switch
        {
            MvccError.Compacted => EtcdErrors.Compacted,
            MvccError.FutureRevision => EtcdErrors.FutureRevision,
            MvccError.KeyNotFound => EtcdErrors.KeyNotFound,
            MvccError.LeaseNotFound => EtcdErrors.LeaseNotFound,
            MvccError.LeaseExists => EtcdErrors.LeaseExists,
            _ => throw new ArgumentOutOfRangeException(nameof(error), error, "unknown MVCC error"),
        };
}
