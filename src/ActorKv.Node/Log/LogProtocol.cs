using ActorKv.Protocol.Log;
using ActorKv.Protocol.Membership;

namespace ActorKv.Node.Log;

/// <summary>Messages between the gateway, the log (Raft, or the single-node log) and apply.</summary>
public static class LogProtocol
{
    /// <summary>Asks the log to append a client write.</summary>
    public sealed record Propose(WriteRequest Request);

    /// <summary>
    /// One entry of the replicated log: a client write, a membership change, or neither (a new
    /// leader's empty entry), which only advances the applied index.
    /// </summary>
    public sealed record LogEntry(ulong Index, ulong Term, WriteRequest? Request, MembershipChange? Membership = null);

    /// <summary>Entries that are committed (durable on a quorum) and may be applied, in index order.</summary>
    public sealed record CommittedEntries(IReadOnlyList<LogEntry> Entries);

    /// <summary>
    /// The apply actor was restarted and lost the entries it had received but not yet applied:
    /// the log sends again every entry after <paramref name="AppliedIndex"/> it has handed over.
    /// </summary>
    public sealed record ApplyRestarted(ulong AppliedIndex);

    /// <summary>The answer to <see cref="ApplyRestarted"/>: those entries, in index order.</summary>
    public sealed record Redelivered(IReadOnlyList<LogEntry> Entries);
}
