namespace ActorKv.Raft;

/// <summary>
/// What the core asks of its owner, in this order: persist <see cref="HardState"/>,
/// <see cref="Entries"/> and <see cref="Snapshot"/> (one batch, durably); then send
/// <see cref="Messages"/>; then apply <see cref="CommittedEntries"/> and serve
/// <see cref="ReadStates"/>; then call <see cref="RaftCore.Advance"/>.
/// </summary>
public sealed record Ready(
    SoftState? SoftState,
    HardState? HardState,
    IReadOnlyList<Entry> Entries,
    Snapshot? Snapshot,
    IReadOnlyList<Entry> CommittedEntries,
    IReadOnlyList<Message> Messages,
    IReadOnlyList<ReadState> ReadStates)
{
    /// <summary>True when something must be persisted before the messages go out.</summary>
    public bool MustPersist => HardState is not null || Entries.Count > 0 || Snapshot is not null;
}
