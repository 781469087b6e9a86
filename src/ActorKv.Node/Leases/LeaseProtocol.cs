namespace ActorKv.Node.Leases;

public static class LeaseProtocol
{
    /// <summary>The apply side granted a lease (on every member).</summary>
    public sealed record Granted(long Id, long Ttl);

    /// <summary>The apply side revoked a lease (on every member).</summary>
    public sealed record Revoked(long Id);

    /// <summary>The store was replaced (a leader's snapshot): the leases are what it now holds.</summary>
    public sealed record StoreReplaced
    {
        public static readonly StoreReplaced Instance = new();
    }

    /// <summary>
    /// Who leads now. <paramref name="LeaderSweeperPath"/> is where keep-alives go when this
    /// member does not lead (null when no leader is known).
    /// </summary>
    public sealed record LeadershipChanged(bool IsLeader, string? LeaderSweeperPath);

    /// <summary>
    /// Asked by a restarted sweeper of the Raft actor (or the single-node log), which answers
    /// with <see cref="LeadershipChanged"/>: leadership is told on change only, and a restarted
    /// sweeper knows nothing.
    /// </summary>
    public sealed record LeadershipQuery
    {
        public static readonly LeadershipQuery Instance = new();
    }

    /// <summary>
    /// What a promotion waited for is done: every lease applied on this member is visible in
    /// the store (or, when <paramref name="Visible"/> is false, the wait gave up).
    /// </summary>
    public sealed record PromoteReady(object Promotion, bool Visible);

    /// <summary>Look for expired leases.</summary>
    public sealed record SweepTick
    {
        public static readonly SweepTick Instance = new();
    }
}
