using System.Text.RegularExpressions;
using ActorKv.Compat.Tests.Fixtures;
using Etcdserverpb;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;
using Xunit.Abstractions;

namespace ActorKv.Compat.Tests;

/// <summary>Leases against a real etcd, and expiry on one node and on a cluster.</summary>
public sealed partial class LeaseTests(ITestOutputHelper output)
{
    /// <summary>What depends on when the question is asked: the remaining TTL, in text and in JSON.</summary>
    [GeneratedRegex(@"remaining\(\d+s\)|""ttl"":\d+,""granted-ttl""")]
    private static partial Regex Remaining();

    /// <summary>The same lease ids on both (granted through gRPC), so etcdctl's output is comparable.</summary>
    private static readonly string[][] Script =
    [
        ["put", "--lease=1234", "k1", "v1"],
        ["put", "--lease=1234", "k2", "v2"],
        ["put", "--lease=5678", "k2", "moved"],
        ["put", "--lease=abcd", "k3", "v3"],
        ["lease", "timetolive", "1234", "--keys"],
        ["lease", "timetolive", "5678", "--keys", "-w", "json"],
        ["lease", "list"],
        ["lease", "keep-alive", "--once", "1234"],
        ["lease", "keep-alive", "--once", "abcd"],
        ["lease", "revoke", "1234"],
        ["get", "k", "--prefix", "-w", "json"],
        ["lease", "revoke", "1234"],
        ["lease", "timetolive", "1234"],
        ["lease", "grant", "9000000001"],
        ["put", "k2", "no-lease"],
        ["lease", "revoke", "5678"],
        ["get", "k", "--prefix"],
    ];

    private static async Task<List<string>> RunAsync(string endpoint, string url)
    {
        var transcript = new List<string>();
        using var channel = GrpcChannel.ForAddress(url);
        var leases = new Lease.LeaseClient(channel);
        foreach (var (id, ttl) in new[] { (0x1234L, 600L), (0x5678L, 600L), (0x9L, 0L), (0xaL, -5L) })
        {
            var granted = await leases.LeaseGrantAsync(new LeaseGrantRequest { ID = id, TTL = ttl });
            transcript.Add($"grant {id:x} {ttl}: id {granted.ID:x} ttl {granted.TTL} error '{granted.Error}'");
        }

        var duplicate = await Assert.ThrowsAsync<RpcException>(() => leases.LeaseGrantAsync(new LeaseGrantRequest { ID = 0x5678, TTL = 5 }).ResponseAsync);
        transcript.Add($"duplicate: {duplicate.StatusCode} {duplicate.Status.Detail}");
        var unknown = await leases.LeaseTimeToLiveAsync(new LeaseTimeToLiveRequest { ID = 0xdead });
        transcript.Add($"unknown ttl: {unknown.ID:x} {unknown.TTL} {unknown.GrantedTTL}");

        foreach (var command in Script)
        {
            var result = await Etcdctl.RunAsync(endpoint, command);
            transcript.Add($"etcdctl {string.Join(' ', command)}\n{Remaining().Replace(result.Normalized, "remaining")}");
        }

        return transcript;
    }

    [Fact]
    public async Task Leases_behave_as_against_etcd()
    {
        await using var etcd = await EtcdServer.StartAsync();
        await using var actorKv = await ActorKvInProcess.StartAsync(log: output);
        var expected = await RunAsync(etcd.Endpoint, etcd.Url);
        var actual = await RunAsync(actorKv.Endpoint, actorKv.Url);
        for (var i = 0; i < expected.Count; i++)
        {
            output.WriteLine(expected[i]);
            Assert.Equal(expected[i], actual[i]);
        }
    }

    private static async Task<string?> GetAsync(string url, string key)
    {
        using var channel = GrpcChannel.ForAddress(url);
        var response = await new KV.KVClient(channel).RangeAsync(new RangeRequest { Key = ByteString.CopyFromUtf8(key) }, deadline: DateTime.UtcNow.AddSeconds(10));
        return response.Kvs.SingleOrDefault()?.Value.ToStringUtf8();
    }

    private static async Task<long> GrantAndPutAsync(string url, long ttl, string key)
    {
        using var channel = GrpcChannel.ForAddress(url);
        return await GrantAndPutAsync(new Lease.LeaseClient(channel), new KV.KVClient(channel), ttl, key);
    }

    [Fact]
    public async Task A_key_of_an_expired_lease_is_gone_soon_after_and_a_kept_alive_lease_outlives_its_ttl()
    {
        await using var node = await ActorKvInProcess.StartAsync(log: output);
        using var channel = GrpcChannel.ForAddress(node.Url);
        var kv = new KV.KVClient(channel);
        var leaseClient = new Lease.LeaseClient(channel);

        // The keep-alive stream is open before the kept lease exists and renews it at once: on a CI
        // machine running other clusters on its two cores, a gap between grant and first renewal
        // longer than the TTL would expire the lease rightly (CI saw TTL 0 once).
        using var keepAlive = leaseClient.LeaseKeepAlive();
        var kept = await GrantAndPutAsync(leaseClient, kv, ttl: 3, "kept");
        var sinceKeptRenewed = System.Diagnostics.Stopwatch.StartNew();
        var longestGap = TimeSpan.Zero;
        var sinceGrant = System.Diagnostics.Stopwatch.StartNew();
        await GrantAndPutAsync(leaseClient, kv, ttl: 2, "short");

        TimeSpan? goneAfter = null;
        while (sinceGrant.Elapsed < TimeSpan.FromSeconds(6))
        {
            await keepAlive.RequestStream.WriteAsync(new LeaseKeepAliveRequest { ID = kept });
            Assert.True(await keepAlive.ResponseStream.MoveNext(CancellationToken.None));
            longestGap = longestGap > sinceKeptRenewed.Elapsed ? longestGap : sinceKeptRenewed.Elapsed;
            Assert.True(
                keepAlive.ResponseStream.Current.TTL == 3,
                $"kept lease answered TTL {keepAlive.ResponseStream.Current.TTL}; longest gap between renewals {longestGap.TotalMilliseconds:F0} ms");
            sinceKeptRenewed.Restart();
            if (goneAfter is null && (await kv.RangeAsync(new RangeRequest { Key = ByteString.CopyFromUtf8("short") }, deadline: DateTime.UtcNow.AddSeconds(10))).Kvs.Count == 0)
            {
                goneAfter = sinceGrant.Elapsed;
            }

            await Task.Delay(100);
        }

        // Never before the TTL; after it, within a sweep interval (0.5 s) plus the revoke's commit,
        // with slack for a CI machine running other clusters on its two cores.
        Assert.NotNull(goneAfter);
        Assert.InRange(goneAfter.Value, TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(2 + 0.5 + 2));
        output.WriteLine($"the key of a 2 s lease was gone {goneAfter.Value.TotalMilliseconds:F0} ms after the grant; longest gap between renewals of the kept 3 s lease {longestGap.TotalMilliseconds:F0} ms");
        Assert.Equal("v", await GetAsync(node.Url, "kept"));
        await keepAlive.RequestStream.CompleteAsync();
    }

    private static async Task<long> GrantAndPutAsync(Lease.LeaseClient leases, KV.KVClient kv, long ttl, string key)
    {
        var granted = await leases.LeaseGrantAsync(new LeaseGrantRequest { TTL = ttl }, deadline: DateTime.UtcNow.AddSeconds(10));
        await kv.PutAsync(new PutRequest { Key = ByteString.CopyFromUtf8(key), Value = ByteString.CopyFromUtf8("v"), Lease = granted.ID }, deadline: DateTime.UtcNow.AddSeconds(10));
        return granted.ID;
    }

    [Fact]
    public async Task On_a_cluster_followers_forward_keep_alives_and_a_killed_leader_does_not_keep_a_lease_alive()
    {
        await using var cluster = await InProcessCluster.StartAsync(3, log: output);
        var leader = await cluster.WaitForLeaderAsync();
        var follower = cluster.Member(leader % 3 + 1);

        // A 2 s lease granted through a follower and left alone: its key is gone on that follower
        // after the TTL, within a sweep interval plus the revoke's commit (slack as above).
        var sinceGrant = System.Diagnostics.Stopwatch.StartNew();
        await GrantAndPutAsync(follower.Url, ttl: 2, "short");
        while (await GetAsync(follower.Url, "short") is not null && sinceGrant.Elapsed < TimeSpan.FromSeconds(10))
        {
            await Task.Delay(50);
        }

        output.WriteLine($"on 3 members the key of a 2 s lease was gone from a follower {sinceGrant.Elapsed.TotalMilliseconds:F0} ms after the grant");
        Assert.InRange(sinceGrant.Elapsed, TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(2 + 0.5 + 2));

        var lease = await GrantAndPutAsync(follower.Url, ttl: 3, "leased");

        using (var channel = GrpcChannel.ForAddress(follower.Url))
        {
            var leases = new Lease.LeaseClient(channel);
            using var keepAlive = leases.LeaseKeepAlive();
            await keepAlive.RequestStream.WriteAsync(new LeaseKeepAliveRequest { ID = lease });
            Assert.True(await keepAlive.ResponseStream.MoveNext(CancellationToken.None));
            Assert.Equal((lease, 3L), (keepAlive.ResponseStream.Current.ID, keepAlive.ResponseStream.Current.TTL));
            await keepAlive.RequestStream.CompleteAsync();
            var timeToLive = await leases.LeaseTimeToLiveAsync(new LeaseTimeToLiveRequest { ID = lease, Keys = true });
            Assert.Equal((3L, "leased"), (timeToLive.GrantedTTL, timeToLive.Keys.Single().ToStringUtf8()));
            Assert.InRange(timeToLive.TTL, 1, 3);
        }

        // The leader dies before the lease expires: the next leader restarts the TTL and expires it.
        await cluster.StopMemberAsync(leader);
        await cluster.WaitForLeaderAsync();
        await TestEnvironment.WaitUntilAsync(async () => await GetAsync(follower.Url, "leased") is null, TimeSpan.FromSeconds(15), "the leased key to be deleted by the new leader");
        using (var channel = GrpcChannel.ForAddress(follower.Url))
        {
            var gone = await new Lease.LeaseClient(channel).LeaseTimeToLiveAsync(new LeaseTimeToLiveRequest { ID = lease });
            Assert.Equal(-1, gone.TTL);
        }
    }
}
