using ActorKv.Chaos.Watches;

namespace ActorKv.Chaos.Tests;

public sealed class WatchHistoryCheckerTests
{
    private static ObservedEvent Put(int response, long revision, string key, string value, string? previous = null) =>
        new(response, revision, key, IsPut: true, value, previous, HasPrevious: previous is not null);

    private static ObservedEvent Delete(int response, long revision, string key) =>
        new(response, revision, key, IsPut: false, null, null, HasPrevious: false);

    private static readonly ObservedEvent[] Good =
    [
        Put(0, 2, "a", "1"),
        Put(1, 3, "a", "2", previous: "1"),
        Put(1, 3, "b", "x"),
        Delete(2, 4, "a"),
        Put(3, 5, "a", "3"),
    ];

    private static readonly AcknowledgedPut[] Acknowledged = [new("a", "1", 2), new("b", "x", 3), new("a", "3", 5)];

    [Fact]
    public void A_complete_ordered_history_passes() =>
        Assert.Empty(WatchHistoryChecker.Check(Good, Acknowledged, firstRevision: 2));

    [Fact]
    public void A_gap_is_found() =>
        Assert.Contains(WatchHistoryChecker.Check([Good[0], Good[3], Good[4]], [], 2), v => v.Contains("revisions 3 to 3 are missing", StringComparison.Ordinal));

    [Fact]
    public void A_revision_delivered_twice_is_found() =>
        Assert.Contains(WatchHistoryChecker.Check([.. Good, Good[4] with { Response = 4 }], [], 2), v => v.Contains("revision 5", StringComparison.Ordinal));

    [Fact]
    public void Going_back_is_found() =>
        Assert.Contains(WatchHistoryChecker.Check([Good[0], Good[1], Good[0] with { Response = 5 }], [], 2), v => v.Contains("came after", StringComparison.Ordinal));

    [Fact]
    public void A_wrong_prev_kv_is_found() =>
        Assert.Contains(WatchHistoryChecker.Check([Good[0], Put(1, 3, "a", "2", previous: "0")], [], 2), v => v.Contains("prev_kv of a", StringComparison.Ordinal));

    [Fact]
    public void A_missing_acknowledged_put_is_found() =>
        Assert.Contains(WatchHistoryChecker.Check(Good, [.. Acknowledged, new("c", "9", 4)], 2), v => v.Contains("c=9", StringComparison.Ordinal));

    [Fact]
    public void A_history_starting_late_is_found() =>
        Assert.Contains(WatchHistoryChecker.Check(Good[1..], [], 2), v => v.Contains("at the start", StringComparison.Ordinal));
}
