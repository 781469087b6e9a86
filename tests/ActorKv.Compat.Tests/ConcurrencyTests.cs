using System.Text.RegularExpressions;
using ActorKv.Compat.Tests.Fixtures;
using Etcdserverpb;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;
using V3electionpb;
using V3lockpb;
using Xunit.Abstractions;

namespace ActorKv.Compat.Tests;

/// <summary>The v3lock and v3election services and etcdctl lock, against a real etcd.</summary>
public sealed partial class ConcurrencyTests(ITestOutputHelper output)
{
    [GeneratedRegex("\"(clusterId|memberId|raftTerm)\": \"?\\d+\"?")]
    private static partial Regex MemberFields();

    private static string Show(IMessage message) => MemberFields().Replace(JsonFormatter.Default.Format(message), "\"$1\": 0");

    private static async Task<List<string>> SessionAsync(string url)
    {
        var transcript = new List<string>();
        using var channel = GrpcChannel.ForAddress(url);
        var leases = new Lease.LeaseClient(channel);
        await leases.LeaseGrantAsync(new LeaseGrantRequest { ID = 0x1111, TTL = 60 });
        await leases.LeaseGrantAsync(new LeaseGrantRequest { ID = 0x2222, TTL = 60 });
        var locks = new V3lockpb.Lock.LockClient(channel);
        var name = ByteString.CopyFromUtf8("lk");

        var first = await locks.LockAsync(new LockRequest { Name = name, Lease = 0x1111 });
        transcript.Add("lock 1: " + Show(first));
        var second = locks.LockAsync(new LockRequest { Name = name, Lease = 0x2222 }).ResponseAsync;
        await Task.Delay(500);
        transcript.Add($"second waits: {!second.IsCompleted}");
        transcript.Add("unlock 1: " + Show(await locks.UnlockAsync(new UnlockRequest { Key = first.Key })));
        transcript.Add("lock 2: " + Show(await second.WaitAsync(TimeSpan.FromSeconds(10))));

        var election = new Election.ElectionClient(channel);
        var electionName = ByteString.CopyFromUtf8("el");
        async Task Try(string what, Func<Task<IMessage>> call)
        {
            try
            {
                transcript.Add($"{what}: {Show(await call())}");
            }
            catch (RpcException error)
            {
                transcript.Add($"{what}: {error.StatusCode} {error.Status.Detail}");
            }
        }

        await Try("leader before", async () => await election.LeaderAsync(new LeaderRequest { Name = electionName }));
        var campaign = await election.CampaignAsync(new CampaignRequest { Name = electionName, Lease = 0x1111, Value = ByteString.CopyFromUtf8("a") });
        transcript.Add("campaign: " + Show(campaign));
        using var observe = election.Observe(new LeaderRequest { Name = electionName });
        Assert.True(await observe.ResponseStream.MoveNext(CancellationToken.None));
        transcript.Add("observed: " + Show(observe.ResponseStream.Current));
        await Try("proclaim", async () => await election.ProclaimAsync(new ProclaimRequest { Leader = campaign.Leader, Value = ByteString.CopyFromUtf8("b") }));
        Assert.True(await observe.ResponseStream.MoveNext(CancellationToken.None));
        transcript.Add("observed: " + Show(observe.ResponseStream.Current));
        await Try("leader", async () => await election.LeaderAsync(new LeaderRequest { Name = electionName }));
        var stale = campaign.Leader.Clone();
        stale.Rev++;
        await Try("proclaim stale", async () => await election.ProclaimAsync(new ProclaimRequest { Leader = stale, Value = ByteString.CopyFromUtf8("c") }));
        await Try("proclaim without leader", async () => await election.ProclaimAsync(new ProclaimRequest { Value = ByteString.CopyFromUtf8("c") }));
        var challenger = election.CampaignAsync(new CampaignRequest { Name = electionName, Lease = 0x2222, Value = ByteString.CopyFromUtf8("z") }).ResponseAsync;
        await Task.Delay(500);
        transcript.Add($"challenger waits: {!challenger.IsCompleted}");
        await Try("resign", async () => await election.ResignAsync(new ResignRequest { Leader = campaign.Leader }));
        transcript.Add("challenger: " + Show(await challenger.WaitAsync(TimeSpan.FromSeconds(10))));
        Assert.True(await observe.ResponseStream.MoveNext(CancellationToken.None));
        transcript.Add("observed: " + Show(observe.ResponseStream.Current));
        return transcript;
    }

    [Fact]
    public async Task Lock_and_election_services_answer_as_etcd_does()
    {
        await using var etcd = await EtcdServer.StartAsync();
        await using var actorKv = await ActorKvInProcess.StartAsync(log: output);
        var expected = await SessionAsync(etcd.Url);
        var actual = await SessionAsync(actorKv.Url);
        for (var i = 0; i < expected.Count; i++)
        {
            output.WriteLine(expected[i]);
            Assert.Equal(expected[i], actual[i]);
        }
    }

    [Fact]
    public async Task Etcdctl_lock_runs_a_command_while_holding_the_lock_and_a_second_waits_for_it()
    {
        await using var node = await ActorKvInProcess.StartAsync(log: output);
        var once = await Etcdctl.RunAsync(node.Endpoint, ["lock", "job", "--", "sh", "-c", "echo holding"]);
        Assert.Equal((0, "holding\n"), (once.ExitCode, once.Stdout));

        // The second etcdctl starts only once the first runs its command (holds the lock), so the
        // order of the two commands' lines is what the lock decides, not how fast etcdctl starts.
        var directory = TestEnvironment.TempDirectory("lock");
        try
        {
            var held = Path.Combine(directory, "held");
            var order = Path.Combine(directory, "order");
            var holder = Etcdctl.RunAsync(node.Endpoint, ["lock", "job", "--", "sh", "-c", $"echo first-start >> {order}; touch {held}; sleep 2; echo first-end >> {order}; echo first"]);
            await TestEnvironment.WaitUntilAsync(() => Task.FromResult(File.Exists(held) || holder.IsCompleted), TimeSpan.FromSeconds(20), "the first etcdctl holds the lock");
            var second = await Etcdctl.RunAsync(node.Endpoint, ["lock", "job", "--", "sh", "-c", $"echo second >> {order}; echo second"]);
            Assert.Equal((0, "second\n"), (second.ExitCode, second.Stdout));
            Assert.Equal((0, "first\n"), ((await holder).ExitCode, (await holder).Stdout));
            Assert.Equal("first-start\nfirst-end\nsecond\n", File.ReadAllText(order));
        }
        finally
        {
            TestEnvironment.DeleteDirectory(directory);
        }
    }
}
