using ActorKv.Compat.Tests.Fixtures;
using ActorKv.Node.Chaos;
using Etcdserverpb;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;
using Xunit.Abstractions;

namespace ActorKv.Compat.Tests;

/// <summary>
/// Killing a node's actors (Akka's Kill, as the chaos service does) while clients write: each is
/// restarted by its supervisor from LMDB state, no acknowledged write is lost, and every member
/// ends with the same store.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class ActorKillTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData("apply")]
    [InlineData("raft")]
    [InlineData("peers")]
    [InlineData("gateway")]
    [InlineData("leases")]
    public async Task Killed_actors_restart_and_lose_no_acknowledged_write(string actor)
    {
        await using var cluster = await InProcessCluster.StartAsync(3, log: output);
        var leader = await cluster.WaitForLeaderAsync();
        var acknowledged = new System.Collections.Concurrent.ConcurrentBag<string>();
        using var stop = new CancellationTokenSource();

        async Task WriterAsync(ulong through)
        {
            using var channel = GrpcChannel.ForAddress(cluster.Member(through).Url);
            var kv = new KV.KVClient(channel);
            for (var i = 0; !stop.IsCancellationRequested; i++)
            {
                var key = $"w{through}/{i:D5}";
                try
                {
                    await kv.PutAsync(new PutRequest { Key = ByteString.CopyFromUtf8(key), Value = ByteString.CopyFromUtf8("v") }, deadline: DateTime.UtcNow.AddSeconds(5));
                    acknowledged.Add(key);
                }
                catch (RpcException)
                {
                    // Unknown outcome: not counted as acknowledged.
                }
            }
        }

        var writers = cluster.Running.Keys.Select(id => Task.Run(() => WriterAsync(id))).ToList();
        var killedPaths = new List<string>();
        for (var round = 0; round < 4; round++)
        {
            await Task.Delay(TimeSpan.FromMilliseconds(700));
            // The leader's actor and a follower's, in turn.
            var target = round % 2 == 0 ? leader : leader % 3 + 1;
            killedPaths.AddRange(await new ChaosControl(cluster.Member(target).Server.Node).KillActorAsync(actor).WaitAsync(TimeSpan.FromSeconds(10)));
        }

        await Task.Delay(TimeSpan.FromSeconds(1));
        await stop.CancelAsync();
        await Task.WhenAll(writers).WaitAsync(TimeSpan.FromSeconds(30));
        output.WriteLine($"killed {string.Join(", ", killedPaths)}; {acknowledged.Count} writes acknowledged");
        Assert.NotEmpty(killedPaths);
        Assert.True(acknowledged.Count > 50, "too few writes were acknowledged to judge");

        // Every member has every acknowledged write, and all have the same store.
        await cluster.PutAsync("final", "x");
        var hashes = new List<uint>();
        foreach (var member in cluster.Running.Values)
        {
            await TestEnvironment.WaitUntilAsync(async () => await InProcessCluster.ReadLocallyAsync(member, "final") == "x", TimeSpan.FromSeconds(30), "every member to apply the final write");
            using var channel = GrpcChannel.ForAddress(member.Url);
            var kv = new KV.KVClient(channel);
            var keys = new HashSet<string>();
            foreach (var prefix in new[] { "w1/", "w2/", "w3/" })
            {
                var range = await kv.RangeAsync(new RangeRequest { Key = ByteString.CopyFromUtf8(prefix), RangeEnd = ByteString.CopyFromUtf8(prefix[..^1] + "0"), KeysOnly = true, Serializable = true }, deadline: DateTime.UtcNow.AddSeconds(10));
                keys.UnionWith(range.Kvs.Select(k => k.Key.ToStringUtf8()));
            }

            var missing = acknowledged.Where(key => !keys.Contains(key)).ToList();
            Assert.True(missing.Count == 0, $"acknowledged writes missing on {member.Endpoint}: {string.Join(", ", missing.Take(10))}");
            hashes.Add((await new Maintenance.MaintenanceClient(channel).HashKVAsync(new HashKVRequest(), deadline: DateTime.UtcNow.AddSeconds(10))).Hash);
        }

        Assert.Single(hashes.Distinct());
    }

    /// <summary>
    /// A restarted lease sweeper asks who leads (leadership is told on change only): on the leader
    /// leases still expire, and a follower still forwards keep-alives to the leader. Found by the
    /// chaos sweep (seed 4017): after a kill of the leader's sweeper no lease expired.
    /// </summary>
    [Fact]
    public async Task A_killed_lease_sweeper_still_expires_leases_on_the_leader_and_forwards_keep_alives_on_a_follower()
    {
        await using var cluster = await InProcessCluster.StartAsync(3, log: output);
        var leader = await cluster.WaitForLeaderAsync();
        var follower = leader % 3 + 1;
        await new ChaosControl(cluster.Member(leader).Server.Node).KillActorAsync("leases").WaitAsync(TimeSpan.FromSeconds(10));
        await new ChaosControl(cluster.Member(follower).Server.Node).KillActorAsync("leases").WaitAsync(TimeSpan.FromSeconds(10));
        await Task.Delay(TimeSpan.FromMilliseconds(500));

        using var leaderChannel = GrpcChannel.ForAddress(cluster.Member(leader).Url);
        var lease = await new Lease.LeaseClient(leaderChannel).LeaseGrantAsync(new LeaseGrantRequest { TTL = 2 }, deadline: DateTime.UtcNow.AddSeconds(10));
        var kv = new KV.KVClient(leaderChannel);
        await kv.PutAsync(new PutRequest { Key = ByteString.CopyFromUtf8("leased"), Value = ByteString.CopyFromUtf8("v"), Lease = lease.ID }, deadline: DateTime.UtcNow.AddSeconds(10));

        var kept = await new Lease.LeaseClient(leaderChannel).LeaseGrantAsync(new LeaseGrantRequest { TTL = 60 }, deadline: DateTime.UtcNow.AddSeconds(10));
        using (var followerChannel = GrpcChannel.ForAddress(cluster.Member(follower).Url))
        {
            using var keepAlive = new Lease.LeaseClient(followerChannel).LeaseKeepAlive(deadline: DateTime.UtcNow.AddSeconds(10));
            await keepAlive.RequestStream.WriteAsync(new LeaseKeepAliveRequest { ID = kept.ID });
            Assert.True(await keepAlive.ResponseStream.MoveNext(CancellationToken.None));
            Assert.Equal(60, keepAlive.ResponseStream.Current.TTL);
            await keepAlive.RequestStream.CompleteAsync();
        }

        await TestEnvironment.WaitUntilAsync(
            async () => (await kv.RangeAsync(new RangeRequest { Key = ByteString.CopyFromUtf8("leased") }, deadline: DateTime.UtcNow.AddSeconds(5))).Count == 0,
            TimeSpan.FromSeconds(20),
            "the 2 s lease to expire and take its key");
    }

    /// <summary>
    /// The watch hub holds every watcher in memory: killed, it restarts empty, and each stream
    /// creates its watches again from the first revision its client has not been sent. A client
    /// watching from revision 1 sees every acknowledged write once, in order.
    /// </summary>
    [Fact]
    public async Task A_killed_watch_hub_restarts_and_watchers_miss_nothing_and_see_nothing_twice()
    {
        await using var node = await ActorKvInProcess.StartAsync(log: output);
        using var channel = GrpcChannel.ForAddress(node.Url);
        var kv = new KV.KVClient(channel);
        // Every call is bounded: a stuck node fails the test instead of hanging it.
        using var bound = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        using var watch = new Watch.WatchClient(channel).Watch(cancellationToken: bound.Token);
        await watch.RequestStream.WriteAsync(new WatchRequest { CreateRequest = new WatchCreateRequest { Key = ByteString.CopyFromUtf8("k/"), RangeEnd = ByteString.CopyFromUtf8("k0"), StartRevision = 1 } });
        var seen = new List<long>();
        var reader = Task.Run(async () =>
        {
            while (await watch.ResponseStream.MoveNext(bound.Token))
            {
                lock (seen)
                {
                    seen.AddRange(watch.ResponseStream.Current.Events.Select(e => e.Kv.ModRevision));
                }
            }
        });

        var acknowledged = new List<long>();
        var chaos = new ChaosControl(node.Server.Node);
        for (var i = 0; i < 400; i++)
        {
            var put = await kv.PutAsync(new PutRequest { Key = ByteString.CopyFromUtf8($"k/{i % 7}"), Value = ByteString.CopyFromUtf8($"{i}") }, deadline: DateTime.UtcNow.AddSeconds(10));
            acknowledged.Add(put.Header.Revision);
            if (i % 100 == 50)
            {
                Assert.Single(await chaos.KillActorAsync("watch"));
            }
        }

        await TestEnvironment.WaitUntilAsync(() => { lock (seen) { return Task.FromResult(seen.Count >= acknowledged.Count); } }, TimeSpan.FromSeconds(20), "the watcher to see every write");
        await Task.Delay(500);
        await watch.RequestStream.CompleteAsync().WaitAsync(TimeSpan.FromSeconds(10));
        lock (seen)
        {
            Assert.Equal(acknowledged, seen);
        }
    }
}
