using ActorKv.Mvcc;
using ActorKv.Node.Apply;
using ActorKv.Node.Log;
using ActorKv.Protocol.Log;
using Akka.Actor;
using Akka.TestKit.Xunit2;
using Etcdserverpb;
using Google.Protobuf;

namespace ActorKv.Node.Tests;

public sealed class ApplyActorTests : TestKit, IDisposable
{
    private readonly TempStore temp = new();
    private readonly ProposalWaiters waiters = new(memberId: 0);

    public ApplyActorTests()
        : base("akka.loglevel = WARNING")
    {
    }

    void IDisposable.Dispose()
    {
        Shutdown();
        temp.Dispose();
    }

    private static LogProtocol.CommittedEntries Put(ulong index, string key) =>
        new([new LogProtocol.LogEntry(index, 1, new WriteRequest { Put = new PutRequest { Key = ByteString.CopyFromUtf8(key), Value = ByteString.CopyFromUtf8("v") } })]);

    [Fact]
    public async Task Entries_arriving_together_commit_together_and_every_waiter_gets_its_revision()
    {
        const int entries = 200;
        var apply = Sys.ActorOf(ApplyActor.Props(temp.Store, new MvccEngine(), waiters, new StorageUsage(), Akka.Actor.ActorRefs.Nobody, Akka.Actor.ActorRefs.Nobody, batchLimit: 1000, TimeSpan.Zero, compactionBatchKeys: 100, snapshotTimeout: TimeSpan.FromSeconds(30), new ApplyVisibility(), commitInterval: TimeSpan.Zero, dispatcher: "akka.actor.default-dispatcher"));
        var completions = new List<Task<IMessage>>();
        var commitsBefore = temp.Store.LastTransactionId;
        for (ulong index = 1; index <= entries; index++)
        {
            var completion = new TaskCompletionSource<IMessage>(TaskCreationOptions.RunContinuationsAsynchronously);
            var message = Put(index, $"key/{index:D3}");
            message.Entries[0].Request!.Id = waiters.Register(completion);
            completions.Add(completion.Task);
            apply.Tell(message);
        }

        var responses = await Task.WhenAll(completions).WaitAsync(TimeSpan.FromSeconds(30));

        // Revisions follow the log order: entry i is the (i+1)th revision.
        Assert.Equal(Enumerable.Range(2, entries).Select(r => (long)r), responses.Select(r => ((PutResponse)r).Header.Revision));
        using var view = temp.Store.BeginRead();
        Assert.Equal((ulong)entries, view.Meta.AppliedIndex);
        // Group commit: far fewer commits (and fsyncs) than entries.
        var commits = temp.Store.LastTransactionId - commitsBefore;
        Assert.InRange(commits, 1, entries / 4);
    }

    [Fact]
    public async Task A_refused_entry_fails_alone_and_its_neighbours_apply()
    {
        var apply = Sys.ActorOf(ApplyActor.Props(temp.Store, new MvccEngine(), waiters, new StorageUsage(), Akka.Actor.ActorRefs.Nobody, Akka.Actor.ActorRefs.Nobody, batchLimit: 1000, TimeSpan.Zero, compactionBatchKeys: 100, snapshotTimeout: TimeSpan.FromSeconds(30), new ApplyVisibility(), commitInterval: TimeSpan.Zero, dispatcher: "akka.actor.default-dispatcher"));
        var good = new TaskCompletionSource<IMessage>(TaskCreationOptions.RunContinuationsAsynchronously);
        var refused = new TaskCompletionSource<IMessage>(TaskCreationOptions.RunContinuationsAsynchronously);
        var first = Put(1, "a");
        first.Entries[0].Request!.Id = waiters.Register(good);
        var second = new LogProtocol.CommittedEntries([new LogProtocol.LogEntry(2, 1, new WriteRequest
        {
            Id = waiters.Register(refused),
            Put = new PutRequest { Key = ByteString.CopyFromUtf8("missing"), IgnoreValue = true },
        })]);
        apply.Tell(first);
        apply.Tell(second);

        Assert.Equal(2, ((PutResponse)await good.Task.WaitAsync(TimeSpan.FromSeconds(10))).Header.Revision);
        var error = await Assert.ThrowsAsync<Grpc.Core.RpcException>(() => refused.Task.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal("etcdserver: key not found", error.Status.Detail);
        using var view = temp.Store.BeginRead();
        Assert.Equal((2L, 2UL), (view.Meta.CurrentRevision, view.Meta.AppliedIndex));
    }
}
