using ActorKv.Node.Raft;

namespace ActorKv.Node.Tests;

public sealed class LinearizableReadsTests
{
    private static TaskCompletionSource NewRead() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    [Fact]
    public void Reads_that_arrive_before_a_request_share_it_and_a_later_read_waits_for_the_next_until_it_is_answered()
    {
        var reads = new LinearizableReads(nodeId: 2);
        var early = Enumerable.Range(0, 3).Select(_ => NewRead()).ToList();
        early.ForEach(reads.Add);

        var first = reads.TakeBatch(tick: 0);
        var late = NewRead();
        reads.Add(late);
        Assert.NotNull(first);
        Assert.Equal([first], reads.ContextsAwaitingIndex);
        Assert.False(reads.CanAsk);
        Assert.Null(reads.TakeBatch(tick: 1)); // one request out at a time

        // The first request's index was taken before the late read began: it must not serve it.
        reads.IndexKnown(first, index: 10);
        reads.Release(appliedIndex: 10);
        Assert.All(early, read => Assert.True(read.Task.IsCompletedSuccessfully));
        Assert.False(late.Task.IsCompleted);

        Assert.True(reads.CanAsk);
        var second = reads.TakeBatch(tick: 1);
        Assert.NotNull(second);
        Assert.NotEqual(first, second);
        Assert.Null(reads.TakeBatch(tick: 1));
        reads.IndexKnown(second, index: 12);
        reads.Release(appliedIndex: 11);
        Assert.False(late.Task.IsCompleted);
        reads.Release(appliedIndex: 12);
        Assert.True(late.Task.IsCompletedSuccessfully);
    }

    [Fact]
    public void A_second_answer_to_a_request_finds_nothing_and_a_failed_request_fails_each_of_its_reads()
    {
        var reads = new LinearizableReads(nodeId: 1);
        var answered = NewRead();
        reads.Add(answered);
        var context = reads.TakeBatch(tick: 0)!;
        reads.IndexKnown(context, index: 5);
        reads.IndexKnown(context, index: 9); // an answer to the same request asked again
        reads.Release(appliedIndex: 5);
        Assert.True(answered.Task.IsCompletedSuccessfully);

        var failing = new[] { NewRead(), NewRead() };
        Array.ForEach(failing, reads.Add);
        var refused = reads.TakeBatch(tick: 0)!;
        var error = new InvalidOperationException("no leader");
        reads.Fail(refused, error);
        Assert.All(failing, read => Assert.Same(error, read.Task.Exception!.InnerException));
        Assert.Empty(reads.ContextsAwaitingIndex);
    }

    [Fact]
    public void A_request_unanswered_for_the_retry_ticks_is_handed_back_once_per_period()
    {
        var reads = new LinearizableReads(nodeId: 1);
        reads.Add(NewRead());
        var context = reads.TakeBatch(tick: 10)!;

        Assert.Empty(reads.TakeUnanswered(tick: 14, retryTicks: 5));
        Assert.Equal([context], reads.TakeUnanswered(tick: 15, retryTicks: 5));
        Assert.Empty(reads.TakeUnanswered(tick: 19, retryTicks: 5));
        Assert.Equal([context], reads.TakeUnanswered(tick: 20, retryTicks: 5));
    }

    [Fact]
    public void A_request_whose_reads_all_gave_up_is_forgotten_and_lets_the_next_go()
    {
        var reads = new LinearizableReads(nodeId: 1);
        var gaveUp = NewRead();
        var waiting = NewRead();
        reads.Add(gaveUp);
        reads.Add(waiting);
        reads.TakeBatch(tick: 0);
        reads.Add(NewRead());

        gaveUp.TrySetException(new TimeoutException());
        reads.Release(appliedIndex: 0);
        Assert.Single(reads.ContextsAwaitingIndex);
        Assert.False(reads.CanAsk);

        waiting.TrySetException(new TimeoutException());
        reads.Release(appliedIndex: 0);
        Assert.Empty(reads.ContextsAwaitingIndex);
        Assert.True(reads.CanAsk);
    }

    [Fact]
    public void A_restarted_member_does_not_reuse_the_request_contexts_of_its_last_run()
    {
        // The leader takes a request whose context it holds already as the same request.
        var before = new LinearizableReads(nodeId: 3);
        var after = new LinearizableReads(nodeId: 3);
        before.Add(NewRead());
        after.Add(NewRead());

        var contextBefore = before.TakeBatch(tick: 0)!;
        var contextAfter = after.TakeBatch(tick: 0)!;
        Assert.NotEqual(contextBefore, contextAfter);
        Assert.StartsWith("3-", contextAfter);
    }
}
