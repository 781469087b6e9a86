namespace ActorKv.Chaos.Linearizability;

/// <summary>
/// Decides whether a concurrent history is linearizable with respect to a model: Wing and Gong's
/// search with Lowe's memoisation (the algorithm of Porcupine and Knossos's linear checker).
/// Events (calls and returns) are kept in time order in a linked list; the search repeatedly
/// tries to linearize a call that is minimal (no return before it is pending), lifting the call
/// and its return out of the list; at a return whose call is not yet linearized it backtracks.
/// Each (set of linearized operations, model state) pair is explored once. Partitions (for
/// example per key) are checked independently. A step budget bounds the work; running out gives
/// <see cref="Verdict.Unknown"/>, never a guess. Pure: no clock, no I/O, no threads.
/// </summary>
public static class LinearizabilityChecker
{
    public static CheckResult<TInput, TOutput> Check<TState, TInput, TOutput>(
        IModel<TState, TInput, TOutput> model,
        IReadOnlyList<Operation<TInput, TOutput>> history,
        long maxSteps = 2_000_000)
        where TState : notnull
    {
        var sawUnknown = false;
        foreach (var partition in model.Partition(history))
        {
            var (verdict, longest) = CheckPartition(model, partition, maxSteps);
            if (verdict == Verdict.NotLinearizable)
            {
                return new CheckResult<TInput, TOutput>(Verdict.NotLinearizable, partition, longest);
            }

            sawUnknown |= verdict == Verdict.Unknown;
        }

        return new CheckResult<TInput, TOutput>(sawUnknown ? Verdict.Unknown : Verdict.Linearizable);
    }

    private sealed class Event
    {
        public required int Operation { get; init; }
        public required bool IsCall { get; init; }
        public Event? Match { get; set; }
        public Event? Previous { get; set; }
        public Event? Next { get; set; }
    }

    private static (Verdict Verdict, IReadOnlyList<Operation<TInput, TOutput>> Longest) CheckPartition<TState, TInput, TOutput>(
        IModel<TState, TInput, TOutput> model,
        IReadOnlyList<Operation<TInput, TOutput>> operations,
        long maxSteps)
        where TState : notnull
    {
        // The list starts with a sentinel; events in time order, a call before a return at the same time.
        var head = new Event { Operation = -1, IsCall = false };
        var ordered = operations
            .SelectMany((op, index) => new[] { (Time: op.Call, Call: true, Index: index), (Time: op.Return, Call: false, Index: index) })
            .OrderBy(e => e.Time).ThenBy(e => e.Call ? 0 : 1)
            .ToList();
        var calls = new Event[operations.Count];
        var tail = head;
        foreach (var (_, isCall, index) in ordered)
        {
            var current = new Event { Operation = index, IsCall = isCall, Previous = tail };
            tail.Next = current;
            tail = current;
            if (isCall)
            {
                calls[index] = current;
            }
            else
            {
                current.Match = calls[index];
                calls[index].Match = current;
            }
        }

        var linearized = new bool[operations.Count];
        var seen = new HashSet<(LinearizedSet Linearized, TState State)>();
        var stack = new Stack<(Event Call, TState StateBefore, IEnumerator<TState> Alternatives)>();
        var state = model.Initial;
        var longest = new List<int>();
        var entry = head.Next;
        long steps = 0;
        while (head.Next is not null)
        {
            if (++steps > maxSteps)
            {
                return (Verdict.Unknown, longest.Select(i => operations[i]).ToList());
            }

            if (entry is not null && entry.IsCall)
            {
                var op = operations[entry.Operation];
                var successors = model.Step(state, op.Input, op.Output, op.OutcomeUnknown).GetEnumerator();
                if (TryAdvance(successors, entry, state, stack, linearized, seen, ref state))
                {
                    if (stack.Count > longest.Count)
                    {
                        longest = stack.Select(s => s.Call.Operation).Reverse().ToList();
                    }

                    entry = head.Next;
                    continue;
                }

                entry = entry.Next;
                continue;
            }

            // A return whose call is not linearized yet (or the end of the list): undo the last choice.
            while (true)
            {
                if (stack.Count == 0)
                {
                    return (Verdict.NotLinearizable, longest.Select(i => operations[i]).ToList());
                }

                var (call, before, alternatives) = stack.Pop();
                linearized[call.Operation] = false;
                Unlift(call);
                state = before;
                // Another possible next state of the same operation (unknown or nondeterministic outcomes).
                if (TryAdvance(alternatives, call, before, stack, linearized, seen, ref state))
                {
                    entry = head.Next;
                    break;
                }

                entry = call.Next;
                if (entry is not null)
                {
                    break;
                }
            }
        }

        return (Verdict.Linearizable, operations);
    }

    /// <summary>Takes the next unexplored state the call may lead to; lifts the call if there is one.</summary>
    private static bool TryAdvance<TState>(
        IEnumerator<TState> successors,
        Event call,
        TState before,
        Stack<(Event Call, TState StateBefore, IEnumerator<TState> Alternatives)> stack,
        bool[] linearized,
        HashSet<(LinearizedSet Linearized, TState State)> seen,
        ref TState state)
        where TState : notnull
    {
        while (successors.MoveNext())
        {
            linearized[call.Operation] = true;
            var key = (new LinearizedSet(linearized), successors.Current);
            if (seen.Add(key))
            {
                stack.Push((call, before, successors));
                Lift(call);
                state = successors.Current;
                return true;
            }

            linearized[call.Operation] = false;
        }

        return false;
    }

    /// <summary>Which operations are linearized, packed 64 to a word: the memo key's bulk.</summary>
    private sealed class LinearizedSet : IEquatable<LinearizedSet>
    {
        private readonly ulong[] words;
        private readonly int hash;

        public LinearizedSet(bool[] linearized)
        {
            words = new ulong[(linearized.Length + 63) / 64];
            for (var i = 0; i < linearized.Length; i++)
            {
                if (linearized[i])
                {
                    words[i / 64] |= 1UL << (i % 64);
                }
            }

            var combined = new HashCode();
            foreach (var word in words)
            {
                combined.Add(word);
            }

            hash = combined.ToHashCode();
        }

        public bool Equals(LinearizedSet? other) => other is not null && words.AsSpan().SequenceEqual(other.words);

        public override bool Equals(object? obj) => Equals(obj as LinearizedSet);

        public override int GetHashCode() => hash;
    }

    private static void Lift(Event call)
    {
        call.Previous!.Next = call.Next;
        if (call.Next is not null)
        {
            call.Next.Previous = call.Previous;
        }

        var ret = call.Match!;
        ret.Previous!.Next = ret.Next;
        if (ret.Next is not null)
        {
            ret.Next.Previous = ret.Previous;
        }
    }

    private static void Unlift(Event call)
    {
        var ret = call.Match!;
        ret.Previous!.Next = ret;
        if (ret.Next is not null)
        {
            ret.Next.Previous = ret;
        }

        call.Previous!.Next = call;
        if (call.Next is not null)
        {
            call.Next.Previous = call;
        }
    }
}
