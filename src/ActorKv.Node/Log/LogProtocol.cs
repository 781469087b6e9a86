using ActorKv.Protocol.Log;

namespace ActorKv.Node.Log;

/// <summary>Messages between the gateway, the log (Raft, or the single-node log) and apply.</summary>
public static class LogProtocol
{
    /// <summary>Asks the log to append a client write.</summary>
    public sealed record Propose(WriteRequest Request);

    /// <summary>
    /// One entry of the replicated log. <paramref name="Request"/> is null for entries that change
    /// no key (a new leader's empty entry, a membership change): applying them only advances the
    /// applied index.
    /// </summary>
    public sealed record LogEntry(ulong Index, ulong Term, WriteRequest? Request);

    /// <summary>Entries that are committed (durable on a quorum) and may be applied, in index order.</summary>
    public sealed record CommittedEntries(IReadOnlyList<LogEntry> Entries);
}
