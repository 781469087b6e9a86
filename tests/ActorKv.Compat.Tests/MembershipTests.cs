using System.Collections.Concurrent;
using System.Text.RegularExpressions;
using ActorKv.Compat.Tests.Fixtures;
using ActorKv.Node;
using Akka.Actor;
using Etcdserverpb;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;
using Xunit.Abstractions;

namespace ActorKv.Compat.Tests;

/// <summary>Membership changes through Raft, on in-process clusters, with etcdctl and the gRPC API.</summary>
[Collection(ClusterCollection.Name)]
public sealed partial class MembershipTests(ITestOutputHelper output)
{
    [GeneratedRegex(@"Member +([0-9a-f]+) added to cluster")]
    private static partial Regex MemberAdded();

    private static async Task<T> Retry<T>(Func<Task<T>> call, string what)
    {
        T result = default!;
        await TestEnvironment.WaitUntilAsync(async () =>
        {
            try
            {
                result = await call();
                return true;
            }
            catch (RpcException error) when (error.StatusCode is StatusCode.FailedPrecondition or StatusCode.Unavailable)
            {
                return false; // a learner not in sync yet, a change in progress, an election
            }
        }, TimeSpan.FromSeconds(30), what);
        return result;
    }

    /// <summary>Writes without pause through every running member until stopped; records what was acknowledged.</summary>
    private sealed class Writer(InProcessCluster cluster)
    {
        public ConcurrentDictionary<string, string> Acknowledged { get; } = new();

        public async Task RunAsync(CancellationToken stop)
        {
            var i = 0;
            while (!stop.IsCancellationRequested)
            {
                var members = cluster.Running.Values.ToList();
                if (members.Count == 0)
                {
                    break;
                }

                var member = members[i % members.Count];
                var key = $"w/{i:D5}";
                try
                {
                    using var channel = GrpcChannel.ForAddress(member.Url);
                    await new KV.KVClient(channel).PutAsync(new PutRequest { Key = ByteString.CopyFromUtf8(key), Value = ByteString.CopyFromUtf8("v" + i) }, deadline: DateTime.UtcNow.AddSeconds(5));
                    Acknowledged[key] = "v" + i;
                }
                catch (RpcException)
                {
                    // Not acknowledged: may or may not be applied; never checked.
                }
                catch (ObjectDisposedException)
                {
                    // The member stopped under us.
                }

                i++;
            }
        }
    }

    [Fact]
    public async Task A_learner_added_with_etcdctl_under_writes_catches_up_is_promoted_and_a_removed_member_leaves()
    {
        await using var cluster = await InProcessCluster.StartAsync(3, log: output);
        // No write first: a new leader takes membership changes once it has applied its log.
        await cluster.WaitForLeaderAsync();
        var writer = new Writer(cluster);
        using var stop = new CancellationTokenSource();
        var writing = writer.RunAsync(stop.Token);

        var joinerSpec = InProcessCluster.NewSpec(0, "n4");
        var added = await Etcdctl.RunAsync(cluster.Member(1).Endpoint, ["member", "add", "n4", "--learner", "--peer-urls=" + joinerSpec.PeerUrl]);
        Assert.True(added.ExitCode == 0, added.Stderr);
        var id = Convert.ToUInt64(MemberAdded().Match(added.Stdout).Groups[1].Value, 16);
        Assert.Contains($"ETCD_INITIAL_CLUSTER_STATE=\"existing\"", added.Stdout);

        // Member 2 lists it once it has applied the change too.
        await TestEnvironment.WaitUntilAsync(
            async () => (await Etcdctl.RunAsync(cluster.Member(2).Endpoint, ["member", "list"])).Stdout.Contains($"{id:x}, unstarted, , {joinerSpec.PeerUrl}, , true"),
            TimeSpan.FromSeconds(10),
            "member 2 to list the unstarted learner");

        var joiner = await cluster.JoinAsync(joinerSpec with { Id = id });
        // The new member publishes its name once it has caught up with the membership.
        await TestEnvironment.WaitUntilAsync(async () =>
        {
            var list = await Etcdctl.RunAsync(cluster.Member(3).Endpoint, ["member", "list"]);
            return list.Stdout.Contains($"{id:x}, started, n4, {joinerSpec.PeerUrl}, http://127.0.0.1:{joinerSpec.ClientPort}, true");
        }, TimeSpan.FromSeconds(30), "the learner to start and publish its name");

        using (var channel = GrpcChannel.ForAddress(cluster.Member(2).Url))
        {
            var members = new Cluster.ClusterClient(channel);
            var promoted = await Retry(() => members.MemberPromoteAsync(new MemberPromoteRequest { ID = id }).ResponseAsync, "the learner to be promoted");
            Assert.False(promoted.Members.Single(m => m.ID == id).IsLearner);
            var removed = await Retry(() => members.MemberRemoveAsync(new MemberRemoveRequest { ID = 1 }).ResponseAsync, "member 1 to be removed");
            Assert.Equal([2UL, 3UL, id], removed.Members.Select(m => m.ID).Order());
        }

        // Member 1 is out of the cluster; with it stopped, three voters remain.
        await cluster.StopMemberAsync(1);
        await cluster.WaitForLeaderAsync();
        await Task.Delay(TimeSpan.FromSeconds(1));
        await stop.CancelAsync();
        await writing;
        Assert.NotEmpty(writer.Acknowledged);

        // Every acknowledged write is on the new member (a linearizable read through it).
        using (var channel = GrpcChannel.ForAddress(joiner.Url))
        {
            var kv = new KV.KVClient(channel);
            var all = await kv.RangeAsync(new RangeRequest { Key = ByteString.CopyFromUtf8("w/"), RangeEnd = ByteString.CopyFromUtf8("w0") });
            var stored = all.Kvs.ToDictionary(kv => kv.Key.ToStringUtf8(), kv => kv.Value.ToStringUtf8());
            foreach (var (key, value) in writer.Acknowledged)
            {
                Assert.Equal(value, stored.GetValueOrDefault(key));
            }
        }

        await cluster.PutAsync("last", "x");
        var hashes = new List<uint>();
        foreach (var member in cluster.Running.Values)
        {
            await TestEnvironment.WaitUntilAsync(async () => await InProcessCluster.ReadLocallyAsync(member, "last") == "x", TimeSpan.FromSeconds(10), "every member to apply the last write");
            using var channel = GrpcChannel.ForAddress(member.Url);
            hashes.Add((await new Maintenance.MaintenanceClient(channel).HashKVAsync(new HashKVRequest())).Hash);
        }

        Assert.Single(hashes.Distinct());
    }

    [Fact]
    public async Task Bad_membership_requests_get_etcds_errors_and_change_nothing()
    {
        await using var cluster = await InProcessCluster.StartAsync(3, log: output);
        await cluster.WaitForLeaderAsync();
        using var channel = GrpcChannel.ForAddress(cluster.Member(1).Url);
        var members = new Cluster.ClusterClient(channel);

        async Task Refused(Func<Task> call, StatusCode code, string message)
        {
            var error = await Assert.ThrowsAsync<RpcException>(call);
            Assert.Equal((code, message), (error.StatusCode, error.Status.Detail));
        }

        await Refused(() => members.MemberRemoveAsync(new MemberRemoveRequest { ID = 0xdead }).ResponseAsync, StatusCode.NotFound, "etcdserver: member not found");
        await Refused(() => members.MemberUpdateAsync(new MemberUpdateRequest { ID = 0xdead, PeerURLs = { "http://127.0.0.1:1" } }).ResponseAsync, StatusCode.NotFound, "etcdserver: member not found");
        await Refused(() => members.MemberPromoteAsync(new MemberPromoteRequest { ID = 2 }).ResponseAsync, StatusCode.FailedPrecondition, "etcdserver: can only promote a learner member");
        await Refused(() => members.MemberAddAsync(new MemberAddRequest { PeerURLs = { cluster.Spec(2).PeerUrl } }).ResponseAsync, StatusCode.FailedPrecondition, "etcdserver: Peer URLs already exists");
        await Refused(() => members.MemberAddAsync(new MemberAddRequest { PeerURLs = { "not a url" } }).ResponseAsync, StatusCode.InvalidArgument, "etcdserver: given member URLs are invalid");
        await Refused(() => members.MemberUpdateAsync(new MemberUpdateRequest { ID = 2, PeerURLs = { cluster.Spec(3).PeerUrl } }).ResponseAsync, StatusCode.FailedPrecondition, "etcdserver: Peer URLs already exists");

        // One learner at a time, as etcd 3.4; a learner that never started is not in sync.
        var learner = await members.MemberAddAsync(new MemberAddRequest { PeerURLs = { $"http://127.0.0.1:{TestEnvironment.FreePort()}" }, IsLearner = true });
        Assert.Equal("", learner.Member.Name);
        await Refused(() => members.MemberAddAsync(new MemberAddRequest { PeerURLs = { $"http://127.0.0.1:{TestEnvironment.FreePort()}" }, IsLearner = true }).ResponseAsync, StatusCode.FailedPrecondition, "etcdserver: too many learner members in cluster");
        await Refused(() => members.MemberPromoteAsync(new MemberPromoteRequest { ID = learner.Member.ID }).ResponseAsync, StatusCode.FailedPrecondition, "etcdserver: can only promote a learner member which is in sync with leader");

        // Removed ids are gone for good.
        await members.MemberRemoveAsync(new MemberRemoveRequest { ID = learner.Member.ID });
        await Refused(() => members.MemberRemoveAsync(new MemberRemoveRequest { ID = learner.Member.ID }).ResponseAsync, StatusCode.NotFound, "etcdserver: member not found");

        // Two voters added but never started: removing a started voter would leave 2 started of 4.
        var unstarted1 = await members.MemberAddAsync(new MemberAddRequest { PeerURLs = { $"http://127.0.0.1:{TestEnvironment.FreePort()}" } });
        var unstarted2 = await members.MemberAddAsync(new MemberAddRequest { PeerURLs = { $"http://127.0.0.1:{TestEnvironment.FreePort()}" } });
        await Refused(() => members.MemberRemoveAsync(new MemberRemoveRequest { ID = 3 }).ResponseAsync, StatusCode.FailedPrecondition, "etcdserver: re-configuration failed due to not enough started members");
        await members.MemberRemoveAsync(new MemberRemoveRequest { ID = unstarted1.Member.ID });
        await members.MemberRemoveAsync(new MemberRemoveRequest { ID = unstarted2.Member.ID });

        var list = await members.MemberListAsync(new MemberListRequest());
        Assert.Equal([1UL, 2UL, 3UL], list.Members.Select(m => m.ID).Order());
        await cluster.PutAsync("still", "writable");
    }

    /// <summary>
    /// etcd refuses to remove a member that is up when the members left up would be no quorum
    /// ("etcdserver: unhealthy cluster": the cluster would stop at once); a member that is down
    /// may be removed.
    /// </summary>
    [Fact]
    public async Task Removing_a_member_that_is_up_while_another_is_down_is_refused_as_etcd_refuses_it()
    {
        // etcd's election timing: a busy test machine then stalls no leader out of office.
        await using var cluster = await InProcessCluster.StartAsync(3, "actorkv.cluster.tick-interval = 100ms", log: output);
        var leader = await cluster.WaitForLeaderAsync();
        var down = cluster.Running.Keys.First(id => id != leader);
        await cluster.StopMemberAsync(down);

        // A member counts as up for etcd's health interval (5 s, counted in Raft ticks) after the
        // leader last heard it; ticks run late on a busy machine, hence the margin.
        await Task.Delay(TimeSpan.FromSeconds(8));
        foreach (var up in cluster.Running.Keys.ToList())
        {
            var error = await Assert.ThrowsAsync<RpcException>(() => RemoveThroughLeaderAsync(cluster, up));
            Assert.Equal((StatusCode.Unavailable, "etcdserver: unhealthy cluster"), (error.StatusCode, error.Status.Detail));
        }

        await RemoveThroughLeaderAsync(cluster, down);
        using var channel = GrpcChannel.ForAddress(cluster.Member(await cluster.WaitForLeaderAsync()).Url);
        var list = await new Cluster.ClusterClient(channel).MemberListAsync(new MemberListRequest());
        Assert.Equal(cluster.Running.Keys.Order(), list.Members.Select(m => m.ID).Order());
        await cluster.PutAsync("two", "members up of two");
    }

    /// <summary>
    /// A member removed while it was down never applies its removal: restarted, it learns it
    /// from the first member that turns its link probe away, and stops (etcd's members answer a
    /// removed member's stream with 410 Gone, and it stops on that). Its messages are dropped.
    /// </summary>
    [Fact]
    public async Task A_member_removed_while_down_stops_when_it_is_started_again()
    {
        await using var cluster = await InProcessCluster.StartAsync(3, "actorkv.cluster.peer-probe-interval = 200ms", log: output);
        var leader = await cluster.WaitForLeaderAsync();
        var removed = cluster.Running.Keys.First(id => id != leader);
        await cluster.StopMemberAsync(removed);
        await RemoveThroughLeaderAsync(cluster, removed);

        var restarted = await cluster.StartMemberAsync(removed);
        await restarted.Server.Node.System.WhenTerminated.WaitAsync(TimeSpan.FromSeconds(30));
        var reason = CoordinatedShutdown.Get(restarted.Server.Node.System).ShutdownReason;
        Assert.IsType<RemovedFromCluster>(reason);
        Assert.Contains($"Raft node {removed:x} was told by member", reason.ToString());
        Assert.Equal(0, reason.ExitCode);

        await cluster.StopMemberAsync(removed);
        await cluster.PutAsync("after", "two members");
    }

    /// <summary>MemberRemove through the current leader, asked again while an election makes it refuse for want of one.</summary>
    private static async Task RemoveThroughLeaderAsync(InProcessCluster cluster, ulong id)
    {
        for (var attempt = 1; ; attempt++)
        {
            using var channel = GrpcChannel.ForAddress(cluster.Member(await cluster.WaitForLeaderAsync()).Url);
            try
            {
                await new Cluster.ClusterClient(channel).MemberRemoveAsync(new MemberRemoveRequest { ID = id });
                return;
            }
            catch (RpcException error) when (attempt < 10 && error.Status.Detail is "etcdserver: no leader" or "etcdserver: not leader" or "etcdserver: leader changed")
            {
                await Task.Delay(500);
            }
        }
    }

    [Fact]
    public async Task A_change_that_reaches_the_leader_behind_others_is_checked_against_them_applied()
    {
        await using var cluster = await InProcessCluster.StartAsync(3, log: output);
        var leaderId = await cluster.WaitForLeaderAsync();
        var leader = cluster.Member(leaderId).Server.Node;
        var follower = leaderId % 3 + 1;

        // Each call hands its change to Raft before it returns, so they reach the leader in this
        // order. Alone, the removal would be allowed (2 started of 2); behind the two unstarted
        // voters it leaves 2 started of 4, as a leader that checked it against a membership
        // missing one of them (not applied yet) would not see.
        var add1 = leader.MemberAddAsync(new MemberAddRequest { PeerURLs = { $"http://127.0.0.1:{TestEnvironment.FreePort()}" } });
        var add2 = leader.MemberAddAsync(new MemberAddRequest { PeerURLs = { $"http://127.0.0.1:{TestEnvironment.FreePort()}" } });
        var remove = leader.MemberRemoveAsync(new MemberRemoveRequest { ID = follower });

        await add1;
        await add2;
        var error = await Assert.ThrowsAsync<RpcException>(() => remove);
        Assert.Equal((StatusCode.FailedPrecondition, "etcdserver: re-configuration failed due to not enough started members"), (error.StatusCode, error.Status.Detail));
        Assert.Equal(5, leader.MemberList().Members.Count);
    }

    [Fact]
    public async Task A_five_member_cluster_survives_two_failures_including_the_leader_and_stops_at_three()
    {
        await using var cluster = await InProcessCluster.StartAsync(5, log: output);
        var leader = await cluster.WaitForLeaderAsync();
        await cluster.PutAsync("before", "1");

        await cluster.StopMemberAsync(leader);
        await cluster.StopMemberAsync(leader % 5 + 1);
        await cluster.PutAsync("after-two", "2");
        await cluster.WaitForLeaderAsync();
        foreach (var member in cluster.Running.Values)
        {
            using var channel = GrpcChannel.ForAddress(member.Url);
            var read = await new KV.KVClient(channel).RangeAsync(new RangeRequest { Key = ByteString.CopyFromUtf8("after-two") }, deadline: DateTime.UtcNow.AddSeconds(10));
            Assert.Equal("2", read.Kvs.Single().Value.ToStringUtf8());
        }

        // A third failure leaves two of five: no quorum, so no write is acknowledged.
        await cluster.StopMemberAsync(cluster.Running.Keys.First());
        using (var channel = GrpcChannel.ForAddress(cluster.Running.Values.First().Url))
        {
            var error = await Assert.ThrowsAsync<RpcException>(() => new KV.KVClient(channel).PutAsync(new PutRequest { Key = ByteString.CopyFromUtf8("no-quorum"), Value = ByteString.CopyFromUtf8("x") }, deadline: DateTime.UtcNow.AddSeconds(15)).ResponseAsync);
            Assert.Equal((StatusCode.Unavailable, "etcdserver: request timed out"), (error.StatusCode, error.Status.Detail));
        }
    }

    [Fact]
    public async Task Removing_the_last_voter_is_refused_as_etcd_refuses_it()
    {
        await using var etcd = await EtcdServer.StartAsync();
        var etcdList = await Etcdctl.RunAsync(etcd.Endpoint, ["member", "list", "-w", "json"]);
        var etcdId = System.Text.Json.JsonDocument.Parse(etcdList.Stdout).RootElement.GetProperty("members")[0].GetProperty("ID").GetUInt64();
        var etcdRefusal = await Etcdctl.RunAsync(etcd.Endpoint, ["member", "remove", etcdId.ToString("x")]);

        await using var cluster = await InProcessCluster.StartAsync(1, log: output);
        await cluster.WaitForLeaderAsync();
        var refusal = await Etcdctl.RunAsync(cluster.Member(1).Endpoint, ["member", "remove", "1"]);

        // etcdctl logs a timestamped retry line first; its verdict is the "Error:" line.
        static string Verdict(Etcdctl.Result result) => result.Stderr.Split('\n').Single(line => line.StartsWith("Error:", StringComparison.Ordinal));
        Assert.Equal("Error: etcdserver: re-configuration failed due to not enough started members", Verdict(etcdRefusal));
        Assert.Equal((etcdRefusal.ExitCode, Verdict(etcdRefusal)), (refusal.ExitCode, Verdict(refusal)));
        await cluster.PutAsync("still", "writable");
    }

    [Fact]
    public async Task A_member_started_with_another_cluster_token_is_ignored_and_the_cluster_is_unharmed()
    {
        await using var cluster = await InProcessCluster.StartAsync(3, log: output);
        await cluster.WaitForLeaderAsync();
        // Member 3 comes back on its own data but configured for another cluster.
        await cluster.StopMemberAsync(3);
        var stranger = await cluster.StartMemberAsync(3, """actorkv.node.cluster-token = "another-cluster" """);

        // Members 1 and 2 go on without it; it never hears a leader of its own cluster.
        await cluster.PutAsync("a", "1");
        await Task.Delay(TimeSpan.FromSeconds(2));
        Assert.Equal(0UL, stranger.Server.Node.Raft.Lead);
        Assert.Null(await InProcessCluster.ReadLocallyAsync(stranger, "a"));
        using (var channel = GrpcChannel.ForAddress(stranger.Url))
        {
            var error = await Assert.ThrowsAsync<RpcException>(() => new KV.KVClient(channel).PutAsync(new PutRequest { Key = ByteString.CopyFromUtf8("b"), Value = ByteString.CopyFromUtf8("2") }, deadline: DateTime.UtcNow.AddSeconds(15)).ResponseAsync);
            Assert.Equal((StatusCode.Unavailable, "etcdserver: request timed out"), (error.StatusCode, error.Status.Detail));
        }

        await cluster.PutAsync("c", "3");
        var hashes = new List<uint>();
        foreach (var id in new ulong[] { 1, 2 })
        {
            await TestEnvironment.WaitUntilAsync(async () => await InProcessCluster.ReadLocallyAsync(cluster.Member(id), "c") == "3", TimeSpan.FromSeconds(10), "both members to apply c");
            using var channel = GrpcChannel.ForAddress(cluster.Member(id).Url);
            hashes.Add((await new Maintenance.MaintenanceClient(channel).HashKVAsync(new HashKVRequest())).Hash);
        }

        Assert.Single(hashes.Distinct());
    }
}
