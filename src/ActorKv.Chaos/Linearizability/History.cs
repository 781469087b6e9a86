namespace ActorKv.Chaos.Linearizability;

/// <summary>
/// One client operation as a history records it: what was asked, what came back, and when it was
/// invoked and completed on one monotonic clock. An operation whose outcome is unknown (a timeout,
/// a lost connection) may have taken effect at any time after its call, or never: its return
/// time is <see cref="long.MaxValue"/> and its output is not known.
/// </summary>
public sealed record Operation<TInput, TOutput>(int Client, TInput Input, TOutput? Output, long Call, long Return)
{
    public bool OutcomeUnknown => Return == long.MaxValue;

    public static Operation<TInput, TOutput> Unknown(int client, TInput input, long call) => new(client, input, default, call, long.MaxValue);
}

/// <summary>
/// What a linearizability checker needs of a data type: an initial state and, for one operation
/// with its output (or an unknown output), the states it may lead to; none if the output is
/// impossible from that state. States must have value equality (they are memoised).
/// </summary>
public interface IModel<TState, TInput, TOutput>
    where TState : notnull
{
    TState Initial { get; }

    IEnumerable<TState> Step(TState state, TInput input, TOutput? output, bool outcomeUnknown);

    /// <summary>Splits a history into independent parts (per key, say), each checked on its own; or the whole.</summary>
    IEnumerable<IReadOnlyList<Operation<TInput, TOutput>>> Partition(IReadOnlyList<Operation<TInput, TOutput>> history) => [history];
}

public enum Verdict
{
    Linearizable,
    NotLinearizable,
    /// <summary>The search ran out of its budget: neither proven nor refuted.</summary>
    Unknown,
}

/// <summary>
/// The verdict, and for a history that is not linearizable the part (one partition) that is
/// not, with the longest prefix of it the search could linearize.
/// </summary>
public sealed record CheckResult<TInput, TOutput>(
    Verdict Verdict,
    IReadOnlyList<Operation<TInput, TOutput>>? FailingPartition = null,
    IReadOnlyList<Operation<TInput, TOutput>>? LongestLinearizedPrefix = null);
