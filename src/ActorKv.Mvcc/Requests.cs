namespace ActorKv.Mvcc;

public enum SortOrder { None = 0, Ascend = 1, Descend = 2 }

public enum SortTarget { Key = 0, Version = 1, Create = 2, Mod = 3, Value = 4 }

/// <summary>
/// A read of a key or a key range, with etcd's <c>RangeRequest</c> options.
/// <paramref name="RangeEnd"/>: null reads the single key <paramref name="Key"/>; an empty array
/// means "every key from <paramref name="Key"/> on" (etcd's <c>"\0"</c>); otherwise the exclusive end.
/// </summary>
public sealed record RangeQuery(
    byte[] Key,
    byte[]? RangeEnd = null,
    long Limit = 0,
    long Revision = 0,
    SortOrder SortOrder = SortOrder.None,
    SortTarget SortTarget = SortTarget.Key,
    bool KeysOnly = false,
    bool CountOnly = false,
    long MinModRevision = 0,
    long MaxModRevision = 0,
    long MinCreateRevision = 0,
    long MaxCreateRevision = 0);

public sealed record PutCommand(
    byte[] Key,
    byte[] Value,
    long Lease = 0,
    bool PrevKv = false,
    bool IgnoreValue = false,
    bool IgnoreLease = false);

/// <summary>Deletes a key or a range; <paramref name="RangeEnd"/> as in <see cref="RangeQuery"/>.</summary>
public sealed record DeleteCommand(byte[] Key, byte[]? RangeEnd = null, bool PrevKv = false);

public enum CompareTarget { Version = 0, Create = 1, Mod = 2, Value = 3, Lease = 4 }

public enum CompareResult { Equal = 0, Greater = 1, Less = 2, NotEqual = 3 }

/// <summary>
/// One guard of a transaction. <paramref name="RangeEnd"/> as in <see cref="RangeQuery"/>: over a
/// range, every existing key must satisfy it. Only the operand named by <paramref name="Target"/>
/// is used.
/// </summary>
public sealed record CompareCondition(
    byte[] Key,
    CompareTarget Target,
    CompareResult Result,
    long Number = 0,
    byte[]? Value = null,
    byte[]? RangeEnd = null);

/// <summary>One operation of a transaction branch.</summary>
public abstract record TxnOperation
{
    public sealed record Range(RangeQuery Query) : TxnOperation;
    public sealed record Put(PutCommand Command) : TxnOperation;
    public sealed record Delete(DeleteCommand Command) : TxnOperation;
    public sealed record Nested(TxnCommand Txn) : TxnOperation;
}

public sealed record TxnCommand(
    IReadOnlyList<CompareCondition> Compare,
    IReadOnlyList<TxnOperation> Success,
    IReadOnlyList<TxnOperation> Failure)
{
    /// <summary>True when no branch, at any depth, writes: etcd serves such a txn as a read.</summary>
    public bool IsReadOnly =>
        Success.Concat(Failure).All(op => op switch
        {
            TxnOperation.Range => true,
            TxnOperation.Nested nested => nested.Txn.IsReadOnly,
            _ => false,
        });
}
