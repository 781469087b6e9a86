using ActorKv.Compat.Tests.Fixtures;
using Etcdserverpb;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;
using Xunit.Abstractions;

namespace ActorKv.Compat.Tests;

/// <summary>
/// On a Raft member, applied writes are answered before the store commits them (they wait in
/// its open write transaction; the Raft log holds them durably). These members commit only
/// when something needs it (the interval is an hour), so each test shows what must force it:
/// reads, watchers, a watch from "now", a new leader's lease tracking, a lease's key list; and
/// that a restart of every member loses nothing that was answered.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class DeferredApplyCommitTests(ITestOutputHelper output)
{
    private const string CommitOnlyWhenNeeded = "actorkv.storage.apply-commit-interval = 1h";

    private static ByteString Bytes(string text) => ByteString.CopyFromUtf8(text);

    /// <summary>Opens a watch stream with one watcher on <paramref name="key"/> from "now"; its current response is the Created one.</summary>
    private static async Task<AsyncDuplexStreamingCall<WatchRequest, WatchResponse>> WatchFromNowAsync(GrpcChannel channel, string key)
    {
        var watch = new Watch.WatchClient(channel).Watch(deadline: DateTime.UtcNow.AddSeconds(60));
        await watch.RequestStream.WriteAsync(new WatchRequest { CreateRequest = new WatchCreateRequest { Key = Bytes(key) } });
        Assert.True(await watch.ResponseStream.MoveNext(CancellationToken.None));
        Assert.True(watch.ResponseStream.Current.Created);
        return watch;
    }

    /// <summary>The next response's events, waited for at most 20 s.</summary>
    private static async Task<IReadOnlyList<Mvccpb.Event>> NextEventsAsync(AsyncDuplexStreamingCall<WatchRequest, WatchResponse> watch)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        Assert.True(await watch.ResponseStream.MoveNext(timeout.Token));
        return watch.ResponseStream.Current.Events;
    }

    [Fact]
    public async Task Answered_writes_wait_uncommitted_and_every_kind_of_read_sees_them()
    {
        await using var cluster = await InProcessCluster.StartAsync(3, CommitOnlyWhenNeeded, log: output);
        var leader = cluster.Member(await cluster.WaitForLeaderAsync());
        using var channel = GrpcChannel.ForAddress(leader.Url);
        var kv = new KV.KVClient(channel);
        for (var i = 0; i < 10; i++)
        {
            await kv.PutAsync(new PutRequest { Key = Bytes("k"), Value = Bytes($"v{i}") }, deadline: DateTime.UtcNow.AddSeconds(10));
        }

        var visibility = leader.Server.Node.Visibility;
        Assert.True(visibility.Answered > visibility.Visible, $"answered {visibility.Answered}, visible {visibility.Visible}: the writes were committed at once");

        var serializable = await kv.RangeAsync(new RangeRequest { Key = Bytes("k"), Serializable = true }, deadline: DateTime.UtcNow.AddSeconds(10));
        Assert.Equal("v9", serializable.Kvs.Single().Value.ToStringUtf8());
        await kv.PutAsync(new PutRequest { Key = Bytes("k"), Value = Bytes("v10") }, deadline: DateTime.UtcNow.AddSeconds(10));
        var linearizable = await kv.RangeAsync(new RangeRequest { Key = Bytes("k") }, deadline: DateTime.UtcNow.AddSeconds(10));
        Assert.Equal("v10", linearizable.Kvs.Single().Value.ToStringUtf8());
        await kv.PutAsync(new PutRequest { Key = Bytes("k"), Value = Bytes("v11") }, deadline: DateTime.UtcNow.AddSeconds(10));
        var txn = await kv.TxnAsync(new TxnRequest { Success = { new RequestOp { RequestRange = new RangeRequest { Key = Bytes("k") } } } }, deadline: DateTime.UtcNow.AddSeconds(10));
        Assert.Equal("v11", txn.Responses.Single().ResponseRange.Kvs.Single().Value.ToStringUtf8());

        // Through a follower too: its linearizable read waits for its own apply, then its commit.
        var follower = cluster.Running.Values.First(m => m != leader);
        using var followerChannel = GrpcChannel.ForAddress(follower.Url);
        var fromFollower = await new KV.KVClient(followerChannel).RangeAsync(new RangeRequest { Key = Bytes("k") }, deadline: DateTime.UtcNow.AddSeconds(10));
        Assert.Equal("v11", fromFollower.Kvs.Single().Value.ToStringUtf8());
    }

    [Fact]
    public async Task Writes_answered_but_never_committed_survive_a_restart_of_every_member()
    {
        // A short log, so that compaction runs: it must keep every entry the stores have not
        // durably applied.
        await using var cluster = await InProcessCluster.StartAsync(3, CommitOnlyWhenNeeded + "\nactorkv.cluster.snapshot-count = 5\nactorkv.cluster.snapshot-catchup-entries = 1", log: output);
        var leader = cluster.Member(await cluster.WaitForLeaderAsync());
        using (var channel = GrpcChannel.ForAddress(leader.Url))
        {
            var kv = new KV.KVClient(channel);
            for (var i = 0; i < 30; i++)
            {
                await kv.PutAsync(new PutRequest { Key = Bytes($"key/{i:D2}"), Value = Bytes($"value {i}") }, deadline: DateTime.UtcNow.AddSeconds(10));
            }
        }

        Assert.True(leader.Server.Node.Visibility.Answered > leader.Server.Node.Visibility.Visible, "the writes were committed at once");
        foreach (var id in cluster.Running.Keys.ToList())
        {
            await cluster.StopMemberAsync(id);
        }

        foreach (var spec in cluster.Specs)
        {
            await cluster.StartMemberAsync(spec.Id);
        }

        await cluster.WaitForLeaderAsync();
        foreach (var member in cluster.Running.Values)
        {
            for (var i = 0; i < 30; i++)
            {
                var key = $"key/{i:D2}";
                await TestEnvironment.WaitUntilAsync(async () => await InProcessCluster.ReadLocallyAsync(member, key) == $"value {i}", TimeSpan.FromSeconds(30), $"{key} on the restarted member {member.Server.Node.Settings.NodeName}");
            }
        }
    }

    [Fact]
    public async Task A_watcher_gets_events_without_waiting_for_the_commit_interval()
    {
        await using var cluster = await InProcessCluster.StartAsync(3, CommitOnlyWhenNeeded, log: output);
        var leader = cluster.Member(await cluster.WaitForLeaderAsync());
        using var channel = GrpcChannel.ForAddress(leader.Url);
        using var watch = await WatchFromNowAsync(channel, "w");

        await new KV.KVClient(channel).PutAsync(new PutRequest { Key = Bytes("w"), Value = Bytes("1") }, deadline: DateTime.UtcNow.AddSeconds(10));
        Assert.Equal("1", (await NextEventsAsync(watch)).Single().Kv.Value.ToStringUtf8());
    }

    [Fact]
    public async Task A_watch_from_now_starts_after_the_writes_answered_before_it()
    {
        await using var cluster = await InProcessCluster.StartAsync(3, CommitOnlyWhenNeeded, log: output);
        var leader = cluster.Member(await cluster.WaitForLeaderAsync());
        using var channel = GrpcChannel.ForAddress(leader.Url);
        var kv = new KV.KVClient(channel);
        var before = await kv.PutAsync(new PutRequest { Key = Bytes("now"), Value = Bytes("before") }, deadline: DateTime.UtcNow.AddSeconds(10));
        Assert.True(leader.Server.Node.Visibility.Answered > leader.Server.Node.Visibility.Visible, "the write was committed at once");

        using var watch = await WatchFromNowAsync(channel, "now");
        var created = watch.ResponseStream.Current;
        Assert.True(created.Header.Revision >= before.Header.Revision, $"created at revision {created.Header.Revision}, after a put at {before.Header.Revision}");

        await kv.PutAsync(new PutRequest { Key = Bytes("now"), Value = Bytes("after") }, deadline: DateTime.UtcNow.AddSeconds(10));
        Assert.Equal("after", (await NextEventsAsync(watch)).First().Kv.Value.ToStringUtf8());
    }

    [Fact]
    public async Task A_leases_keys_are_listed_and_a_new_leader_expires_leases_it_applied_but_had_not_committed()
    {
        await using var cluster = await InProcessCluster.StartAsync(3, CommitOnlyWhenNeeded, log: output);
        var leaderId = await cluster.WaitForLeaderAsync();
        var leader = cluster.Member(leaderId);
        using var channel = GrpcChannel.ForAddress(leader.Url);
        var leases = new Lease.LeaseClient(channel);
        var granted = await leases.LeaseGrantAsync(new LeaseGrantRequest { TTL = 3 }, deadline: DateTime.UtcNow.AddSeconds(10));
        await new KV.KVClient(channel).PutAsync(new PutRequest { Key = Bytes("leased"), Value = Bytes("x"), Lease = granted.ID }, deadline: DateTime.UtcNow.AddSeconds(10));
        var timeToLive = await leases.LeaseTimeToLiveAsync(new LeaseTimeToLiveRequest { ID = granted.ID, Keys = true }, deadline: DateTime.UtcNow.AddSeconds(10));
        Assert.Equal("leased", timeToLive.Keys.Single().ToStringUtf8());

        // Nothing has made the followers commit the grant: the new leader must still track it.
        var target = cluster.Running.Keys.First(id => id != leaderId);
        var followerVisibility = cluster.Member(target).Server.Node.Visibility;
        await TestEnvironment.WaitUntilAsync(() => Task.FromResult(followerVisibility.Answered > followerVisibility.Visible), TimeSpan.FromSeconds(10), "the follower to apply the grant");
        await leader.Server.Node.MoveLeaderAsync(new MoveLeaderRequest { TargetID = target });
        Assert.Equal(target, await cluster.WaitForLeaderAsync());
        await TestEnvironment.WaitUntilAsync(
            async () => await InProcessCluster.ReadLocallyAsync(cluster.Member(target), "leased") is null,
            TimeSpan.FromSeconds(30),
            "the new leader to expire the lease");
    }
}
