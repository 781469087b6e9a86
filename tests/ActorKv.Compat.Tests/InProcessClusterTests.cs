using ActorKv.Compat.Tests.Fixtures;
using ActorKv.Node;
using ActorKv.Node.Chaos;
using ActorKv.Node.Raft;
using Akka.Actor;
using Etcdserverpb;
using Google.Protobuf;
using Grpc.Net.Client;
using Xunit.Abstractions;

namespace ActorKv.Compat.Tests;

/// <summary>Three nodes, three ActorSystems, one test process: Raft over Akka.Remote on loopback.</summary>
[Collection(ClusterCollection.Name)]
public sealed class InProcessClusterTests(ITestOutputHelper output)
{
    [Fact]
    public async Task A_stopped_member_misses_writes_and_catches_up_when_it_returns_and_the_others_elect_a_new_leader_without_it()
    {
        await using var cluster = await InProcessCluster.StartAsync(3, log: output);
        await cluster.PutAsync("a", "1");
        var leader = await cluster.WaitForLeaderAsync();
        var follower = leader % 3 + 1;

        await cluster.StopMemberAsync(follower);
        await cluster.PutAsync("b", "2");

        var returned = await cluster.StartMemberAsync(follower);
        await TestEnvironment.WaitUntilAsync(async () => await InProcessCluster.ReadLocallyAsync(returned, "b") == "2", TimeSpan.FromSeconds(30), "the returning member to catch up");

        await cluster.StopMemberAsync(leader);
        await cluster.PutAsync("c", "3");
        foreach (var member in cluster.Running.Values)
        {
            // A follower applies a committed write a little after the leader answers.
            await TestEnvironment.WaitUntilAsync(async () => await InProcessCluster.ReadLocallyAsync(member, "c") == "3", TimeSpan.FromSeconds(10), "both remaining members to apply c");
            Assert.NotEqual(leader, member.Server.Node.Raft.Lead);
        }
    }

    /// <summary>
    /// A member on Akka's DotNetty transport replicates with members on ActorKv's own: the two
    /// frame alike, and a member's peer address goes to whichever transport it names (so a
    /// cluster can move from one to the other a member at a time).
    /// </summary>
    [Fact]
    public async Task A_member_on_DotNetty_and_members_on_ActorKvs_transport_commit_together()
    {
        const string OnDotNetty = "akka.remote.enabled-transports = [\"akka.remote.dot-netty.tcp\"]";
        await using var cluster = await InProcessCluster.StartAsync(3, memberHocon: id => id == 3 ? OnDotNetty : "", log: output);
        Assert.Equal(
            "akka.remote.dot-netty.tcp",
            Assert.Single(cluster.Member(3).Server.Node.System.Settings.Config.GetStringList("akka.remote.enabled-transports")));
        await cluster.PutAsync("a", "1");

        // With one of the other two stopped, every commit needs member 3 and the one left.
        var leader = await cluster.WaitForLeaderAsync();
        await cluster.StopMemberAsync(leader == 1 ? 2UL : 1UL);
        await cluster.PutAsync("b", "2");
        foreach (var member in cluster.Running.Values)
        {
            await TestEnvironment.WaitUntilAsync(async () => await InProcessCluster.ReadLocallyAsync(member, "b") == "2", TimeSpan.FromSeconds(10), "both remaining members to apply b");
        }
    }

    /// <summary>
    /// A member whose Raft WAL cannot be written (here: full) shuts down, as etcd exits when it
    /// cannot save to its WAL, instead of serving on with its Raft actor stopped (Akka stops a
    /// persistent actor whose write failed); the other two go on committing.
    /// </summary>
    [Fact]
    public async Task A_member_whose_wal_write_fails_shuts_down_and_the_others_go_on()
    {
        await using var cluster = await InProcessCluster.StartAsync(3, log: output);
        await cluster.PutAsync("a", "1");
        await cluster.StopMemberAsync(3);
        var cramped = await cluster.StartMemberAsync(3, "actorkv.storage { wal-segment-size = 256KiB, wal-max-size = 1MiB }");
        var value = new string('v', 128 * 1024);
        for (var i = 0; i < 40 && !cramped.Server.Node.System.WhenTerminated.IsCompleted; i++)
        {
            await cluster.PutAsync($"big/{i}", value);
        }

        await cramped.Server.Node.System.WhenTerminated.WaitAsync(TimeSpan.FromSeconds(30));
        var reason = CoordinatedShutdown.Get(cramped.Server.Node.System).ShutdownReason;
        Assert.IsType<StorageFailed>(reason);
        Assert.Contains("the Raft WAL failed", reason.ToString());
        await cluster.StopMemberAsync(3);
        await cluster.PutAsync("after", "2", TimeSpan.FromSeconds(30));
    }

    /// <summary>
    /// A member whose WAL directory holds the LMDB journal of an older build is refused at start,
    /// with the reason, instead of starting with an empty log beside it.
    /// </summary>
    [Fact]
    public async Task A_member_whose_wal_is_an_older_lmdb_journal_is_refused_at_start()
    {
        await using var cluster = await InProcessCluster.StartAsync(3, log: output);
        await cluster.PutAsync("a", "1");
        await cluster.StopMemberAsync(3);
        var wal = Path.Combine(cluster.Spec(3).DataDirectory, "wal");
        foreach (var segment in Directory.GetFiles(wal))
        {
            File.Delete(segment);
        }

        File.WriteAllBytes(Path.Combine(wal, "data.mdb"), new byte[4096]);
        var refused = await Assert.ThrowsAsync<IOException>(() => cluster.StartMemberAsync(3));
        Assert.Contains("is an LMDB journal (an older build)", refused.Message);
    }

    /// <summary>
    /// Many writes at once through a follower: its Readys carry several forwarded proposals and
    /// acknowledgements to the leader, which travel as one batch (PeerSender); every write is
    /// answered and every member applies all of them.
    /// </summary>
    [Fact]
    public async Task Concurrent_writes_through_a_follower_travel_in_batches_and_all_commit()
    {
        await using var cluster = await InProcessCluster.StartAsync(3, log: output);
        var leader = await cluster.WaitForLeaderAsync();
        var follower = cluster.Member(leader % 3 + 1);
        using (var channel = GrpcChannel.ForAddress(follower.Url))
        {
            var kv = new KV.KVClient(channel);
            for (var round = 0; round < 5; round++)
            {
                await Task.WhenAll(Enumerable.Range(0, 64).Select(i =>
                    kv.PutAsync(new PutRequest { Key = ByteString.CopyFromUtf8($"c/{round}/{i:D2}"), Value = ByteString.CopyFromUtf8("v") }, deadline: DateTime.UtcNow.AddSeconds(5)).ResponseAsync));
            }
        }

        foreach (var member in cluster.Running.Values)
        {
            await TestEnvironment.WaitUntilAsync(async () => await InProcessCluster.ReadLocallyAsync(member, "c/4/63") == "v", TimeSpan.FromSeconds(10), "every member to apply the last write");
        }

        Assert.True(cluster.Member(leader).Server.Node.Raft.Committed >= 5 * 64);
    }

    /// <summary>
    /// A follower's read-index request that a link drops (here: cut for a moment, shorter than an
    /// election timeout, so no one notices a leader missing) is asked again; the read is answered
    /// instead of waiting for the request timeout.
    /// </summary>
    [Fact]
    public async Task A_read_index_request_lost_on_a_link_cut_for_a_moment_is_asked_again()
    {
        await using var cluster = await InProcessCluster.StartAsync(3, InProcessCluster.CuttableLinks + "\nactorkv.cluster.tick-interval = 100ms", log: output);
        var leader = await cluster.WaitForLeaderAsync();
        var follower = leader % 3 + 1;
        await cluster.PutAsync("k", "v");

        await cluster.SetLinkAsync(follower, leader, cut: true);
        using var channel = GrpcChannel.ForAddress(cluster.Member(follower).Url);
        // Within the node's request timeout (7 s): an unanswered request fails the test.
        Task<RangeResponse> Read() => new KV.KVClient(channel).RangeAsync(new RangeRequest { Key = ByteString.CopyFromUtf8("k") }, deadline: DateTime.UtcNow.AddSeconds(6)).ResponseAsync;
        var first = Read();
        await Task.Delay(TimeSpan.FromMilliseconds(100));
        // The member has one read-index request out at a time: this read waits for the lost one's
        // answer, then goes in the next request.
        var second = Read();
        await Task.Delay(TimeSpan.FromMilliseconds(200));
        await cluster.SetLinkAsync(follower, leader, cut: false);

        foreach (var response in await Task.WhenAll(first, second))
        {
            Assert.Equal("v", Assert.Single(response.Kvs).Value.ToStringUtf8());
        }

        Assert.Equal(leader, cluster.Member(follower).Server.Node.Raft.Lead);
    }

    /// <summary>
    /// A follower whose read-index request was lost with its leader, and which next hears from
    /// the new leader directly (it missed the election, so it never saw "no leader"), asks the new
    /// leader at once. The retry is set far beyond the read's deadline, so only that can answer it.
    /// </summary>
    [Fact]
    public async Task A_read_index_request_lost_with_a_leader_that_hands_over_is_asked_of_the_next_one()
    {
        const ulong follower = 3;
        // Member 3 never campaigns here (an election timeout of 10-20 s), so it stays the follower
        // and goes from one leader to the next without a term of its own in between.
        await using var cluster = await InProcessCluster.StartAsync(
            3,
            InProcessCluster.CuttableLinks + "\nactorkv.cluster.tick-interval = 100ms\nactorkv.cluster.read-index-retry-interval = 60s",
            memberHocon: id => id == follower ? "actorkv.cluster.election-ticks = 100" : "",
            log: output);
        var leader = await cluster.WaitForLeaderAsync();
        var next = cluster.Running.Keys.Single(id => id != leader && id != follower);
        await cluster.PutAsync("k", "v");

        // One way each: the follower's request to the leader is lost, and the next leader's vote
        // request to the follower, so the follower never sees the election.
        await new ChaosControl(cluster.Member(follower).Server.Node).SetPeerLinkAsync(leader, new LinkFault(true, 0, TimeSpan.Zero));
        await new ChaosControl(cluster.Member(next).Server.Node).SetPeerLinkAsync(follower, new LinkFault(true, 0, TimeSpan.Zero));
        using var channel = GrpcChannel.ForAddress(cluster.Member(follower).Url);
        var read = new KV.KVClient(channel).RangeAsync(new RangeRequest { Key = ByteString.CopyFromUtf8("k") }, deadline: DateTime.UtcNow.AddSeconds(6)).ResponseAsync;
        await Task.Delay(TimeSpan.FromMilliseconds(300));
        Assert.False(read.IsCompleted);

        await cluster.Member(leader).Server.Node.MoveLeaderAsync(new MoveLeaderRequest { TargetID = next });
        await new ChaosControl(cluster.Member(next).Server.Node).SetPeerLinkAsync(follower, LinkFault.None);

        Assert.Equal("v", Assert.Single((await read).Kvs).Value.ToStringUtf8());
        Assert.Equal(next, cluster.Member(follower).Server.Node.Raft.Lead);
    }

    [Fact]
    public async Task A_partitioned_follower_misses_writes_catches_up_when_healed_and_does_not_disrupt_the_leader()
    {
        // etcd's pace (an election timeout of 1 s): under a loaded CI machine a leader that hears
        // nothing from its other follower for half a second rightly steps down (CheckQuorum),
        // which is not what this test is about.
        await using var cluster = await InProcessCluster.StartAsync(3, InProcessCluster.CuttableLinks + "\nactorkv.cluster.tick-interval = 100ms", log: output);
        var leader = await cluster.WaitForLeaderAsync();
        var follower = leader % 3 + 1;
        var term = cluster.Member(leader).Server.Node.Raft.Term;
        await cluster.IsolateAsync(follower, cut: true);

        using (var channel = GrpcChannel.ForAddress(cluster.Member(leader).Url))
        {
            var kv = new KV.KVClient(channel);
            for (var i = 0; i < 50; i++)
            {
                await kv.PutAsync(new PutRequest { Key = ByteString.CopyFromUtf8($"p/{i:D2}"), Value = ByteString.CopyFromUtf8("v") }, deadline: DateTime.UtcNow.AddSeconds(10));
            }
        }

        Assert.Null(await InProcessCluster.ReadLocallyAsync(cluster.Member(follower), "p/49"));
        // Long enough for the cut-off follower to time out several times.
        await Task.Delay(TimeSpan.FromSeconds(5));
        // PreVote: its pre-elections fail, so its term never moved (without PreVote each timeout
        // would have raised it, and its first answer after the heal would depose the leader).
        Assert.Equal(term, cluster.Member(follower).Server.Node.Raft.Term);

        await cluster.IsolateAsync(follower, cut: false);
        await TestEnvironment.WaitUntilAsync(async () => await InProcessCluster.ReadLocallyAsync(cluster.Member(follower), "p/49") == "v", TimeSpan.FromSeconds(30), "the healed follower to catch up");
        // So the leader kept its place and its term.
        Assert.Equal((leader, term), (cluster.Member(leader).Server.Node.Raft.Lead, cluster.Member(leader).Server.Node.Raft.Term));
    }

    [Fact]
    public async Task A_delayed_link_holds_what_the_leader_sends_back_and_then_delivers_it()
    {
        await using var cluster = await InProcessCluster.StartAsync(3, InProcessCluster.CuttableLinks, log: output);
        var leader = await cluster.WaitForLeaderAsync();
        var follower = leader % 3 + 1;
        await cluster.PutAsync("before", "v");
        await TestEnvironment.WaitUntilAsync(async () => await InProcessCluster.ReadLocallyAsync(cluster.Member(follower), "before") == "v", TimeSpan.FromSeconds(10), "the follower to apply the first write");

        // Only what the leader sends that follower is held back; the other follower acknowledges.
        await new ChaosControl(cluster.Member(leader).Server.Node).SetPeerLinkAsync(follower, new LinkFault(false, 0, TimeSpan.FromSeconds(5)));
        using (var channel = GrpcChannel.ForAddress(cluster.Member(leader).Url))
        {
            await new KV.KVClient(channel).PutAsync(new PutRequest { Key = ByteString.CopyFromUtf8("delayed"), Value = ByteString.CopyFromUtf8("v") }, deadline: DateTime.UtcNow.AddSeconds(10));
        }

        Assert.Null(await InProcessCluster.ReadLocallyAsync(cluster.Member(follower), "delayed"));
        // The held frames arrive, none dropped: the follower applies the write with the delay still on.
        await TestEnvironment.WaitUntilAsync(async () => await InProcessCluster.ReadLocallyAsync(cluster.Member(follower), "delayed") == "v", TimeSpan.FromSeconds(30), "the delayed follower to apply the write");
        await new ChaosControl(cluster.Member(leader).Server.Node).SetPeerLinkAsync(follower, LinkFault.None);
    }
}
