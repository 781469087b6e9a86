namespace ActorKv.Mvcc;

/// <summary>Revision is the store's revision the result was produced at (the response header's).</summary>
public sealed record RangeResult(IReadOnlyList<KeyValueEntry> Kvs, bool More, long Count, long Revision);

public sealed record PutResult(long Revision, KeyValueEntry? PrevKv);

public sealed record DeleteResult(long Revision, long Deleted, IReadOnlyList<KeyValueEntry> PrevKvs);

/// <summary>
/// <paramref name="Revision"/> is 0 for a nested transaction: etcd fills the revision of the
/// top-level response only.
/// </summary>
public sealed record TxnResult(bool Succeeded, IReadOnlyList<TxnOperationResult> Responses, long Revision);

public sealed record CompactResult(long Revision);

/// <summary>A lease revoked: the revision of its keys' deletion (the current one if it had none) and the keys deleted.</summary>
public sealed record LeaseRevokeResult(long Revision, int DeletedKeys);

public abstract record TxnOperationResult
{
    public sealed record Range(RangeResult Result) : TxnOperationResult;
    public sealed record Put(PutResult Result) : TxnOperationResult;
    public sealed record Delete(DeleteResult Result) : TxnOperationResult;
    public sealed record Nested(TxnResult Result) : TxnOperationResult;
}

public enum MvccError
{
    /// <summary>etcd: "mvcc: required revision has been compacted".</summary>
    Compacted,
    /// <summary>etcd: "mvcc: required revision is a future revision".</summary>
    FutureRevision,
    /// <summary>etcd: "etcdserver: key not found" (ignore_value / ignore_lease on a missing key).</summary>
    KeyNotFound,
    /// <summary>etcd: "etcdserver: requested lease not found".</summary>
    LeaseNotFound,
    /// <summary>etcd: "etcdserver: lease already exists".</summary>
    LeaseExists,
}

/// <summary>A request the store refuses; nothing was written.</summary>
public sealed class MvccException(MvccError error) : Exception(error.ToString())
{
    public MvccError Error { get; } = error;
}
