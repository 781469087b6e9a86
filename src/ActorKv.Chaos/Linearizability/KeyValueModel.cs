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
    /// <summary>
    /// One etcd txn without a compare: puts and gets of several keys, applied atomically. Its
    /// output lists what each get read, in order (<see cref="KvOutput.Values"/>).
    /// </summary>
    public sealed record Txn(IReadOnlyList<KvInput> Ops) : KvInput(string.Join(",", Ops.Select(op => op.Key)))
    {
        public override string ToString() => $"Txn [{string.Join("; ", Ops)}]";
    }
}

/// <summary>What came back: the value a Get read (null: absent), whether a compare-and-set succeeded, what a Txn's gets read.</summary>
public sealed record KvOutput(string? Value = null, bool Succeeded = true, IReadOnlyList<string?>? Values = null)
{
    public override string ToString() => Values is null ? $"KvOutput {{ Value = {Value}, Succeeded = {Succeeded} }}" : $"KvOutput {{ Values = [{string.Join(", ", Values.Select(v => v ?? "(absent)"))}] }}";
}

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

    /// <summary>
    /// Per key; a Txn is split into one operation per key it touches (same call and return): a
    /// projection of a linearizable history is linearizable, so nothing is lost that this model
    /// could see; a Txn's atomicity across keys is <see cref="StoreModel"/>'s to check.
    /// </summary>
    public IEnumerable<IReadOnlyList<Operation<KvInput, KvOutput>>> Partition(IReadOnlyList<Operation<KvInput, KvOutput>> history) =>
        history.SelectMany(Project).GroupBy(op => op.Input.Key).Select(group => (IReadOnlyList<Operation<KvInput, KvOutput>>)group.ToList());

    /// <summary>A Txn as the single-key operations it is made of; any other operation as itself.</summary>
    public static IEnumerable<Operation<KvInput, KvOutput>> Project(Operation<KvInput, KvOutput> operation)
    {
        if (operation.Input is not KvInput.Txn txn)
        {
            yield return operation;
            yield break;
        }

        var read = 0;
        foreach (var op in txn.Ops)
        {
            var output = operation.OutcomeUnknown ? null : op is KvInput.Get ? new KvOutput(operation.Output!.Values![read++]) : new KvOutput();
            yield return operation with { Input = op, Output = output };
        }
    }
}

/// <summary>The whole store as one state: every key's register, in key order (value equality, for memoisation).</summary>
public sealed record StoreState(string Canonical)
{
    public static readonly StoreState Empty = new("");

    public IReadOnlyDictionary<string, Register> Keys() =>
        Canonical.Length == 0
            ? new Dictionary<string, Register>()
            : Canonical.Split('\u0001').Select(entry => entry.Split('\u0002')).ToDictionary(parts => parts[0], parts => new Register(parts[1], long.Parse(parts[2], System.Globalization.CultureInfo.InvariantCulture)));

    public static StoreState Of(IReadOnlyDictionary<string, Register> keys) =>
        new(string.Join('\u0001', keys.Where(k => k.Value.Value is not null).OrderBy(k => k.Key, StringComparer.Ordinal).Select(k => $"{k.Key}\u0002{k.Value.Value}\u0002{k.Value.Lease}")));
}

/// <summary>
/// The whole store as one register map, no partitioning: a Txn's puts and gets apply atomically,
/// so a torn read (one key's new value with another's old one, where a Txn wrote both) is caught.
/// The search grows with the whole history's concurrency: for short runs and tests; long runs are
/// checked per key (<see cref="KeyValueModel"/>).
/// </summary>
public sealed class StoreModel : IModel<StoreState, KvInput, KvOutput>
{
    private static readonly KeyValueModel PerKey = new();

    public StoreState Initial => StoreState.Empty;

    public IEnumerable<StoreState> Step(StoreState state, KvInput input, KvOutput? output, bool outcomeUnknown)
    {
        var keys = state.Keys();
        if (input is KvInput.Txn unknown && outcomeUnknown)
        {
            // It happened whole or not at all; its reads told nothing.
            var applied = new Dictionary<string, Register>(keys);
            foreach (var op in unknown.Ops.Where(op => op is not KvInput.Get))
            {
                applied[op.Key] = PerKey.Step(applied.GetValueOrDefault(op.Key, new Register(null)), op, new KvOutput(), outcomeUnknown: false).Single();
            }

            return new[] { state, StoreState.Of(applied) }.Distinct();
        }

        var operation = new Operation<KvInput, KvOutput>(0, input, output, 0, outcomeUnknown ? long.MaxValue : 0);
        IEnumerable<Dictionary<string, Register>> outcomes = [new Dictionary<string, Register>(keys)];
        foreach (var part in KeyValueModel.Project(operation))
        {
            outcomes = outcomes.SelectMany(before => PerKey.Step(before.GetValueOrDefault(part.Input.Key, new Register(null)), part.Input, part.Output, part.OutcomeUnknown)
                .Select(after => new Dictionary<string, Register>(before) { [part.Input.Key] = after }));
        }

        return outcomes.Select(StoreState.Of).Distinct();
    }
}
