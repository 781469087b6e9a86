namespace ActorKv.Chaos.Watches;

/// <summary>
/// One key as a read returned it, with the revision the response's header named: a serializable
/// read, or one key of a multi-key read (every key of one response shares its revision).
/// </summary>
public sealed record RevisionRead(int Client, string Key, string? Value, long Revision, bool Serializable);

/// <summary>
/// Reads that need not be linearizable (serializable ones, served by any member from what it has
/// applied) must still be a true snapshot: what a key held at the revision the response names.
/// The key's history is the watchers': each event of a complete watch history of every key is
/// one write at its revision. A read disagreeing with it read a store that never existed: a
/// torn multi-key read, a member that applied differently, a revision header that lies.
/// Pure: the runner records, this judges.
/// </summary>
public static class RevisionReadChecker
{
    public static IReadOnlyList<string> Check(IReadOnlyList<ObservedEvent> history, IEnumerable<RevisionRead> reads)
    {
        var lastRevision = history.Count == 0 ? 0 : history[^1].Revision;
        var byKey = history.GroupBy(e => e.Key).ToDictionary(g => g.Key, g => g.OrderBy(e => e.Revision).ToList());
        var violations = new List<string>();
        foreach (var read in reads)
        {
            if (read.Revision > lastRevision)
            {
                violations.Add($"client {read.Client} read {read.Key} at revision {read.Revision}, past the last revision watched ({lastRevision})");
                continue;
            }

            var expected = ValueAt(byKey.GetValueOrDefault(read.Key), read.Revision);
            if (expected != read.Value)
            {
                violations.Add($"client {read.Client} read {read.Key} = {Show(read.Value)} at revision {read.Revision}{(read.Serializable ? " (serializable)" : "")}; the key held {Show(expected)} then");
            }
        }

        return violations;
    }

    private static string? ValueAt(List<ObservedEvent>? events, long revision)
    {
        string? value = null;
        foreach (var e in events ?? [])
        {
            if (e.Revision > revision)
            {
                break;
            }

            value = e.IsPut ? e.Value : null;
        }

        return value;
    }

    private static string Show(string? value) => value is null ? "(absent)" : $"'{value}'";
}
