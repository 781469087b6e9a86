using ActorKv.Compat.Tests.Fixtures;
using Etcdserverpb;
using Google.Protobuf;
using Grpc.Net.Client;
using Xunit.Abstractions;

namespace ActorKv.Compat.Tests;

/// <summary>Log compaction and snapshot transfer on an in-process cluster with a small snapshot-count.</summary>
[Collection(ClusterCollection.Name)]
public sealed class SnapshotTests(ITestOutputHelper output)
{
    /// <summary>Compaction every 20 entries keeping 5; chunks of 4 KiB, so a store takes many.</summary>
    private const string SmallSnapshots = $$"""
        {{InProcessCluster.CuttableLinks}}
        actorkv.cluster {
          snapshot-count = 20
          snapshot-catchup-entries = 5
          snapshot-chunk-bytes = 4KiB
        }
        """;

    /// <summary>Puts <paramref name="count"/> keys, and then more (at most 2,000 in all) until <paramref name="until"/> holds; returns how many.</summary>
    private static async Task<int> PutManyAsync(ActorKvInProcess member, string prefix, int count, Func<bool>? until = null)
    {
        using var channel = GrpcChannel.ForAddress(member.Url);
        var kv = new KV.KVClient(channel);
        var value = ByteString.CopyFrom(new byte[1000]);
        var written = 0;
        for (; written < count || (until is not null && !until()); written++)
        {
            Assert.True(written < 2_000, $"{prefix}: still not there after {written} puts");
            await kv.PutAsync(new PutRequest { Key = ByteString.CopyFromUtf8($"{prefix}/{written:D4}"), Value = value }, deadline: DateTime.UtcNow.AddSeconds(10));
        }

        return written;
    }

    private static async Task<List<uint>> HashesAfterAsync(InProcessCluster cluster, string key)
    {
        await cluster.PutAsync(key, "x");
        var hashes = new List<uint>();
        foreach (var member in cluster.Running.Values)
        {
            await TestEnvironment.WaitUntilAsync(async () => await InProcessCluster.ReadLocallyAsync(member, key) == "x", TimeSpan.FromSeconds(30), $"every member to apply {key}");
            using var channel = GrpcChannel.ForAddress(member.Url);
            hashes.Add((await new Maintenance.MaintenanceClient(channel).HashKVAsync(new HashKVRequest())).Hash);
        }

        return hashes;
    }

    /// <summary>
    /// A member's store syncs once a commit (its meta page goes with the next commit), and
    /// commits applied batches together (apply-commit-interval), so after a power loss it may be
    /// back to the commit before the latest: the WAL must still hold what it would replay. No WAL
    /// snapshot passes what the store holds durably, after any put.
    /// </summary>
    [Fact]
    public async Task The_wal_is_never_compacted_past_what_the_store_holds_durably()
    {
        await using var cluster = await InProcessCluster.StartAsync(3, SmallSnapshots, log: output);
        var leader = cluster.Member(await cluster.WaitForLeaderAsync());
        var raft = leader.Server.Node.Raft;
        using var channel = GrpcChannel.ForAddress(leader.Url);
        var kv = new KV.KVClient(channel);
        // Puts go on until the WAL has been compacted: how many commits (and so how far the
        // durable index gets) a number of puts makes depends on their speed against the commit
        // interval; the last commit's index becomes durable only with the commit after it.
        for (var i = 0; raft.LogSnapshotIndex < 20; i++)
        {
            Assert.True(i < 2_000, $"no WAL compaction after {i} puts (store durable to {raft.DurableApplied})");
            await kv.PutAsync(new PutRequest { Key = ByteString.CopyFromUtf8($"d/{i:D4}"), Value = ByteString.CopyFromUtf8("v") }, deadline: DateTime.UtcNow.AddSeconds(10));
            var (snapshot, durable) = (raft.LogSnapshotIndex, raft.DurableApplied);
            Assert.True(snapshot <= durable, $"WAL snapshot at {snapshot}, store durable to {durable}");
        }

        await TestEnvironment.WaitUntilAsync(() => Task.FromResult(raft.Applied == raft.Committed), TimeSpan.FromSeconds(5), "the leader to apply what it committed");
        Assert.InRange(raft.DurableApplied, raft.LogSnapshotIndex, raft.Applied - 1);
    }

    [Fact]
    public async Task A_member_behind_the_compacted_log_receives_the_store_and_members_restart_from_compacted_wals()
    {
        await using var cluster = await InProcessCluster.StartAsync(3, SmallSnapshots, log: output);
        var leader = await cluster.WaitForLeaderAsync();
        var follower = leader % 3 + 1;
        await cluster.IsolateAsync(follower, cut: true);

        var leaderRaft = cluster.Member(leader).Server.Node.Raft;
        var followerRaft = cluster.Member(follower).Server.Node.Raft;
        // Puts go on until the leader's WAL is compacted past what the follower has. The WAL is
        // compacted only up to what the store holds durably, and the store holds a commit durably
        // once the next commit is made: 150 fast puts can fit in one commit interval (100 ms) and
        // leave nothing to compact (seen on a fast machine, where this test waited in vain).
        var written = await PutManyAsync(cluster.Member(leader), "cut", 150, until: () => leaderRaft.LogSnapshotIndex > followerRaft.Applied + 5);
        output.WriteLine($"{written} puts until the leader's WAL was compacted to {leaderRaft.LogSnapshotIndex}, past the follower's {followerRaft.Applied}");

        await cluster.IsolateAsync(follower, cut: false);
        await TestEnvironment.WaitUntilAsync(async () => await InProcessCluster.ReadLocallyAsync(cluster.Member(follower), $"cut/{written - 1:D4}") is not null, TimeSpan.FromSeconds(30), "the follower to catch up");
        await TestEnvironment.WaitUntilAsync(() => Task.FromResult(followerRaft.SnapshotsInstalled >= 1), TimeSpan.FromSeconds(30), "Raft on the follower to take the installed store");
        // Counted by whichever member led when the transfer ended, once the last ack is back.
        await TestEnvironment.WaitUntilAsync(() => Task.FromResult(cluster.Running.Values.Sum(m => m.Server.Node.Raft.SnapshotsSent) >= 1), TimeSpan.FromSeconds(5), "the sender to count the transfer");
        Assert.Single((await HashesAfterAsync(cluster, "after-heal")).Distinct());

        // Every member restarts from its compacted WAL and its store, and the cluster goes on.
        foreach (var id in cluster.Running.Keys.ToList())
        {
            await cluster.StopMemberAsync(id);
            await cluster.StartMemberAsync(id);
        }

        await PutManyAsync(cluster.Member(await cluster.WaitForLeaderAsync()), "restarted", 30);
        Assert.Single((await HashesAfterAsync(cluster, "after-restart")).Distinct());
    }

    [Fact]
    public async Task A_member_added_after_the_log_was_compacted_starts_from_the_leaders_store()
    {
        await using var cluster = await InProcessCluster.StartAsync(3, SmallSnapshots, log: output);
        var leader = await cluster.WaitForLeaderAsync();
        await PutManyAsync(cluster.Member(leader), "old", 100);
        // The log must have been compacted before the joiner asks for it. Compaction follows the
        // store's durable index (its commits), so puts go on until it has happened: without this
        // the joiner could get every entry from the log, as it did once under a loaded run.
        var leaderRaft = cluster.Member(leader).Server.Node.Raft;
        for (var i = 0; leaderRaft.LogSnapshotIndex < 20; i++)
        {
            Assert.True(i < 2_000, $"no WAL compaction after {i} more puts (store durable to {leaderRaft.DurableApplied})");
            await PutManyAsync(cluster.Member(leader), $"more{i}", 1);
        }

        var joiner = InProcessCluster.NewSpec(0, "n4");
        using (var channel = GrpcChannel.ForAddress(cluster.Member(leader).Url))
        {
            var added = await new Cluster.ClusterClient(channel).MemberAddAsync(new MemberAddRequest { PeerURLs = { joiner.PeerUrl }, IsLearner = true });
            joiner = joiner with { Id = added.Member.ID };
        }

        var member = await cluster.JoinAsync(joiner);
        await TestEnvironment.WaitUntilAsync(async () => await InProcessCluster.ReadLocallyAsync(member, "old/0099") is not null, TimeSpan.FromSeconds(30), "the new member to catch up");
        // The store is installed before Raft hears of it.
        await TestEnvironment.WaitUntilAsync(() => Task.FromResult(member.Server.Node.Raft.SnapshotsInstalled >= 1), TimeSpan.FromSeconds(30), "Raft on the new member to take the installed store");
        Assert.Single((await HashesAfterAsync(cluster, "after-join")).Distinct());
    }
}
