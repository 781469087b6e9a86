using System.Net;
using System.Text.RegularExpressions;
using ActorKv.Compat.Tests.Fixtures;
using Xunit.Abstractions;

namespace ActorKv.Compat.Tests;

/// <summary>
/// /metrics as etcd serves it: the same names and types as real etcd 3.4's, counting what the
/// node did, over HTTP/1.1 on the metrics listener and HTTP/2 on the client port.
/// </summary>
public sealed class MetricsTests(ITestOutputHelper output)
{
    [Fact]
    public async Task A_node_serves_etcds_metrics_under_etcds_names_and_types_and_counts_its_commits()
    {
        var metricsPort = TestEnvironment.FreePort();
        await using var etcd = await EtcdServer.StartAsync();
        await using var node = await ActorKvInProcess.StartAsync($"actorkv.node.metrics-url = \"127.0.0.1:{metricsPort}\"", log: output);
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };

        var etcdTypes = TypeLines(await http.GetStringAsync(etcd.Url + "/metrics"));
        var before = await http.GetStringAsync($"http://127.0.0.1:{metricsPort}/metrics");
        var ourTypes = TypeLines(before);
        Assert.Contains("# TYPE etcd_disk_backend_commit_duration_seconds histogram", ourTypes);
        Assert.Contains("# TYPE etcd_disk_wal_fsync_duration_seconds histogram", ourTypes);
        Assert.Empty(ourTypes.Except(etcdTypes));

        await Etcdctl.RunAsync(node.Endpoint, ["put", "k", "v"]);
        var after = await http.GetStringAsync($"http://127.0.0.1:{metricsPort}/metrics");
        Assert.True(Value(after, "etcd_disk_backend_commit_duration_seconds_count") > Value(before, "etcd_disk_backend_commit_duration_seconds_count"));
        Assert.Equal(1, Value(after, "etcd_server_has_leader"));
        Assert.Equal(1, Value(after, "etcd_server_is_leader"));
        Assert.True(Value(after, "etcd_server_proposals_applied_total") > Value(before, "etcd_server_proposals_applied_total"));

        // The client port speaks HTTP/2 only (gRPC without TLS): /metrics is there too.
        var overHttp2 = new HttpRequestMessage(HttpMethod.Get, node.Url + "/metrics") { Version = HttpVersion.Version20, VersionPolicy = HttpVersionPolicy.RequestVersionExact };
        var response = await http.SendAsync(overHttp2);
        response.EnsureSuccessStatusCode();
        Assert.Contains("etcd_server_has_leader 1", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Each_member_counts_its_own_wal_syncs_and_knows_who_leads()
    {
        await using var cluster = await InProcessCluster.StartAsync(3, log: output);
        var leader = await cluster.WaitForLeaderAsync();
        var before = new Dictionary<ulong, string>();
        foreach (var (id, member) in cluster.Running)
        {
            before[id] = await ScrapeAsync(member);
        }

        for (var i = 0; i < 5; i++)
        {
            await cluster.PutAsync($"k{i}", "v");
        }

        // The followers' syncs and their state may trail the leader's answer by a moment.
        await TestEnvironment.WaitUntilAsync(async () =>
        {
            foreach (var (id, member) in cluster.Running)
            {
                var now = await ScrapeAsync(member);
                if (Value(now, "etcd_disk_wal_fsync_duration_seconds_count") < Value(before[id], "etcd_disk_wal_fsync_duration_seconds_count") + 1
                    || Value(now, "etcd_server_has_leader") != 1
                    || Value(now, "etcd_server_is_leader") != (id == leader ? 1 : 0))
                {
                    return false;
                }
            }

            return true;
        }, TimeSpan.FromSeconds(10), "every member to count WAL syncs and know the leader");
    }

    [Fact]
    public async Task Each_member_times_its_link_to_every_peer_under_etcds_round_trip_histogram()
    {
        await using var cluster = await InProcessCluster.StartAsync(3, "actorkv.cluster.peer-probe-interval = 100ms", log: output);
        await cluster.WaitForLeaderAsync();
        var ids = cluster.Running.Select(running => running.Key).ToList();
        string Count(ulong to) => $"etcd_network_peer_round_trip_time_seconds_count{{To=\"{to:x}\"}}";

        // Probes run whether or not there is traffic; each member times each of the two others.
        await TestEnvironment.WaitUntilAsync(async () =>
        {
            foreach (var (id, member) in cluster.Running)
            {
                var exposition = await ScrapeAsync(member);
                if (ids.Where(other => other != id).Any(other => (TryValue(exposition, Count(other)) ?? 0) < 3))
                {
                    return false;
                }
            }

            return true;
        }, TimeSpan.FromSeconds(10), "every member to time at least 3 probes to each peer");

        foreach (var (id, member) in cluster.Running)
        {
            var exposition = await ScrapeAsync(member);
            Assert.Contains("# TYPE etcd_network_peer_round_trip_time_seconds histogram", exposition);
            Assert.Null(TryValue(exposition, Count(id)));
            foreach (var other in ids.Where(other => other != id))
            {
                Assert.True(Value(exposition, $"etcd_network_peer_round_trip_time_seconds_sum{{To=\"{other:x}\"}}") > 0);
            }
        }
    }

    private static async Task<string> ScrapeAsync(ActorKvInProcess member)
    {
        using var text = new MemoryStream();
        await member.Server.Node.Metrics.Registry.CollectAndExportAsTextAsync(text);
        return System.Text.Encoding.UTF8.GetString(text.ToArray());
    }

    private static HashSet<string> TypeLines(string exposition) =>
        exposition.Split('\n').Where(line => line.StartsWith("# TYPE ", StringComparison.Ordinal)).Select(line => line.Trim()).ToHashSet();

    private static double Value(string exposition, string name) =>
        TryValue(exposition, name) ?? throw new Xunit.Sdk.XunitException($"{name} is not in the exposition");

    private static double? TryValue(string exposition, string name)
    {
        var match = Regex.Match(exposition, $"^{Regex.Escape(name)} (\\S+)$", RegexOptions.Multiline);
        return match.Success ? double.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture) : null;
    }
}
