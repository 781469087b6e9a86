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

    [Fact]
    public void Progress_notifications_between_the_events_they_cover_pass() =>
        Assert.Empty(WatchHistoryChecker.CheckProgress(Good, [new ProgressNotice(3, 3), new ProgressNotice(5, 5)]));

    [Fact]
    public void An_event_at_or_below_a_progress_notification_that_came_after_it_is_found() =>
        Assert.Contains(WatchHistoryChecker.CheckProgress(Good, [new ProgressNotice(4, 3)]), v => v.Contains("then an event of revision 4", StringComparison.Ordinal));

    [Fact]
    public void A_progress_notification_behind_an_event_already_sent_is_found() =>
        Assert.Contains(WatchHistoryChecker.CheckProgress(Good, [new ProgressNotice(2, 3)]), v => v.Contains("after an event of revision 3", StringComparison.Ordinal));

    [Fact]
    public void Reads_that_match_the_history_at_their_revision_pass() =>
        Assert.Empty(RevisionReadChecker.Check(Good, [new RevisionRead(1, "a", "2", 3, true), new RevisionRead(1, "b", "x", 3, false), new RevisionRead(1, "a", null, 4, true), new RevisionRead(1, "b", null, 2, true)]));

    [Fact]
    public void A_stale_value_under_a_newer_revision_is_found() =>
        Assert.Contains(RevisionReadChecker.Check(Good, [new RevisionRead(1, "a", "1", 3, true)]), v => v.Contains("held '2'", StringComparison.Ordinal));

    [Fact]
    public void A_torn_two_key_read_is_found() =>
        // At revision 3 a is 2 and b is x: a read that saw a's new value but not b's is torn.
        Assert.Contains(RevisionReadChecker.Check(Good, [new RevisionRead(1, "a", "2", 3, false), new RevisionRead(1, "b", null, 3, false)]), v => v.Contains("read b = (absent)", StringComparison.Ordinal));

    [Fact]
    public void A_revision_past_the_history_is_found() =>
        Assert.Contains(RevisionReadChecker.Check(Good, [new RevisionRead(1, "a", "3", 9, true)]), v => v.Contains("past the last revision", StringComparison.Ordinal));
}
