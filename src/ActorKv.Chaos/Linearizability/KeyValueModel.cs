namespace ActorKv.Chaos.Linearizability;

/// <summary>One operation on one key of a key-value store, as chaos clients issue them.</summary>
public abstract record KvInput(string Key)
{
    public sealed record Put(string Key, string Value) : KvInput(Key);
    public sealed record Get(string Key) : KvInput(Key);
    public sealed record Delete(string Key) : KvInput(Key);
    /// <summary>Sets <paramref name="Value"/> if the key holds <paramref name="Expected"/> (null: if it is absent).</summary>
    public sealed record CompareAndSet(string Key, string? Expected, string Value) : KvInput(Key);
    /// <summary>A put attached to a lease: the key goes when the lease is revoked or expires.</summary>
    public sealed record PutWithLease(string Key, string Value, long Lease) : KvInput(Key);
    /// <summary>A lease revoke, seen from one key: it deletes the key if the key is attached to that lease.</summary>
    public sealed record Revoke(string Key, long Lease) : KvInput(Key);
}

/// <summary>What came back: the value a Get read (null: absent), whether a compare-and-set succeeded.</summary>
public sealed record KvOutput(string? Value = null, bool Succeeded = true);

/// <summary>The value of one key (null when absent) and the lease it is attached to (0: none).</summary>
public readonly record struct Register(string? Value, long Lease = 0);

/// <summary>
/// A key-value store as independent registers (etcd's KV per key): a history splits per key, and
/// each key is checked on its own (Lowe's P-compositionality), which keeps the search small.
/// An operation with an unknown outcome may have written or not: both states follow. A key
/// attached to a lease may expire at any moment: a read that finds it gone is allowed, and from
/// then on it is gone.
/// </summary>
public sealed class KeyValueModel : IModel<Register, KvInput, KvOutput>
{
    public Register Initial => new(null);

    public IEnumerable<Register> Step(Register state, KvInput input, KvOutput? output, bool outcomeUnknown)
    {
        switch (input)
        {
            case KvInput.Put put:
                yield return new Register(put.Value);
                break;
            case KvInput.PutWithLease put:
                yield return new Register(put.Value, put.Lease);
                break;
            case KvInput.Delete:
                yield return new Register(null);
                break;
            case KvInput.Revoke revoke:
                var attached = state.Value is not null && state.Lease == revoke.Lease;
                if (outcomeUnknown || !attached)
                {
                    yield return state;
                }

                if (attached)
                {
                    yield return new Register(null);
                }

                break;
            case KvInput.Get:
                if (outcomeUnknown || output!.Value == state.Value)
                {
                    yield return state;
                }
                else if (output.Value is null && state.Lease != 0)
                {
                    // The lease expired before this read.
                    yield return new Register(null);
                }

                break;
            case KvInput.CompareAndSet cas:
                var matches = cas.Expected == state.Value;
                if (outcomeUnknown)
                {
                    // Whatever it answered, it could only have set the value if it matched.
                    yield return matches ? new Register(cas.Value) : state;
                }
                else if (output!.Succeeded && matches)
                {
                    yield return new Register(cas.Value);
                }
                else if (!output.Succeeded && !matches)
                {
                    yield return state;
                }

                break;
        }
    }

    public IEnumerable<IReadOnlyList<Operation<KvInput, KvOutput>>> Partition(IReadOnlyList<Operation<KvInput, KvOutput>> history) =>
        history.GroupBy(op => op.Input.Key).Select(group => (IReadOnlyList<Operation<KvInput, KvOutput>>)group.ToList());
}
