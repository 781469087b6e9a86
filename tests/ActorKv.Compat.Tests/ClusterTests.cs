using System.Collections.Concurrent;
using ActorKv.Compat.Tests.Fixtures;
using Etcdserverpb;
using Google.Protobuf;
using Grpc.Core;
using Xunit.Abstractions;

namespace ActorKv.Compat.Tests;

/// <summary>Three actorkv processes replicating through Raft over Akka.Remote on loopback.</summary>
[Collection(ClusterCollection.Name)]
public sealed class ClusterTests(ITestOutputHelper output)
{
    private const int Writers = 6;

    [Fact]
    public async Task Killing_the_leader_during_writes_loses_no_acknowledged_write_and_the_restarted_node_catches_up()
    {
        await using var cluster = await ActorKvClusterProcesses.StartAsync(3);
        var leader = await cluster.WaitForLeaderAsync(TimeSpan.FromSeconds(30));
        var acknowledged = new ConcurrentDictionary<string, string>();
        using var stop = new CancellationTokenSource();
        var writers = Enumerable.Range(0, Writers).Select(writer => Task.Run(async () =>
        {
            for (var i = 0; !stop.IsCancellationRequested; i++)
            {
                // Every write goes to the next member in turn: followers forward to the leader.
                var key = $"w{writer}/{i}";
                try
                {
                    await cluster.Kv((writer + i) % 3).PutAsync(
                        new PutRequest { Key = ByteString.CopyFromUtf8(key), Value = ByteString.CopyFromUtf8("v" + i) },
                        deadline: DateTime.UtcNow.AddSeconds(5));
                    acknowledged[key] = "v" + i;
                }
                catch (RpcException)
                {
                    // Unknown outcome (the member was killed, or there is no leader yet): the
                    // next write uses another key and another member.
                    await Task.Delay(20);
                }
            }
        })).ToList();

        await TestEnvironment.WaitUntilAsync(() => Task.FromResult(acknowledged.Count >= 200), TimeSpan.FromSeconds(60), "200 writes before the kill");
        var beforeKill = acknowledged.Count;
        cluster.Nodes[leader].KillHard();
        await TestEnvironment.WaitUntilAsync(() => Task.FromResult(acknowledged.Count >= beforeKill + 200), TimeSpan.FromSeconds(60), "200 writes after killing the leader");
        var newLeader = await cluster.WaitForLeaderAsync(TimeSpan.FromSeconds(30), excluding: leader);
        await stop.CancelAsync();
        await Task.WhenAll(writers);
        output.WriteLine($"leader n{leader + 1} killed after {beforeKill} acknowledged writes; n{newLeader + 1} leads; {acknowledged.Count} acknowledged in all");

        await cluster.Nodes[leader].StartAgainAsync();

        // Every member converges on the same data, every acknowledged write among it.
        var everything = new RangeRequest { Key = ByteString.CopyFrom(0), RangeEnd = ByteString.CopyFrom(0), Serializable = true };
        RangeResponse? reference = null;
        await TestEnvironment.WaitUntilAsync(async () =>
        {
            var states = new List<RangeResponse>();
            for (var i = 0; i < 3; i++)
            {
                states.Add(await cluster.Kv(i).RangeAsync(everything));
            }

            reference = states[newLeader];
            return states.All(s => s.Header.Revision == reference.Header.Revision && s.Kvs.SequenceEqual(reference.Kvs));
        }, TimeSpan.FromSeconds(60), "all members to hold the same data");

        var stored = reference!.Kvs.ToDictionary(kv => kv.Key.ToStringUtf8(), kv => kv.Value.ToStringUtf8());
        foreach (var (key, value) in acknowledged)
        {
            Assert.True(stored.TryGetValue(key, out var storedValue), $"acknowledged write {key} is lost");
            Assert.Equal(value, storedValue);
        }

        // etcdctl endpoint hashkv: equal on every member at the same revision.
        var hashes = new List<uint>();
        for (var i = 0; i < 3; i++)
        {
            hashes.Add((await cluster.Maintenance(i).HashKVAsync(new HashKVRequest { Revision = reference.Header.Revision })).Hash);
        }

        Assert.Single(hashes.Distinct());
        output.WriteLine($"members converged at revision {reference.Header.Revision} with {stored.Count} keys, hash {hashes[0]}");
    }

    [Fact]
    public async Task Writes_on_any_member_are_read_linearizably_on_every_member()
    {
        await using var cluster = await ActorKvClusterProcesses.StartAsync(3);
        for (var i = 0; i < 3; i++)
        {
            await cluster.Kv(i).PutAsync(new PutRequest { Key = ByteString.CopyFromUtf8($"from-{i}"), Value = ByteString.CopyFromUtf8($"n{i + 1}") });
            for (var reader = 0; reader < 3; reader++)
            {
                // A linearizable read right after the write, on any member, sees it.
                var read = await cluster.Kv(reader).RangeAsync(new RangeRequest { Key = ByteString.CopyFromUtf8($"from-{i}") });
                Assert.Equal($"n{i + 1}", Assert.Single(read.Kvs).Value.ToStringUtf8());
            }
        }

        var statuses = new List<StatusResponse>();
        for (var i = 0; i < 3; i++)
        {
            statuses.Add(await cluster.Maintenance(i).StatusAsync(new StatusRequest()));
        }

        Assert.Single(statuses.Select(s => s.Leader).Distinct());
        Assert.Single(statuses.Select(s => s.RaftTerm).Distinct());
        Assert.Equal([1UL, 2UL, 3UL], statuses.Select(s => s.Header.MemberId).Order());
    }

    /// <summary>
    /// A member that applies its own removal stops, and its process exits 0 with etcd's words, as
    /// an etcd member does ("the member has been permanently removed from the cluster").
    /// </summary>
    [Fact]
    public async Task A_removed_member_stops_on_its_own_and_its_process_exits_0()
    {
        // No link probes: a peer that turns one away stops the member too (the other test's path),
        // and one could come within the 10 ticks before it stops of itself.
        await using var cluster = await ActorKvClusterProcesses.StartAsync(3, "actorkv.cluster.peer-probe-interval = 1h");
        var removed = await Etcdctl.RunAsync(cluster.Nodes[0].Endpoint, ["member", "remove", "3"]);
        Assert.True(removed.ExitCode == 0, removed.Stderr);

        Assert.True(await cluster.Nodes[2].WaitForExitAsync(TimeSpan.FromSeconds(30)), "member 3 still runs 30 s after its removal");
        output.WriteLine(cluster.Nodes[2].Output);
        Assert.Equal(0, cluster.Nodes[2].ExitCode);
        Assert.Contains("actorkv: the node stopped on its own: Raft node 3 applied its own removal: the member has been permanently removed from the cluster", cluster.Nodes[2].Output);

        // Member 3 may have led until it applied its removal: a write forwarded to it then is lost
        // and times out, as in etcd. Write through the leader the other two elect.
        var leader = await cluster.WaitForLeaderAsync(TimeSpan.FromSeconds(30), excluding: 2);
        await cluster.Kv(leader).PutAsync(new PutRequest { Key = ByteString.CopyFromUtf8("after"), Value = ByteString.CopyFromUtf8("two members") }, deadline: DateTime.UtcNow.AddSeconds(30));
    }
}
